// Test helpers for the source module: golden pgoutput files and a byte
// builder for hand-made (malformed) messages.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace sluice::source::testing {

// Reads tests/testdata/pgoutput/<name>.hex: one message per line in hex,
// '#' starts a comment.
inline std::vector<std::string> LoadGolden(const std::string& name) {
  std::ifstream in(std::string(SLUICE_TESTDATA_DIR) + "/pgoutput/" + name + ".hex");
  EXPECT_TRUE(in.good()) << "missing golden file " << name;
  std::vector<std::string> messages;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (line.empty()) continue;
    std::string bytes;
    for (size_t i = 0; i + 1 < line.size(); i += 2) {
      bytes.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
    }
    messages.push_back(std::move(bytes));
  }
  return messages;
}

// Big-endian message builder.
class Bytes {
 public:
  Bytes& U8(uint8_t v) {
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  Bytes& Char(char c) {
    s_.push_back(c);
    return *this;
  }
  Bytes& U16(uint16_t v) { return U8(v >> 8).U8(v & 0xff); }
  Bytes& U32(uint32_t v) { return U16(v >> 16).U16(v & 0xffff); }
  Bytes& U64(uint64_t v) { return U32(v >> 32).U32(v & 0xffffffffu); }
  Bytes& Str(const std::string& v) {
    s_.append(v);
    s_.push_back('\0');
    return *this;
  }
  Bytes& Raw(const std::string& v) {
    s_.append(v);
    return *this;
  }
  Bytes& Text(const std::string& v) {
    return Char('t').U32(static_cast<uint32_t>(v.size())).Raw(v);
  }
  const std::string& str() const { return s_; }
  operator std::string() const { return s_; }  // NOLINT

 private:
  std::string s_;
};

}  // namespace sluice::source::testing
