#include "source/pg_failure.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::source {
namespace {

// libpq (PostgreSQL 14+) prefixes every connection failure like this.
std::string Fatal(const std::string& text) {
  return "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  " + text + "\n";
}

struct ConnectCase {
  std::string message;
  ErrorCode code;
};

void ExpectConnect(const std::vector<ConnectCase>& cases) {
  for (const ConnectCase& c : cases) {
    EXPECT_EQ(ClassifyConnectFailure(c.message), c.code)
        << c.message << " -> " << ErrorCodeName(ClassifyConnectFailure(c.message));
  }
}

TEST(ClassifyConnectFailure, NoServerAnsweringIsNetwork) {
  ExpectConnect({
      {"connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\n\tIs the "
       "server running on that host and accepting TCP/IP connections?\n",
       ErrorCode::kNetwork},
      {"could not connect to server: Connection refused\n", ErrorCode::kNetwork},  // libpq < 14
      {"connection to server at \"10.0.0.9\", port 5432 failed: timeout expired\n",
       ErrorCode::kNetwork},
      {"could not translate host name \"db.internal\" to address: Name or service not known\n",
       ErrorCode::kNetwork},
      {"connection to server at \"10.0.0.9\", port 5432 failed: No route to host\n",
       ErrorCode::kNetwork},
      {"server closed the connection unexpectedly\n\tThis probably means the server terminated "
       "abnormally\n\tbefore or while processing the request.\n",
       ErrorCode::kNetwork},
      {"SSL SYSCALL error: EOF detected\n", ErrorCode::kNetwork},
  });
}

TEST(ClassifyConnectFailure, ServerThatCannotServeNowIsUnavailable) {
  ExpectConnect({
      // 57P03 cannot_connect_now
      {Fatal("the database system is starting up"), ErrorCode::kUnavailable},
      {Fatal("the database system is shutting down"), ErrorCode::kUnavailable},
      {Fatal("the database system is in recovery mode"), ErrorCode::kUnavailable},
      {Fatal("the database system is not yet accepting connections\nDETAIL:  Consistent "
             "recovery state has not been yet reached."),
       ErrorCode::kUnavailable},
      {Fatal("the database system is not accepting connections\nDETAIL:  Hot standby mode is "
             "disabled."),
       ErrorCode::kUnavailable},
      // 53300 too_many_connections
      {Fatal("sorry, too many clients already"), ErrorCode::kUnavailable},
      {Fatal("remaining connection slots are reserved for non-replication superuser "
             "connections"),
       ErrorCode::kUnavailable},
      {Fatal("too many connections for role \"sluice\""), ErrorCode::kUnavailable},
      {Fatal("too many connections for database \"app\""), ErrorCode::kUnavailable},
      {Fatal("number of requested standby connections exceeds max_wal_senders (currently 10)"),
       ErrorCode::kUnavailable},
      // 57P01 admin_shutdown, 57P02 crash_shutdown
      {Fatal("terminating connection due to administrator command\nserver closed the "
             "connection unexpectedly"),
       ErrorCode::kUnavailable},
      {Fatal("terminating connection because of crash of another server process"),
       ErrorCode::kUnavailable},
      {Fatal("out of memory"), ErrorCode::kUnavailable},
      {"could not fork new process for connection: Resource temporarily unavailable\n",
       ErrorCode::kUnavailable},
  });
}

TEST(ClassifyConnectFailure, LoginAndPrivilegeProblemsAreAuth) {
  ExpectConnect({
      {Fatal("password authentication failed for user \"sluice\""), ErrorCode::kAuth},  // 28P01
      {Fatal("Ident authentication failed for user \"sluice\""), ErrorCode::kAuth},
      {"connection to server at \"127.0.0.1\", port 5432 failed: fe_sendauth: no password "
       "supplied\n",
       ErrorCode::kAuth},
      {Fatal("no pg_hba.conf entry for host \"10.1.1.1\", user \"sluice\", database \"app\", "
             "no encryption"),
       ErrorCode::kAuth},
      {Fatal("pg_hba.conf rejects connection for host \"10.1.1.1\", user \"sluice\""),
       ErrorCode::kAuth},
      {Fatal("role \"sluice\" is not permitted to log in"), ErrorCode::kAuth},  // NOLOGIN
      {Fatal("role \"nobody\" does not exist"), ErrorCode::kAuth},
      {Fatal("must be superuser or replication role to start walsender"), ErrorCode::kAuth},
      {Fatal("permission denied for database \"app\"\nDETAIL:  User does not have CONNECT "
             "privilege."),
       ErrorCode::kAuth},
  });
}

TEST(ClassifyConnectFailure, MissingDatabaseIsNotFound) {
  ExpectConnect({{Fatal("database \"nope\" does not exist"), ErrorCode::kNotFound}});
}

TEST(ClassifyConnectFailure, SslSettingsThatCannotWorkAreConfig) {
  ExpectConnect({
      {"connection to server at \"127.0.0.1\", port 5432 failed: server does not support SSL, "
       "but SSL was required\n",
       ErrorCode::kConfig},
      {"invalid sslmode value: \"sometimes\"\n", ErrorCode::kConfig},
  });
}

TEST(ClassifyConnectFailure, OtherServerRefusalIsPostgres) {
  ExpectConnect({
      // 55000: ALTER DATABASE ... ALLOW_CONNECTIONS false
      {Fatal("database \"app\" is not currently accepting connections"), ErrorCode::kPostgres},
      // A message in the server's language that no rule knows.
      {Fatal("la base de données « app » n'accepte plus les connexions"), ErrorCode::kPostgres},
  });
}

TEST(ClassifyServerError, SqlStateDecides) {
  struct Case {
    const char* sqlstate;
    ErrorCode code;
  };
  for (const Case& c : {
           Case{"08006", ErrorCode::kNetwork},      // connection_failure
           Case{"08P01", ErrorCode::kNetwork},      // protocol_violation
           Case{"57P01", ErrorCode::kUnavailable},  // admin_shutdown
           Case{"57P02", ErrorCode::kUnavailable},  // crash_shutdown
           Case{"57P03", ErrorCode::kUnavailable},  // cannot_connect_now
           Case{"57014", ErrorCode::kUnavailable},  // query_canceled
           Case{"53300", ErrorCode::kUnavailable},  // too_many_connections
           Case{"53200", ErrorCode::kUnavailable},  // out_of_memory
           Case{"55006", ErrorCode::kUnavailable},  // object_in_use (slot active)
           Case{"40001", ErrorCode::kUnavailable},  // serialization_failure
           Case{"40P01", ErrorCode::kUnavailable},  // deadlock_detected
           Case{"28P01", ErrorCode::kAuth},         // invalid_password
           Case{"28000", ErrorCode::kAuth},         // invalid_authorization_specification
           Case{"42501", ErrorCode::kAuth},         // insufficient_privilege
           Case{"3D000", ErrorCode::kNotFound},     // invalid_catalog_name
           Case{"42704", ErrorCode::kNotFound},     // undefined_object (slot, publication)
           Case{"57P04", ErrorCode::kNotFound},     // database_dropped
           Case{"0A000", ErrorCode::kConfig},       // feature_not_supported
           Case{"53400", ErrorCode::kPostgres},     // configuration_limit_exceeded
           Case{"42601", ErrorCode::kPostgres},     // syntax_error
           Case{"XX000", ErrorCode::kPostgres},     // internal_error
       }) {
    EXPECT_EQ(ClassifyServerError(c.sqlstate, "some message", /*connection_lost=*/false), c.code)
        << c.sqlstate;
  }
}

TEST(ClassifyServerError, ObjectNotInPrerequisiteStateDependsOnTheMessage) {
  EXPECT_EQ(ClassifyServerError("55000", "logical decoding requires wal_level >= logical", false),
            ErrorCode::kConfig);
  EXPECT_EQ(
      ClassifyServerError("55000", "can no longer get changes from replication slot \"s\"", false),
      ErrorCode::kConfig);
  EXPECT_EQ(ClassifyServerError("55000", "replication slot \"s\" was not created in this database",
                                false),
            ErrorCode::kConfig);
  // A failover pointed the host at a standby that is not promoted yet.
  EXPECT_EQ(
      ClassifyServerError("55000", "logical decoding cannot be used while in recovery", false),
      ErrorCode::kUnavailable);
  EXPECT_EQ(ClassifyServerError("55000", "something else", false), ErrorCode::kPostgres);
}

TEST(ClassifyServerError, LostConnectionOrNoSqlStateIsNetwork) {
  EXPECT_EQ(ClassifyServerError("", "server closed the connection unexpectedly", true),
            ErrorCode::kNetwork);
  EXPECT_EQ(ClassifyServerError("", "no connection to the server", false), ErrorCode::kNetwork);
  EXPECT_EQ(ClassifyServerError("XX000", "could not read block", true), ErrorCode::kNetwork);
  // A human-needing SQLSTATE stays so even when the server then closed.
  EXPECT_EQ(ClassifyServerError("42704", "publication \"p\" does not exist", true),
            ErrorCode::kNotFound);
}

TEST(RecoveryFor, BeforeFirstStreamOnlyTemporaryServerStatesAreRetried) {
  const auto never = SessionHistory::kNeverStreamed;
  const auto fail_fast = FirstConnect::kFailFast;
  EXPECT_EQ(RecoveryFor(ErrorCode::kUnavailable, never, fail_fast), Recovery::kRetry);
  EXPECT_EQ(RecoveryFor(ErrorCode::kTimeout, never, fail_fast), Recovery::kRetry);
  EXPECT_EQ(RecoveryFor(ErrorCode::kNetwork, never, fail_fast), Recovery::kFail);
  EXPECT_EQ(RecoveryFor(ErrorCode::kPostgres, never, fail_fast), Recovery::kFail);
  EXPECT_EQ(RecoveryFor(ErrorCode::kAuth, never, fail_fast), Recovery::kFail);
  EXPECT_EQ(RecoveryFor(ErrorCode::kNotFound, never, fail_fast), Recovery::kFail);
  EXPECT_EQ(RecoveryFor(ErrorCode::kConfig, never, fail_fast), Recovery::kFail);
  // FirstConnect::kRetry waits for a database that is not there yet.
  EXPECT_EQ(RecoveryFor(ErrorCode::kNetwork, never, FirstConnect::kRetry), Recovery::kRetry);
  EXPECT_EQ(RecoveryFor(ErrorCode::kPostgres, never, FirstConnect::kRetry), Recovery::kFail);
}

TEST(RecoveryFor, AfterStreamingEverythingButHumanProblemsIsRetried) {
  const auto streamed = SessionHistory::kHasStreamed;
  const auto fail_fast = FirstConnect::kFailFast;
  for (ErrorCode code :
       {ErrorCode::kNetwork, ErrorCode::kUnavailable, ErrorCode::kTimeout, ErrorCode::kPostgres}) {
    EXPECT_EQ(RecoveryFor(code, streamed, fail_fast), Recovery::kRetry) << ErrorCodeName(code);
  }
  for (ErrorCode code : {ErrorCode::kAuth, ErrorCode::kNotFound, ErrorCode::kConfig,
                         ErrorCode::kProtocol, ErrorCode::kInvalidArgument, ErrorCode::kInternal}) {
    EXPECT_EQ(RecoveryFor(code, streamed, fail_fast), Recovery::kFail) << ErrorCodeName(code);
  }
}

}  // namespace
}  // namespace sluice::source
