// Byte encodings and digests used across modules (OpenSSL underneath).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice {

std::string Base64Encode(std::string_view bytes);
// Appends base64 of `bytes` to `out` (no allocation beyond growth of out).
void Base64Append(std::string_view bytes, std::string* out);
std::optional<std::string> Base64Decode(std::string_view text);

std::string HexLower(std::string_view bytes);
std::string Md5Hex(std::string_view bytes);
std::string Sha256Hex(std::string_view bytes);
// Raw 32-byte HMAC-SHA256.
std::string HmacSha256(std::string_view key, std::string_view data);

}  // namespace sluice
