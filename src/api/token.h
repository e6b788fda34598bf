// The API's bearer token (docs/api.md, "Token").
//
// Why here and not in the server: `sluice run` and the CLI must agree on the
// token without talking to each other, so both resolve it the same way from
// the same config: api.token, else $SLUICE_API_TOKEN, else the file
// <data_dir>/api-token, which `sluice run` creates at first start (32 random
// bytes as hex, mode 0600, written to a temporary file and renamed).
//
// Errors (kIo) name the file; a token file that is empty or holds anything
// but one line of printable ASCII is refused, not trimmed into something else.
#pragma once

#include <filesystem>
#include <string>

#include "base/result.h"
#include "base/secret.h"
#include "config/settings.h"

namespace sluice::api {

inline constexpr const char* kTokenFileName = "api-token";
inline constexpr const char* kTokenEnvVar = "SLUICE_API_TOKEN";

struct ResolvedToken {
  Secret token;
  // Where it came from, for a log line: "config api.token",
  // "environment SLUICE_API_TOKEN" or the file's path. Never the token.
  std::string source;
  bool created = false;  // the file was written now
};

// create: write <data_dir>/api-token when no token is configured and the file
// does not exist (sluice run). Without it a missing file is kNotFound saying
// where the token is looked for (the CLI).
Result<ResolvedToken> ResolveApiToken(const config::Settings& settings, bool create);

// Constant-time comparison of a presented token with the expected one.
bool TokenMatches(const Secret& expected, std::string_view presented);

}  // namespace sluice::api
