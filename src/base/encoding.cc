#include "base/encoding.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>
#include <memory>

namespace sluice {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Fetched once: OpenSSL 3 looks an algorithm up in its provider tables at
// every call that names it by EVP_sha256() and friends (a third of a short
// digest's cost, and most of an HMAC's).
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
const EVP_MD* Md5Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return md;
}

std::string Digest(const EVP_MD* md, std::string_view bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &len, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

// An HMAC-SHA256 context for this thread, its digest set once; null if
// OpenSSL could not make one.
EVP_MAC_CTX* ThreadHmacContext() {
  struct Owned {
    EVP_MAC_CTX* ctx = nullptr;
    Owned() {
      EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
      if (mac == nullptr) return;
      ctx = EVP_MAC_CTX_new(mac);
      EVP_MAC_free(mac);  // the context holds its own reference
      char digest_name[] = "SHA256";
      const OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
          OSSL_PARAM_construct_end()};
      if (ctx != nullptr && EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = nullptr;
      }
    }
    ~Owned() { EVP_MAC_CTX_free(ctx); }
  };
  thread_local Owned owned;
  return owned.ctx;
}

}  // namespace

void Base64Append(std::string_view in, std::string* out) {
  // Two output characters per 12 input bits from one table: half the lookups
  // and stores of a character-at-a-time loop (PutRecords bodies are mostly
  // base64, so this is on every record's path).
  static const auto kPairs = [] {
    std::array<std::array<char, 2>, 4096> t{};
    for (size_t i = 0; i < t.size(); ++i) t[i] = {kB64[i >> 6], kB64[i & 63]};
    return t;
  }();
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size();
  size_t start = out->size();
  out->resize(start + (n + 2) / 3 * 4);
  char* o = out->data() + start;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
    std::memcpy(o, kPairs[v >> 12].data(), 2);
    std::memcpy(o + 2, kPairs[v & 4095].data(), 2);
    o += 4;
  }
  if (i < n) {
    uint32_t v = uint32_t(p[i]) << 16;
    if (i + 1 < n) v |= uint32_t(p[i + 1]) << 8;
    *o++ = kB64[(v >> 18) & 63];
    *o++ = kB64[(v >> 12) & 63];
    *o++ = (i + 1 < n) ? kB64[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  Base64Append(bytes, &out);
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return std::nullopt;
        v[k] = val(c);
        if (v[k] < 0) return std::nullopt;
      }
    }
    uint32_t x = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | v[3];
    out.push_back(static_cast<char>((x >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((x >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(x & 0xff));
  }
  return out;
}

std::string HexLower(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string Md5Hex(std::string_view bytes) { return HexLower(Digest(Md5Md(), bytes)); }
std::string Sha256Hex(std::string_view bytes) { return HexLower(Digest(Sha256Md(), bytes)); }

std::string HmacSha256(std::string_view key, std::string_view data) {
  // Re-keys this thread's context (OpenSSL 3 would otherwise look the
  // algorithms up on every call). A null key pointer would mean "the previous
  // key" to EVP_MAC_init, so an empty key is passed as a non-null pointer.
  static const unsigned char kNoKey[1] = {0};
  const auto* key_bytes = key.empty() ? kNoKey : reinterpret_cast<const unsigned char*>(key.data());
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  EVP_MAC_CTX* ctx = ThreadHmacContext();
  // Empty if OpenSSL fails: a request signed with it is refused, loudly.
  if (ctx == nullptr || EVP_MAC_init(ctx, key_bytes, key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out, &len, sizeof out) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace sluice
