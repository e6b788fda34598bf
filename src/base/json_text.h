// JSON string writing and UTF-8 checks, shared by the message encoder, the
// PutRecords body builder and the Lua value mapping. Append-only: no
// allocation beyond growth of `out`.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice {

// Appends `text` as a JSON string literal (with quotes). Escapes '"', '\\'
// and control characters (\n, \t, ... or \u00XX); well-formed UTF-8 is copied
// unchanged; a byte that starts no well-formed sequence becomes U+FFFD, so the
// output is always valid JSON (a SQL_ASCII database can hold any bytes).
void AppendJsonString(std::string_view text, std::string* out);

// Length of the well-formed UTF-8 sequence starting at text[i] (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF), or 0 if there is none.
size_t Utf8SequenceLength(std::string_view text, size_t i);

bool IsValidUtf8(std::string_view text);

}  // namespace sluice
