// Small JSON text primitives shared by the message encoder: string escaping
// and number validation. Append-only, no allocation beyond growth of `out`.
#pragma once

#include <string>
#include <string_view>

namespace sluice::model {

// Appends `text` as a JSON string literal (with quotes). Escapes '"', '\\'
// and control characters (\n, \t, ... or \u00XX); every other byte, including
// UTF-8 sequences, is copied unchanged.
void AppendJsonString(std::string_view text, std::string* out);

// True when `text` is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view text);

}  // namespace sluice::model
