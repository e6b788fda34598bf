// JSON number validation for the message encoder. String writing lives in
// base/json_text.h (shared with the PutRecords builder and the Lua mapping).
#pragma once

#include <string_view>

#include "base/json_text.h"

namespace sluice::model {

// True when `text` is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view text);

}  // namespace sluice::model
