// ${VAR} substitution in config string values (SPEC §1).
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "config/environment.h"

namespace sluice::config {

// Replaces, left to right:
//   ${NAME}           the variable's value; an error if NAME is not set
//   ${NAME:-default}  the value, or `default` when NAME is unset or empty
//   $$                a literal '$'
// NAME is [A-Za-z_][A-Za-z0-9_]*. A '$' followed by anything else is kept.
// Substituted text is not scanned again. Error messages name the variable,
// never a value (values are often secrets). Pure.
Result<std::string> SubstituteVariables(std::string_view text, const Environment& env);

}  // namespace sluice::config
