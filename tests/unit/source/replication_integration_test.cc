// Integration tests of the libpq shell (ReplicationSource, CheckDatabase)
// against real PostgreSQL 15 servers started by pg_server.sh: one with
// wal_level=logical (port 25210) and one with wal_level=replica (port 25211);
// port 25212 is one nothing listens on. SLUICE_ITEST_PG_PORT=<base> moves the
// three to base..base+2, so runs sharing one machine do not collide.
// Label `integration`. Waits are bounded polls on observable state, never
// timing assertions.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "source/database_check.h"
#include "source/replication_source.h"

namespace sluice::source {
namespace {

using namespace std::chrono_literals;

int BasePort() {
  const char* env = std::getenv("SLUICE_ITEST_PG_PORT");
  return env != nullptr && *env != '\0' ? std::atoi(env) : 25210;
}
const int kLogicalPort = BasePort();
const int kReplicaPort = BasePort() + 1;
const int kUnreachablePort = BasePort() + 2;

std::string ServerScript() {
  return std::string(SLUICE_SOURCE_DIR) + "/tests/unit/source/pg_server.sh";
}

std::string& TempRoot() {
  static std::string root;
  return root;
}

void Psql(int port, const std::string& sql, const std::string& dbname = "postgres") {
  std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=" + dbname;
  PGconn* c = PQconnectdb(conninfo.c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, sql.c_str());
  const auto st = PQresultStatus(r);
  EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
}

std::string QueryOne(int port, const std::string& sql) {
  std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=postgres";
  PGconn* c = PQconnectdb(conninfo.c_str());
  PGresult* r = PQexec(c, sql.c_str());
  std::string out =
      PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)
          ? PQgetvalue(r, 0, 0)
          : "";
  PQclear(r);
  PQfinish(c);
  return out;
}

// Polls `pred` until true or 30 s passed (a safety net, not a timing check).
bool Eventually(const std::function<bool()>& pred) {
  for (int i = 0; i < 1500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

// The source created the slot and streams from it (changes made before the
// slot exists are never decoded).
bool SlotActive(const std::string& slot) {
  return Eventually([&] {
    return QueryOne(kLogicalPort, "SELECT active FROM pg_replication_slots WHERE slot_name = '" +
                                      slot + "'") == "t";
  });
}

class RecordingHandler : public ChangeHandler {
 public:
  void OnBegin(const std::shared_ptr<const model::TransactionInfo>&) override {
    std::lock_guard<std::mutex> l(mu);
    ++begins;
  }
  void OnChange(model::Change change) override {
    std::lock_guard<std::mutex> l(mu);
    std::string row;
    const model::Tuple& t =
        change.new_tuple.empty() && change.old_tuple ? *change.old_tuple : change.new_tuple;
    for (size_t i = 0; i < t.size(); ++i) {
      row += (i ? "," : "");
      row += t.kind(i) == model::ValueKind::kText ? std::string(t.text(i)) : "<null>";
    }
    events.push_back(std::string(model::ActionName(change.action)) + " " + change.relation->name +
                     " " + row);
    relations[change.relation->name] = change.relation;
    if (static_cast<int>(events.size()) == full_after_changes) has_capacity = false;
  }
  void OnCommit(Lsn, Lsn end_lsn) override {
    std::lock_guard<std::mutex> l(mu);
    if (auto_ack) acked = end_lsn;
    last_end = end_lsn;
  }
  void OnIdle(Lsn) override {
    std::lock_guard<std::mutex> l(mu);
    ++idles;
  }
  bool WaitForCapacity(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> l(mu);
    ++capacity_calls;
    if (cv.wait_for(l, timeout, [&] { return has_capacity; })) return true;
    ++capacity_refusals;
    return false;
  }
  Lsn AcknowledgedLsn() const override {
    std::lock_guard<std::mutex> l(mu);
    return acked;
  }
  void OnReconnect() override {
    std::lock_guard<std::mutex> l(mu);
    ++reconnects;
  }

  std::vector<std::string> Events() {
    std::lock_guard<std::mutex> l(mu);
    return events;
  }
  // The layout of the last change of table `name` (null if none arrived).
  std::shared_ptr<const model::Relation> RelationOf(const std::string& name) {
    std::lock_guard<std::mutex> l(mu);
    auto it = relations.find(name);
    return it == relations.end() ? nullptr : it->second;
  }
  void SetCapacity(bool v) {
    {
      std::lock_guard<std::mutex> l(mu);
      has_capacity = v;
    }
    cv.notify_all();
  }

  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;
  std::map<std::string, std::shared_ptr<const model::Relation>> relations;
  bool auto_ack = true;
  bool has_capacity = true;
  int full_after_changes = -1;  // the handler fills up after this many changes
  int begins = 0;               // transactions begun
  int idles = 0;                // keepalives between transactions
  Lsn acked;
  Lsn last_end;
  int reconnects = 0;
  int capacity_calls = 0;
  int capacity_refusals = 0;
};

config::DatabaseSettings Settings(int port, const std::string& slot) {
  config::DatabaseSettings db;
  db.name = "itest";
  db.host = "127.0.0.1";
  db.port = port;
  db.database = "postgres";
  db.username = "postgres";
  db.slot_name = slot;
  db.slot_create_if_not_exists = true;
  db.publication_name = "itest_pub";
  db.publication_create_if_not_exists = true;
  return db;
}

ReplicationOptions FastOptions() {
  ReplicationOptions o;
  o.status_interval = 50ms;
  o.initial_backoff = 10ms;
  o.max_backoff = 100ms;
  o.capacity_wait = 20ms;
  return o;
}

// Runs a source on its own thread; stops and joins on destruction.
class Running {
 public:
  Running(config::DatabaseSettings db, ChangeHandler& h, ReplicationOptions o = FastOptions())
      : source_(std::move(db), h, SystemClock::Instance(), o), thread_([this] {
          status_ = source_.Run();
          finished_.store(true);
        }) {}
  ~Running() { (void)StopAndJoin(); }
  Status StopAndJoin() {
    if (thread_.joinable()) {
      source_.Stop();
      thread_.join();
    }
    return status_;
  }
  // Run() has returned (on its own, before StopAndJoin).
  bool Finished() const { return finished_.load(); }

 private:
  ReplicationSource source_;
  Status status_;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

class ReplicationIntegration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/sluice-source-itest.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    TempRoot() = tmpl;
    ASSERT_EQ(std::system(("chmod 755 " + TempRoot()).c_str()), 0);
    for (auto [port, level] :
         {std::pair{kLogicalPort, "logical"}, std::pair{kReplicaPort, "replica"}}) {
      std::string cmd = ServerScript() + " start " + TempRoot() + "/" + level + " " +
                        std::to_string(port) + " " + level;
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() {
    for (const char* level : {"logical", "replica"}) {
      std::system((ServerScript() + " stop " + TempRoot() + "/" + level).c_str());
    }
    std::system(("rm -rf " + TempRoot()).c_str());
  }
};

TEST_F(ReplicationIntegration, StreamsChangesAndAdvancesSlotToAcknowledgedLsn) {
  Psql(kLogicalPort, "CREATE TABLE it_orders (id int PRIMARY KEY, status text, at timestamptz)");
  RecordingHandler h;
  Running run(Settings(kLogicalPort, "it_stream"), h);
  // The slot is created by the source; wait for it before writing.
  ASSERT_TRUE(SlotActive("it_stream"));
  Psql(kLogicalPort,
       "SET TimeZone = 'America/New_York'; BEGIN; INSERT INTO it_orders VALUES (1, 'new', "
       "'2024-01-02 03:04:05+00'); UPDATE it_orders SET status = 'paid' WHERE id = 1; DELETE FROM "
       "it_orders WHERE id = 1; COMMIT");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() >= 3; }));
  EXPECT_EQ(h.Events(), (std::vector<std::string>{"insert it_orders 1,new,2024-01-02 03:04:05+00",
                                                  "update it_orders 1,paid,2024-01-02 03:04:05+00",
                                                  "delete it_orders 1,<null>,<null>"}));
  const Lsn acked = h.AcknowledgedLsn();
  ASSERT_FALSE(acked.IsZero());
  EXPECT_TRUE(Eventually([&] {
    return QueryOne(kLogicalPort,
                    "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = "
                    "'it_stream'") == acked.ToString();
  }));
  EXPECT_TRUE(run.StopAndJoin().ok());
}

TEST_F(ReplicationIntegration, RelationsCarryPrimaryKeyWhateverTheReplicaIdentity) {
  // it_full_pk: REPLICA IDENTITY FULL (pgoutput flags every column as key),
  // composite key (c, a) not in column order, and a dropped column so catalog
  // attnums differ from the stream's column positions.
  Psql(kLogicalPort,
       "CREATE TABLE it_full_pk (gone int, a int, note text, c int, PRIMARY KEY (c, a)); "
       "ALTER TABLE it_full_pk DROP COLUMN gone; ALTER TABLE it_full_pk REPLICA IDENTITY FULL; "
       "CREATE TABLE it_full_nopk (v int, w text); "
       "ALTER TABLE it_full_nopk REPLICA IDENTITY FULL; "
       "CREATE TABLE it_nothing_pk (x text, id int PRIMARY KEY); "
       "ALTER TABLE it_nothing_pk REPLICA IDENTITY NOTHING; "
       "CREATE TABLE it_default_pk (x text, id int PRIMARY KEY)");
  RecordingHandler h;
  Running run(Settings(kLogicalPort, "it_pkeys"), h);
  ASSERT_TRUE(SlotActive("it_pkeys"));
  Psql(kLogicalPort,
       "INSERT INTO it_full_pk VALUES (1, 'new', 10); "
       "UPDATE it_full_pk SET note = 'paid' WHERE a = 1; "
       "INSERT INTO it_full_nopk VALUES (1, 'x'); "
       "INSERT INTO it_nothing_pk VALUES ('y', 2); "
       "INSERT INTO it_default_pk VALUES ('z', 3)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() >= 5; }));
  EXPECT_EQ(h.Events(),
            (std::vector<std::string>{"insert it_full_pk 1,new,10", "update it_full_pk 1,paid,10",
                                      "insert it_full_nopk 1,x", "insert it_nothing_pk y,2",
                                      "insert it_default_pk z,3"}));

  auto full = h.RelationOf("it_full_pk");
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(full->replica_identity, model::ReplicaIdentity::kFull);
  ASSERT_EQ(full->columns.size(), 3u);
  for (const model::Column& c : full->columns) EXPECT_TRUE(c.is_key) << c.name;
  EXPECT_EQ(full->primary_key, (std::vector<int>{2, 0}));  // (c, a)

  auto no_pk = h.RelationOf("it_full_nopk");
  ASSERT_NE(no_pk, nullptr);
  EXPECT_EQ(no_pk->replica_identity, model::ReplicaIdentity::kFull);
  EXPECT_TRUE(no_pk->primary_key.empty());

  auto nothing = h.RelationOf("it_nothing_pk");
  ASSERT_NE(nothing, nullptr);
  EXPECT_EQ(nothing->replica_identity, model::ReplicaIdentity::kNothing);
  EXPECT_EQ(nothing->primary_key, (std::vector<int>{1}));

  auto plain = h.RelationOf("it_default_pk");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->primary_key, (std::vector<int>{1}));
  EXPECT_TRUE(run.StopAndJoin().ok());
}

TEST_F(ReplicationIntegration, StatusUpdatesNeverReportUnacknowledgedLsn) {
  Psql(kLogicalPort, "CREATE TABLE it_noack (id int PRIMARY KEY)");
  Psql(kLogicalPort, "SELECT pg_create_logical_replication_slot('it_noack', 'pgoutput')");
  const std::string initial =
      QueryOne(kLogicalPort,
               "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'it_noack'");
  RecordingHandler h;
  h.auto_ack = false;
  Running run(Settings(kLogicalPort, "it_noack"), h);
  Psql(kLogicalPort, "INSERT INTO it_noack VALUES (1)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() == 1; }));
  // Several status intervals pass (observed through capacity checks), yet the
  // slot stays where it was: nothing was acknowledged.
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(h.mu);
    return h.capacity_calls > 50;
  }));
  EXPECT_EQ(
      QueryOne(kLogicalPort,
               "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'it_noack'"),
      initial);
  {
    std::lock_guard<std::mutex> l(h.mu);
    h.acked = h.last_end;
  }
  const Lsn acked = h.AcknowledgedLsn();
  EXPECT_TRUE(Eventually([&] {
    return QueryOne(kLogicalPort,
                    "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = "
                    "'it_noack'") == acked.ToString();
  }));
}

TEST_F(ReplicationIntegration, ReconnectsAfterConnectionLossAndResumesFromAcknowledgedLsn) {
  Psql(kLogicalPort, "CREATE TABLE it_reconnect (id int PRIMARY KEY)");
  RecordingHandler h;
  Running run(Settings(kLogicalPort, "it_reconnect"), h);
  ASSERT_TRUE(SlotActive("it_reconnect"));
  Psql(kLogicalPort, "INSERT INTO it_reconnect VALUES (1)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() == 1; }));
  ASSERT_TRUE(Eventually([&] {
    return QueryOne(kLogicalPort,
                    "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = "
                    "'it_reconnect'") == h.AcknowledgedLsn().ToString();
  }));
  Psql(kLogicalPort,
       "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = "
       "'it_reconnect'");
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(h.mu);
    return h.reconnects >= 1;
  }));
  Psql(kLogicalPort, "INSERT INTO it_reconnect VALUES (2)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() >= 2; }));
  // Row 1 was acknowledged before the drop, so it is not sent again.
  EXPECT_EQ(h.Events(),
            (std::vector<std::string>{"insert it_reconnect 1", "insert it_reconnect 2"}));
  EXPECT_TRUE(run.StopAndJoin().ok());
}

int Reconnects(RecordingHandler& h) {
  std::lock_guard<std::mutex> l(h.mu);
  return h.reconnects;
}

TEST_F(ReplicationIntegration, ServerRestartWhileStreamingIsRetried) {
  Psql(kLogicalPort, "CREATE TABLE it_restart (id int PRIMARY KEY)");
  RecordingHandler h;
  Running run(Settings(kLogicalPort, "it_restart"), h);
  ASSERT_TRUE(SlotActive("it_restart"));
  Psql(kLogicalPort, "INSERT INTO it_restart VALUES (1)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() == 1; }));
  // Fast shutdown terminates the walsender (57P01) and refuses or defers new
  // connections (57P03 shutting down / starting up) until it is back.
  const std::string cmd = ServerScript() + " restart " + TempRoot() + "/logical";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  ASSERT_TRUE(SlotActive("it_restart"));
  Psql(kLogicalPort, "INSERT INTO it_restart VALUES (2)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() >= 2; }));
  EXPECT_EQ(h.Events().back(), "insert it_restart 2");
  EXPECT_GE(Reconnects(h), 1);
  EXPECT_FALSE(run.Finished());
  EXPECT_TRUE(run.StopAndJoin().ok());
}

TEST_F(ReplicationIntegration, ServerDownForAWhileAfterStreamingIsRetried) {
  Psql(kLogicalPort, "CREATE TABLE it_down (id int PRIMARY KEY)");
  RecordingHandler h;
  Running run(Settings(kLogicalPort, "it_down"), h);
  ASSERT_TRUE(SlotActive("it_down"));
  Psql(kLogicalPort, "INSERT INTO it_down VALUES (1)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() == 1; }));
  // Crash (immediate stop): connections are refused until it is started.
  const std::string dir = TempRoot() + "/logical";
  ASSERT_EQ(std::system((ServerScript() + " stop " + dir).c_str()), 0);
  const bool retried = Eventually([&] { return Reconnects(h) >= 4; });  // several refusals
  const std::string start =
      ServerScript() + " start " + dir + " " + std::to_string(kLogicalPort) + " logical";
  ASSERT_EQ(std::system(start.c_str()), 0) << start;
  ASSERT_TRUE(retried);
  EXPECT_FALSE(run.Finished());
  ASSERT_TRUE(SlotActive("it_down"));
  Psql(kLogicalPort, "INSERT INTO it_down VALUES (2)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() >= 2; }));
  EXPECT_EQ(h.Events().back(), "insert it_down 2");
  EXPECT_FALSE(run.Finished());
  EXPECT_TRUE(run.StopAndJoin().ok());
}

// Re-allows connections to the database `postgres` however the test ends.
struct AllowConnectionsAgain {
  ~AllowConnectionsAgain() {
    Psql(kLogicalPort, "ALTER DATABASE postgres ALLOW_CONNECTIONS true", "template1");
  }
};

TEST_F(ReplicationIntegration, ConnectionsRefusedForAWhileAfterStreamingAreRetried) {
  Psql(kLogicalPort, "CREATE TABLE it_refused (id int PRIMARY KEY)");
  RecordingHandler h;
  Running run(Settings(kLogicalPort, "it_refused"), h);
  ASSERT_TRUE(SlotActive("it_refused"));
  Psql(kLogicalPort, "INSERT INTO it_refused VALUES (1)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() == 1; }));
  {
    AllowConnectionsAgain guard;
    // 55000 "database is not currently accepting connections", then the
    // walsender is killed: every reconnect is refused by the server.
    Psql(kLogicalPort, "ALTER DATABASE postgres ALLOW_CONNECTIONS false", "template1");
    Psql(kLogicalPort,
         "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = "
         "'it_refused'",
         "template1");
    ASSERT_TRUE(Eventually([&] { return Reconnects(h) >= 4; }));
    EXPECT_FALSE(run.Finished());
  }
  ASSERT_TRUE(SlotActive("it_refused"));
  Psql(kLogicalPort, "INSERT INTO it_refused VALUES (2)");
  ASSERT_TRUE(Eventually([&] { return h.Events().size() >= 2; }));
  EXPECT_EQ(h.Events().back(), "insert it_refused 2");
  EXPECT_FALSE(run.Finished());
  EXPECT_TRUE(run.StopAndJoin().ok());
}

TEST_F(ReplicationIntegration, MissingDatabaseOnFirstConnectFailsAtOnce) {
  RecordingHandler h;
  auto db = Settings(kLogicalPort, "x");
  db.database = "it_no_such_db";
  ReplicationSource s(db, h, SystemClock::Instance(), FastOptions());
  Status st = s.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(st.error().message().find("\"it_no_such_db\" does not exist"), std::string::npos)
      << st.error().message();
  EXPECT_EQ(h.reconnects, 0);
}

TEST_F(ReplicationIntegration, BackpressureStopsReadingUntilCapacityReturns) {
  Psql(kLogicalPort, "CREATE TABLE it_pressure (id int PRIMARY KEY)");
  RecordingHandler h;
  h.SetCapacity(false);
  Running run(Settings(kLogicalPort, "it_pressure"), h);
  ASSERT_TRUE(SlotActive("it_pressure"));
  Psql(kLogicalPort, "INSERT INTO it_pressure VALUES (1)");
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(h.mu);
    return h.capacity_refusals > 20;
  }));
  EXPECT_TRUE(h.Events().empty());
  h.SetCapacity(true);
  EXPECT_TRUE(Eventually([&] { return h.Events().size() == 1; }));
}

// The source reads runs of buffered messages between clock readings, but it
// asks for capacity before each one: a handler that fills up mid-transaction
// gets nothing more until it has room again.
TEST_F(ReplicationIntegration, AHandlerThatFillsUpMidTransactionGetsNoFurtherChange) {
  Psql(kLogicalPort, "CREATE TABLE it_fill (id int PRIMARY KEY)");
  RecordingHandler h;
  h.full_after_changes = 1;
  Running run(Settings(kLogicalPort, "it_fill"), h);
  ASSERT_TRUE(SlotActive("it_fill"));
  Psql(kLogicalPort, "INSERT INTO it_fill SELECT generate_series(1, 10)");
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(h.mu);
    return h.capacity_refusals > 5;
  }));
  EXPECT_EQ(h.Events(), (std::vector<std::string>{"insert it_fill 1"}));
  h.SetCapacity(true);
  EXPECT_TRUE(Eventually([&] { return h.Events().size() == 10; }));
  EXPECT_TRUE(run.StopAndJoin().ok());
  Psql(kLogicalPort, "SELECT pg_drop_replication_slot('it_fill')");  // slots are few
}

// After data the source reads once more at once and, finding nothing, waits
// coalesce_wait before reading again; Stop() ends that wait (here an hour
// long) at once. (Without that, this test hangs until ctest's timeout.)
TEST_F(ReplicationIntegration, StopEndsTheWaitBetweenReads) {
  // A change is in the slot before the source starts, so its first read
  // brings data (the change, part of it, or a keepalive); soon after, the
  // source is in its hour-long wait.
  Psql(kLogicalPort,
       "CREATE TABLE it_gulp (id int PRIMARY KEY); "
       "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'itest_pub') THEN "
       "CREATE PUBLICATION itest_pub FOR ALL TABLES; END IF; END $$");
  Psql(kLogicalPort, "SELECT pg_create_logical_replication_slot('it_gulp', 'pgoutput')");
  Psql(kLogicalPort, "INSERT INTO it_gulp VALUES (1)");
  RecordingHandler h;
  ReplicationOptions options = FastOptions();
  options.coalesce_wait = std::chrono::hours(1);
  Running run(Settings(kLogicalPort, "it_gulp"), h, options);
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(h.mu);
    return h.begins + h.idles > 0;
  }));
  EXPECT_TRUE(run.StopAndJoin().ok());
  Psql(kLogicalPort, "SELECT pg_drop_replication_slot('it_gulp')");
}

TEST_F(ReplicationIntegration, SecondSourceOnBusySlotRetries) {
  RecordingHandler first, second;
  Running a(Settings(kLogicalPort, "it_busy"), first);
  ASSERT_TRUE(SlotActive("it_busy"));
  Running b(Settings(kLogicalPort, "it_busy"), second);
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(second.mu);
    return second.reconnects >= 2;
  }));
  EXPECT_TRUE(b.StopAndJoin().ok());
}

TEST_F(ReplicationIntegration, UnreachableDatabaseNamesHostAndPort) {
  RecordingHandler h;
  ReplicationSource s(Settings(kUnreachablePort, "x"), h, SystemClock::Instance(), FastOptions());
  Status st = s.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNetwork);
  EXPECT_NE(st.error().message().find("127.0.0.1:" + std::to_string(kUnreachablePort)),
            std::string::npos)
      << st.error().message();
  EXPECT_NE(st.error().message().find("refused"), std::string::npos) << st.error().message();
}

TEST_F(ReplicationIntegration, PasswordNeverAppearsInErrors) {
  RecordingHandler h;
  auto db = Settings(kUnreachablePort, "x");
  db.password = Secret("hunter2-secret");
  ReplicationSource s(db, h, SystemClock::Instance(), FastOptions());
  Status st = s.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message().find("hunter2"), std::string::npos);
}

TEST_F(ReplicationIntegration, WalLevelNotLogicalIsAClearError) {
  RecordingHandler h;
  ReplicationSource s(Settings(kReplicaPort, "x"), h, SystemClock::Instance(), FastOptions());
  Status st = s.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kConfig);
  EXPECT_NE(st.error().message().find("wal_level is 'replica' but must be 'logical'"),
            std::string::npos)
      << st.error().message();
}

TEST_F(ReplicationIntegration, MissingReplicationPrivilegeIsAClearError) {
  Psql(kLogicalPort,
       "DO $$ BEGIN CREATE ROLE it_plain LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$");
  RecordingHandler h;
  auto db = Settings(kLogicalPort, "x");
  db.username = "it_plain";
  ReplicationSource s(db, h, SystemClock::Instance(), FastOptions());
  Status st = s.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kAuth);
  EXPECT_NE(st.error().message().find("lacks the REPLICATION privilege"), std::string::npos)
      << st.error().message();
}

TEST_F(ReplicationIntegration, MissingSlotWithoutCreateIsAClearError) {
  RecordingHandler h;
  auto db = Settings(kLogicalPort, "it_absent");
  db.slot_create_if_not_exists = false;
  ReplicationSource s(db, h, SystemClock::Instance(), FastOptions());
  Status st = s.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(st.error().message().find("replication slot 'it_absent' does not exist"),
            std::string::npos)
      << st.error().message();
}

TEST_F(ReplicationIntegration, MissingPublicationWithoutCreateIsAClearError) {
  RecordingHandler h;
  auto db = Settings(kLogicalPort, "x");
  db.publication_name = "it_no_pub";
  db.publication_create_if_not_exists = false;
  ReplicationSource s(db, h, SystemClock::Instance(), FastOptions());
  Status st = s.Run();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(st.error().message().find("publication 'it_no_pub' does not exist"), std::string::npos)
      << st.error().message();
}

TEST_F(ReplicationIntegration, CheckDatabaseReportsReplicaIdentityProblems) {
  Psql(kLogicalPort,
       "CREATE TABLE it_pk (id int PRIMARY KEY); CREATE TABLE it_nopk (v int); "
       "CREATE TABLE it_nothing (id int PRIMARY KEY); ALTER TABLE it_nothing REPLICA IDENTITY "
       "NOTHING; CREATE TABLE it_full (v int); ALTER TABLE it_full REPLICA IDENTITY FULL");
  std::vector<Finding> findings;
  auto db = Settings(kLogicalPort, "it_check_slot");
  Status st = CheckDatabase(
      db, {"public.it_pk", "public.it_nopk", "public.it_nothing", "public.it_full"}, &findings);
  ASSERT_TRUE(st.ok()) << st.error().message();
  std::vector<std::string> warnings;
  for (const Finding& f : findings) {
    if (f.severity == Severity::kWarning) warnings.push_back(f.message);
  }
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("it_nopk has no primary key"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("it_nothing has REPLICA IDENTITY NOTHING"), std::string::npos)
      << warnings[1];
}

TEST_F(ReplicationIntegration, CheckDatabaseReportsErrors) {
  std::vector<std::string> findings;
  auto db = Settings(kReplicaPort, "it_missing_slot");
  db.slot_create_if_not_exists = false;
  Status st = CheckDatabase(db, {"public.nope"}, &findings);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("must be 'logical'"), std::string::npos);
  std::string all;
  for (const auto& f : findings) all += f + "\n";
  EXPECT_NE(all.find("ok: connected to 127.0.0.1:" + std::to_string(kReplicaPort)),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("error: wal_level is 'replica'"), std::string::npos) << all;
  EXPECT_NE(all.find("error: replication slot 'it_missing_slot' does not exist"), std::string::npos)
      << all;
  EXPECT_NE(all.find("error: table public.nope does not exist"), std::string::npos) << all;

  std::vector<std::string> unreachable;
  Status down = CheckDatabase(Settings(kUnreachablePort, "x"), {}, &unreachable);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code(), ErrorCode::kNetwork);
  ASSERT_EQ(unreachable.size(), 1u);
  EXPECT_NE(unreachable[0].find("error: cannot connect to Postgres at 127.0.0.1:" +
                                std::to_string(kUnreachablePort)),
            std::string::npos)
      << unreachable[0];
}

}  // namespace
}  // namespace sluice::source
