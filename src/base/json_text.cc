#include "base/json_text.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace sluice {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// 0: copy as is; 'u': \u00XX; 'x': non-ASCII, check the UTF-8 sequence;
// anything else: the character after '\'.
constexpr std::array<char, 256> MakeEscapeTable() {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 'u';
  for (int c = 0x80; c < 0x100; ++c) t[c] = 'x';
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

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  const size_t left = text.size() - i;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && IsContinuation(byte(i + 1)) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !IsContinuation(byte(i + 1)) || !IsContinuation(byte(i + 2))) return 0;
    if (c == 0xE0 && byte(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && byte(i + 1) >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !IsContinuation(byte(i + 1)) || !IsContinuation(byte(i + 2)) ||
        !IsContinuation(byte(i + 3)))
      return 0;
    if (c == 0xF0 && byte(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && byte(i + 1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void AppendJsonString(std::string_view text, std::string* out) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  const char* p = begin;
  while (p != end && kEscape[static_cast<uint8_t>(*p)] == 0) ++p;
  const size_t start = out->size();
  if (p == end) {
    // Common case, plain ASCII with nothing to escape: one growth step, one copy.
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
  while (p != end) {
    const char e = kEscape[static_cast<uint8_t>(*p)];
    if (e == 0) {
      ++p;
      continue;
    }
    if (e == 'x') {
      const size_t n = Utf8SequenceLength(text, static_cast<size_t>(p - begin));
      if (n != 0) {
        p += n;
        continue;
      }
      out->append(run, p);
      out->append(kReplacementCharacter);
    } else {
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
    }
    ++p;
    run = p;
  }
  out->append(run, end);
  out->push_back('"');
}

}  // namespace sluice
