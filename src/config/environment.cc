#include "config/environment.h"

#include <cstdlib>

namespace sluice::config {

Environment Environment::Process() {
  return Environment([](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

Environment Environment::Empty() {
  return Environment([](const std::string&) -> std::optional<std::string> { return std::nullopt; });
}

Environment Environment::FromMap(std::map<std::string, std::string> vars) {
  return Environment(
      [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
      });
}

}  // namespace sluice::config
