#include "model/json_text.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace sluice::model {
namespace {

// 0: copy as is; 'u': \u00XX; anything else: the character after '\'.
constexpr std::array<char, 256> MakeEscapeTable() {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 'u';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}
constexpr std::array<char, 256> kEscape = MakeEscapeTable();
constexpr char kHex[] = "0123456789abcdef";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

void AppendJsonString(std::string_view text, std::string* out) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  const char* p = begin;
  while (p != end && kEscape[static_cast<uint8_t>(*p)] == 0) ++p;
  const size_t start = out->size();
  if (p == end) {
    // Common case, nothing to escape: one growth step and one copy.
    out->resize(start + text.size() + 2);
    char* o = out->data() + start;
    o[0] = '"';
    if (!text.empty()) std::memcpy(o + 1, begin, text.size());
    o[text.size() + 1] = '"';
    return;
  }
  out->reserve(start + text.size() + 16);
  out->push_back('"');
  const char* run = begin;
  for (; p != end; ++p) {
    const char e = kEscape[static_cast<uint8_t>(*p)];
    if (e == 0) continue;
    out->append(run, p);
    if (e == 'u') {
      const char u[6] = {'\\',
                         'u',
                         '0',
                         '0',
                         kHex[(static_cast<uint8_t>(*p) >> 4) & 0xf],
                         kHex[static_cast<uint8_t>(*p) & 0xf]};
      out->append(u, 6);
    } else {
      const char s[2] = {'\\', e};
      out->append(s, 2);
    }
    run = p + 1;
  }
  out->append(run, end);
  out->push_back('"');
}

bool IsJsonNumber(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  if (i < n && text[i] == '-') ++i;
  if (i >= n) return false;
  if (text[i] == '0') {
    ++i;
  } else if (IsDigit(text[i])) {
    while (i < n && IsDigit(text[i])) ++i;
  } else {
    return false;
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (i >= n || !IsDigit(text[i])) return false;
    while (i < n && IsDigit(text[i])) ++i;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    if (i >= n || !IsDigit(text[i])) return false;
    while (i < n && IsDigit(text[i])) ++i;
  }
  return i == n;
}

}  // namespace sluice::model
