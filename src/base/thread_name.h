// Names the calling thread as `top -H`, perf and /proc/<pid>/task/*/comm show
// it ("send:orders", "source:app"). Linux keeps 15 bytes; longer names are cut.
#pragma once

#include <string_view>

namespace sluice {

void NameThisThread(std::string_view name);

}  // namespace sluice
