#include "source/pg_failure.h"

#include <string_view>

namespace sluice::source {
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

struct TextRule {
  std::string_view text;  // a fragment of the server's or libpq's message
  ErrorCode code;
};

// Message texts of PostgreSQL 10-17 (src/backend/.../postmaster.c, auth.c,
// postinit.c, walsender.c) and libpq. The first matching rule wins, so the
// more specific texts come first.
constexpr TextRule kConnectRules[] = {
    // 57P03 cannot_connect_now: "the database system is starting up",
    // "... is shutting down", "... is in recovery mode", "... is not yet
    // accepting connections", "... is not accepting connections".
    {"the database system is ", ErrorCode::kUnavailable},
    // 53300 too_many_connections.
    {"sorry, too many clients already", ErrorCode::kUnavailable},
    {"remaining connection slots are reserved", ErrorCode::kUnavailable},
    {"too many connections for ", ErrorCode::kUnavailable},  // role / database
    {"number of requested standby connections exceeds", ErrorCode::kUnavailable},
    // 53000 / 53200: the postmaster could not start a backend.
    {"could not fork new process for connection", ErrorCode::kUnavailable},
    {"out of memory", ErrorCode::kUnavailable},
    // 57P01 admin_shutdown ("... due to administrator command"), 57P02
    // crash_shutdown ("... because of crash of another server process").
    {"terminating connection due to ", ErrorCode::kUnavailable},
    {"terminating connection because of crash", ErrorCode::kUnavailable},
    // Class 28 and 42501: a human must fix the role, password or pg_hba.conf.
    {"authentication failed", ErrorCode::kAuth},  // password, ident, peer, ldap, cert...
    {"no password supplied", ErrorCode::kAuth},
    {"no pg_hba.conf entry", ErrorCode::kAuth},
    {"pg_hba.conf rejects connection", ErrorCode::kAuth},
    {"is not permitted to log in", ErrorCode::kAuth},  // NOLOGIN
    {"replication role", ErrorCode::kAuth},            // "must be superuser or replication role"
    {"start WAL sender", ErrorCode::kAuth},
    {"start walsender", ErrorCode::kAuth},
    {"permission denied", ErrorCode::kAuth},  // "permission denied for database"
    // Settings on either side that no retry changes.
    {"server does not support SSL", ErrorCode::kConfig},
    {"invalid sslmode value", ErrorCode::kConfig},
    {"unsupported frontend protocol", ErrorCode::kConfig},
};

}  // namespace

ErrorCode ClassifyConnectFailure(std::string_view message) {
  for (const TextRule& rule : kConnectRules) {
    if (Contains(message, rule.text)) return rule.code;
  }
  // 3D000 `database "x" does not exist`; 28000 `role "x" does not exist`.
  if (Contains(message, "does not exist")) {
    if (Contains(message, "FATAL:  database \"")) return ErrorCode::kNotFound;
    if (Contains(message, "FATAL:  role \"")) return ErrorCode::kAuth;
  }
  // Any other refusal by the server, e.g. 55000 `database "x" is not currently
  // accepting connections` (ALLOW_CONNECTIONS false) or a translated message.
  if (Contains(message, "FATAL:") || Contains(message, "ERROR:") || Contains(message, "PANIC:")) {
    return ErrorCode::kPostgres;
  }
  // libpq's own: connection refused, timeout expired, could not translate host
  // name, server closed the connection unexpectedly, SSL SYSCALL error...
  return ErrorCode::kNetwork;
}

ErrorCode ClassifyServerError(std::string_view sqlstate, std::string_view message,
                              bool connection_lost) {
  const std::string_view cls = sqlstate.substr(0, 2);
  if (sqlstate == "42501" || cls == "28") return ErrorCode::kAuth;
  if (sqlstate == "3D000" || sqlstate == "42704" || sqlstate == "57P04") {
    return ErrorCode::kNotFound;  // database, object (slot, publication), database dropped
  }
  if (sqlstate == "0A000") return ErrorCode::kConfig;  // feature_not_supported
  if (sqlstate == "55000") {  // object_not_in_prerequisite_state: depends on what
    if (Contains(message, "while in recovery")) return ErrorCode::kUnavailable;  // standby
    if (Contains(message, "wal_level") || Contains(message, "invalidated") ||
        Contains(message, "can no longer get changes") ||
        Contains(message, "was not created in this database")) {
      return ErrorCode::kConfig;
    }
  }
  if (cls == "57" || cls == "40" || sqlstate == "55006" || sqlstate == "55P03") {
    return ErrorCode::kUnavailable;
  }
  // 53400 configuration_limit_exceeded ("all replication slots are in use")
  // needs a setting changed or a slot dropped; the rest of class 53 passes.
  if (cls == "53" && sqlstate != "53400") return ErrorCode::kUnavailable;
  if (connection_lost || sqlstate.empty() || cls == "08") return ErrorCode::kNetwork;
  return ErrorCode::kPostgres;
}

Recovery RecoveryFor(ErrorCode code, SessionHistory history, FirstConnect first_connect) {
  const bool has_streamed = history == SessionHistory::kHasStreamed;
  switch (code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout: return Recovery::kRetry;
    case ErrorCode::kNetwork:
      return has_streamed || first_connect == FirstConnect::kRetry ? Recovery::kRetry
                                                                   : Recovery::kFail;
    case ErrorCode::kPostgres: return has_streamed ? Recovery::kRetry : Recovery::kFail;
    default: return Recovery::kFail;
  }
}

}  // namespace sluice::source
