// Secret: a string that must never reach a log, an error message or the API.
// Formatting it (ostream or fmt) prints "***"; only Reveal() gives the value,
// and call sites of Reveal() are the places to audit.
#pragma once

#include <ostream>
#include <string>
#include <utility>

namespace sluice {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  const std::string& Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

  friend std::ostream& operator<<(std::ostream& os, const Secret&) { return os << "***"; }
  bool operator==(const Secret&) const = default;

 private:
  std::string value_;
};

}  // namespace sluice
