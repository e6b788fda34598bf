// Loading sluice.yaml into validated Settings (SPEC §1).
//
// The loader parses the YAML, substitutes ${VAR} / ${VAR:-default} in every
// scalar except function `code`, rejects unknown and duplicate keys, applies
// defaults, validates every value and the references between sections, and
// reads function `file`s. On failure the Error (code kConfig, or kIo when the
// config file cannot be read) lists every problem found, one per line, as
//   <source>:<line>: <key path>: <what is wrong>
// e.g. "sluice.yaml:14: sinks[0].batch_size: must be between 1 and 500, got 501".
// No message ever contains the value of a secret (passwords, secret keys,
// session tokens, the API token, a database URL).
#pragma once

#include <string>

#include "base/result.h"
#include "config/environment.h"
#include "config/settings.h"

namespace sluice::config {

// Reads and loads the file at `path`. Relative function `file`s are resolved
// against the directory of `path`. Settings::config_path is `path`.
Result<Settings> LoadSettingsFromFile(const std::string& path, const Environment& env);

// Loads `yaml`. `source_name` prefixes error messages and becomes
// Settings::config_path; relative function `file`s are resolved against
// `base_dir`. Never throws; any input gives Settings or an Error.
Result<Settings> LoadSettingsFromString(const std::string& yaml, const std::string& source_name,
                                        const std::string& base_dir, const Environment& env);

}  // namespace sluice::config
