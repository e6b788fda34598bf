// Result<T>: expected failures as values (see STYLE.md "Errors").
//
// An Error carries a code a caller can branch on, a message a user can act on,
// and optional context (config key and line, table, message id). Exceptions are
// reserved for startup misconfiguration and bugs.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace sluice {

enum class ErrorCode {
  kInvalidArgument,  // bad input: config value, malformed bytes, bad ARN
  kConfig,           // config file problems (YAML, unknown key, missing value)
  kIo,               // filesystem
  kNetwork,          // connect/read/write failure, connection dropped
  kTimeout,          // an operation exceeded its deadline
  kProtocol,         // peer sent something we do not understand
  kPostgres,         // Postgres reported an error
  kAws,              // AWS reported an error (see message for the AWS code)
  kAuth,             // credentials missing, rejected or expired
  kNotFound,
  kUnavailable,  // service not ready (stream CREATING, throttled)
  kInternal,     // a bug
};

const char* ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is prefixed by `context: `.
  Error WithContext(const std::string& context) const {
    return Error(code_, context + ": " + message_);
  }

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), has_error_(true) {}  // NOLINT

  bool ok() const { return !has_error_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const {
    assert(!ok());
    return error_;
  }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool has_error_ = false;
};

using Status = Result<void>;

inline Status OkStatus() { return Status(); }

}  // namespace sluice

// Propagates an error from an expression returning Result<...>.
#define SLUICE_RETURN_IF_ERROR(expr)   \
  do {                                 \
    auto _st = (expr);                 \
    if (!_st.ok()) return _st.error(); \
  } while (0)

#define SLUICE_CONCAT_INNER(a, b) a##b
#define SLUICE_CONCAT(a, b) SLUICE_CONCAT_INNER(a, b)
#define SLUICE_ASSIGN_OR_RETURN(lhs, expr)                                                 \
  auto SLUICE_CONCAT(_res_, __LINE__) = (expr);                                            \
  if (!SLUICE_CONCAT(_res_, __LINE__).ok()) return SLUICE_CONCAT(_res_, __LINE__).error(); \
  lhs = std::move(SLUICE_CONCAT(_res_, __LINE__)).value()
