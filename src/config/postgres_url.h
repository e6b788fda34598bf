// postgres:// and postgresql:// connection URLs (the libpq URI form).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/secret.h"

namespace sluice::config {

struct PostgresUrl {
  std::string host;         // empty when the URL has none
  std::optional<int> port;  // nullopt when the URL has none
  std::string database;     // empty when the URL has none
  std::string username;     // empty when the URL has none
  Secret password;
  std::string sslmode;  // empty when not given
};

// Parses postgres[ql]://[user[:password]@]host[:port][/database][?sslmode=...].
// User, password, host and database are percent-decoded; an IPv6 host is
// written in brackets. The only query parameter accepted is sslmode
// (disable|allow|prefer|require|verify-ca|verify-full); any other is an error
// naming it. Several hosts (host1,host2) are not supported. Error messages
// never contain the URL or any part of the userinfo. Pure.
Result<PostgresUrl> ParsePostgresUrl(std::string_view url);

// True for the sslmode values libpq accepts.
bool IsValidSslMode(std::string_view mode);

}  // namespace sluice::config
