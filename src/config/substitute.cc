#include "config/substitute.h"

namespace sluice::config {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

}  // namespace

Result<std::string> SubstituteVariables(std::string_view text, const Environment& env) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (text[i + 1] == '$') {
      out.push_back('$');
      i += 2;
      continue;
    }
    if (text[i + 1] != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return Error(ErrorCode::kConfig,
                   "unterminated \"${\" (expected ${NAME} or ${NAME:-default})");
    }
    std::string_view inner = text.substr(i + 2, close - (i + 2));
    size_t name_end = 0;
    while (name_end < inner.size() && IsNameChar(inner[name_end])) ++name_end;
    std::string name(inner.substr(0, name_end));
    if (name.empty() || !IsNameStart(name[0])) {
      return Error(ErrorCode::kConfig,
                   "invalid variable reference: a name must start with a letter or '_' "
                   "(expected ${NAME} or ${NAME:-default})");
    }
    std::string_view rest = inner.substr(name_end);
    std::optional<std::string> value = env.Get(name);
    if (rest.empty()) {
      if (!value) {
        return Error(ErrorCode::kConfig, "environment variable " + name + " is not set (write ${" +
                                             name + ":-default} to give a default)");
      }
      out += *value;
    } else if (rest.substr(0, 2) == ":-") {
      if (value && !value->empty()) {
        out += *value;
      } else {
        out += rest.substr(2);
      }
    } else {
      return Error(ErrorCode::kConfig, "invalid variable reference to " + name +
                                           " (expected ${NAME} or ${NAME:-default})");
    }
    i = close + 1;
  }
  return out;
}

}  // namespace sluice::config
