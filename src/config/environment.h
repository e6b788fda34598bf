// Environment: where ${VAR} references in sluice.yaml are looked up.
//
// Why: the loader must not read the process environment directly, so tests
// (and the fuzz target) can hand it a fixed set of variables. Process() is the
// production instance. Thread-safe if the lookup function is.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace sluice::config {

class Environment {
 public:
  // Returns the variable's value, or nullopt when it is not set.
  using Lookup = std::function<std::optional<std::string>(const std::string& name)>;

  explicit Environment(Lookup lookup) : lookup_(std::move(lookup)) {}

  // The process environment (getenv).
  static Environment Process();
  // No variable is set.
  static Environment Empty();
  // Exactly the given variables.
  static Environment FromMap(std::map<std::string, std::string> vars);

  std::optional<std::string> Get(const std::string& name) const { return lookup_(name); }

 private:
  Lookup lookup_;
};

}  // namespace sluice::config
