// Lsn: a PostgreSQL WAL position. A strong type so it is never mixed up with
// counts or sizes.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }
  constexpr bool IsZero() const { return value_ == 0; }

  // Postgres text form: upper/lower 32 bits in hex, "16/B374D848".
  std::string ToString() const;
  static std::optional<Lsn> Parse(std::string_view text);

  constexpr auto operator<=>(const Lsn&) const = default;

 private:
  uint64_t value_ = 0;
};

}  // namespace sluice
