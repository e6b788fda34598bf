// Fuzz target: any bytes given to the config loader yield Settings or an
// Error, never a crash, hang or sanitizer report. No environment variable is
// set and function files resolve against a directory that does not exist, so
// the target touches no real file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sluice::config::Environment kEmpty = sluice::config::Environment::Empty();
  std::string yaml(reinterpret_cast<const char*>(data), size);
  auto result = sluice::config::LoadSettingsFromString(yaml, "fuzz.yaml",
                                                       "/nonexistent-sluice-fuzz-dir", kEmpty);
  if (!result.ok() && result.error().message().empty())
    __builtin_trap();  // every error explains itself
  return 0;
}
