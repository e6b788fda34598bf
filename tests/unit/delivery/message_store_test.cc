#include "delivery/message_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/change_codec.h"
#include "support/temp_dir.h"

namespace sluice::delivery {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

using testing_support::TempDir;

WallTime At(int64_t ms) { return WallTime(milliseconds(ms)); }

std::shared_ptr<const model::Relation> Orders() {
  static const auto relation = [] {
    auto r = std::make_shared<model::Relation>();
    r->oid = 16390;
    r->schema = "public";
    r->name = "orders";
    r->columns = {{"id", 20, -1, true}, {"status", 25, -1, false}, {"note", 25, -1, false}};
    r->primary_key = {0};
    return r;
  }();
  return relation;
}

// Message `id` of `group`, from the transaction committed at `lsn`.
StoredMessage Msg(uint64_t id, std::string group, uint64_t lsn = 0, uint32_t idx = 0,
                  std::string sink = "orders-sink", std::string payload = "paid") {
  StoredMessage m;
  m.id = id;
  m.sink = std::move(sink);
  m.group_key = group;
  m.partition_key = "16390/" + group;
  auto txn = std::make_shared<model::TransactionInfo>();
  txn->commit_lsn = Lsn(lsn == 0 ? 1000 + id : lsn);
  txn->commit_time_us = 1795773600123456;
  txn->xid = 740;
  m.change.txn = txn;
  m.change.relation = Orders();
  m.change.action = model::Action::kInsert;
  m.change.commit_idx = idx;
  m.change.new_tuple.AddText(group);
  m.change.new_tuple.AddText(payload);
  m.change.new_tuple.AddNull();
  m.created_at = At(1'700'000'000'000 + static_cast<int64_t>(id));
  return m;
}

std::unique_ptr<MessageStore> OpenStore(const fs::path& dir, StoreSync sync = StoreSync::kFull) {
  auto store = MessageStore::Open({dir, sync, StoreIntegrityCheck::kQuick});
  EXPECT_TRUE(store.ok()) << store.error().message();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::vector<uint64_t> Ids(const StoredPage& page) {
  std::vector<uint64_t> ids;
  for (const StoredMessage& m : page.messages) ids.push_back(m.id);
  return ids;
}

// Runs SQL on a store file with a separate connection (the store must be closed).
void RawExec(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(MessageStore, RoundTripsABatchWithItsDecodedChange) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);

  std::vector<StoredMessage> batch = {Msg(1, "7"), Msg(2, "8"), Msg(3, "")};
  batch[1].change.action = model::Action::kUpdate;
  batch[1].change.old_tuple = model::Tuple();
  batch[1].change.old_tuple->AddText("8");
  batch[1].change.old_tuple->AddUnchangedToast();
  batch[1].change.old_tuple->AddNull();
  batch[1].change.old_is_full_row = true;
  batch[1].deliver_count = 2;
  batch[1].last_error = "ProvisionedThroughputExceededException: Rate exceeded";
  batch[1].not_before = At(1'700'000'005'000);
  batch[2].change.action = model::Action::kDelete;
  batch[2].change.new_tuple = model::Tuple();
  batch[2].change.commit_idx = 41;

  auto put = store->Put(batch);
  ASSERT_TRUE(put.ok()) << put.error().message();
  EXPECT_EQ(*put, 3u);

  auto page = store->LoadPage("orders-sink", 0, 10);
  ASSERT_TRUE(page.ok()) << page.error().message();
  ASSERT_EQ(page->messages.size(), 3u);
  EXPECT_FALSE(page->more);
  EXPECT_EQ(page->next_after, 3u);
  for (size_t i = 0; i < batch.size(); ++i) {
    const StoredMessage& want = batch[i];
    const StoredMessage& got = page->messages[i];
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.sink, want.sink);
    EXPECT_EQ(got.group_key, want.group_key);
    EXPECT_EQ(got.partition_key, want.partition_key);
    EXPECT_EQ(model::EncodeChange(got.change), model::EncodeChange(want.change)) << i;
    EXPECT_EQ(got.deliver_count, want.deliver_count);
    EXPECT_EQ(got.last_error, want.last_error);
    EXPECT_EQ(got.not_before, want.not_before);
    EXPECT_EQ(got.created_at, want.created_at);
  }
  ASSERT_TRUE(page->messages[1].change.old_tuple.has_value());
  EXPECT_EQ(page->messages[1].change.old_tuple->kind(1), model::ValueKind::kUnchangedToast);
  EXPECT_EQ(page->messages[0].change.relation->QualifiedName(), "public.orders");
  // Decoded relations are shared, not copied per message.
  EXPECT_EQ(page->messages[0].change.relation, page->messages[2].change.relation);
}

TEST(MessageStore, ReturnsAGroupInCommitOrderAcrossInterleavedPuts) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  // Batches interleave groups and arrive out of id order across groups;
  // within a group they come in commit order.
  ASSERT_TRUE(store->Put(std::vector{Msg(3, "a"), Msg(4, "b"), Msg(5, "a")}).ok());
  ASSERT_TRUE(store->Put(std::vector{Msg(2, "b"), Msg(6, "a")}).ok());
  ASSERT_TRUE(store->Put(std::vector{Msg(1, "c")}).ok());

  std::vector<uint64_t> group_a;
  auto next = store->GroupHead("orders-sink", "a");
  while (true) {
    ASSERT_TRUE(next.ok()) << next.error().message();
    if (!next->has_value()) break;
    group_a.push_back((*next)->id);
    next = store->NextInGroup("orders-sink", "a", (*next)->id);
  }
  EXPECT_EQ(group_a, (std::vector<uint64_t>{3, 5, 6}));

  auto page = store->LoadPage("orders-sink", 0, 100);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Ids(*page), (std::vector<uint64_t>{1, 3, 4, 5, 6}))
      << "id 2 of group b comes after b's stored id 4 in commit order (lsn 1002 < 1004): a replay";
}

TEST(MessageStore, SkipsReplaysOfChangesAtOrBeforeTheGroupsLastStoredOne) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put(std::vector{Msg(10, "a", 500, 2)}).ok());
  // After a restart, Postgres replays: an earlier change of the group (lsn
  // 400), the stored one itself, an earlier change in the same transaction,
  // and then a new change (lsn 600), all under new ids.
  auto put =
      store->Put(std::vector{Msg(20, "a", 400, 0), Msg(21, "a", 500, 2), Msg(22, "a", 500, 1),
                             Msg(23, "a", 600, 0), Msg(24, "b", 400, 0)});
  ASSERT_TRUE(put.ok()) << put.error().message();
  EXPECT_EQ(*put, 2u);
  auto page = store->LoadPage("orders-sink", 0, 100);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Ids(*page), (std::vector<uint64_t>{10, 23, 24}));
  // Another sink's messages are no replays of this one's.
  ASSERT_TRUE(store->Put(std::vector{Msg(30, "a", 400, 0, "other-sink")}).ok());
  auto other = store->LoadPage("other-sink", 0, 100);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(Ids(*other), (std::vector<uint64_t>{30}));
}

TEST(MessageStore, AnswersWhetherAGroupIsHeldAndItsHead) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put(std::vector{Msg(10, "a"), Msg(11, "b"), Msg(12, "a")}).ok());

  EXPECT_TRUE(*store->HasGroup("orders-sink", "a"));
  EXPECT_FALSE(*store->HasGroup("orders-sink", "c"));
  EXPECT_FALSE(*store->HasGroup("other-sink", "a"));
  EXPECT_FALSE(store->GroupHead("orders-sink", "c")->has_value());
  EXPECT_EQ((*store->GroupHead("orders-sink", "a"))->id, 10u);

  // The head is delivered: the next one of the group becomes the head.
  ASSERT_EQ(*store->Remove(std::vector<uint64_t>{10}), 1u);
  EXPECT_EQ((*store->GroupHead("orders-sink", "a"))->id, 12u);
  ASSERT_EQ(*store->Remove(std::vector<uint64_t>{12, 999}), 1u);
  EXPECT_FALSE(*store->HasGroup("orders-sink", "a"));
  EXPECT_TRUE(*store->HasGroup("orders-sink", "b"));
}

TEST(MessageStore, LoadsOnlyGroupHeadsInPages) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store
                  ->Put(std::vector{Msg(1, "a"), Msg(2, "b"), Msg(3, "a"), Msg(4, "c"), Msg(5, "b"),
                                    Msg(6, "d")})
                  .ok());

  auto first = store->LoadGroupHeads("orders-sink", 0, 2);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(Ids(*first), (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(first->more);
  auto second = store->LoadGroupHeads("orders-sink", first->next_after, 2);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Ids(*second), (std::vector<uint64_t>{4, 6}));
  EXPECT_FALSE(second->more);
  auto empty = store->LoadGroupHeads("orders-sink", second->next_after, 2);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->messages.empty());
  EXPECT_EQ(empty->next_after, 6u);
}

TEST(MessageStore, LoadsDueGroupHeadsOnly) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  std::vector batch = {Msg(1, "a"), Msg(2, "a"), Msg(3, "b"), Msg(4, "c")};
  batch[0].not_before = At(5000);  // head of a backs off until 5000
  batch[1].not_before = At(0);     // behind it: not a head, never due on its own
  batch[2].not_before = At(1000);
  batch[3].not_before = At(2000);
  ASSERT_TRUE(store->Put(batch).ok());

  auto due = store->LoadDueGroupHeads("orders-sink", At(2000), 0, 10);
  ASSERT_TRUE(due.ok()) << due.error().message();
  EXPECT_EQ(Ids(*due), (std::vector<uint64_t>{3, 4}));
  due = store->LoadDueGroupHeads("orders-sink", At(4999), 0, 10);
  EXPECT_EQ(Ids(*due), (std::vector<uint64_t>{3, 4}));
  due = store->LoadDueGroupHeads("orders-sink", At(5000), 0, 10);
  EXPECT_EQ(Ids(*due), (std::vector<uint64_t>{1, 3, 4}));
  due = store->LoadDueGroupHeads("orders-sink", At(5000), 1, 1);
  EXPECT_EQ(Ids(*due), (std::vector<uint64_t>{3}));
  EXPECT_TRUE(due->more);
}

TEST(MessageStore, PagesThroughTenThousandMessagesWithoutDuplicatesOrGaps) {
  TempDir dir;
  auto store = OpenStore(dir.path(), StoreSync::kNormal);
  ASSERT_TRUE(store);
  // Two sinks interleaved, so each sink's ids are not contiguous.
  std::vector<uint64_t> want;
  for (uint64_t base = 0; base < 20000; base += 1000) {
    std::vector<StoredMessage> batch;
    for (uint64_t id = base + 1; id <= base + 1000; ++id) {
      bool mine = id % 2 == 0;
      batch.push_back(Msg(id, "g" + std::to_string(id % 37), 0, 0, mine ? "s1" : "s2"));
      if (mine) want.push_back(id);
    }
    ASSERT_TRUE(store->Put(batch).ok());
  }
  ASSERT_EQ(want.size(), 10000u);

  std::vector<uint64_t> got;
  uint64_t cursor = 0;
  size_t pages = 0;
  while (true) {
    auto page = store->LoadPage("s1", cursor, 333);
    ASSERT_TRUE(page.ok()) << page.error().message();
    ++pages;
    for (const StoredMessage& m : page->messages) {
      EXPECT_EQ(m.sink, "s1");
      got.push_back(m.id);
    }
    EXPECT_LE(page->messages.size(), 333u);
    cursor = page->next_after;
    if (!page->more) break;
    ASSERT_LT(pages, 100u) << "paging does not end";
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(pages, 31u);  // 30 full pages of 333 and one of 10
}

TEST(MessageStore, RecordsAttempts) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put(std::vector{Msg(1, "a"), Msg(2, "b")}).ok());

  std::vector<StoredAttempt> attempts = {
      {1, 3, "InternalFailure: Internal service failure.", At(1'700'000'010'000)},
      {77, 1, "unknown id is ignored", At(1)},
  };
  ASSERT_TRUE(store->RecordAttempts(attempts).ok());

  auto one = store->Get("orders-sink", 1);
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->deliver_count, 3);
  EXPECT_EQ((*one)->last_error, "InternalFailure: Internal service failure.");
  EXPECT_EQ((*one)->not_before, At(1'700'000'010'000));
  auto two = store->Get("orders-sink", 2);
  ASSERT_TRUE(two.ok() && two->has_value());
  EXPECT_EQ((*two)->deliver_count, 0);
  EXPECT_EQ((*two)->last_error, "");
  EXPECT_FALSE(store->Get("orders-sink", 77)->has_value());
}

TEST(MessageStore, ListsAndCountsByState) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  std::vector<StoredMessage> batch;
  for (uint64_t id = 1; id <= 6; ++id) batch.push_back(Msg(id, "g" + std::to_string(id)));
  batch[0].deliver_count = 1;  // ids 1, 3, 4 failing
  batch[2].deliver_count = 5;
  batch[3].deliver_count = 2;
  ASSERT_TRUE(store->Put(batch).ok());

  auto failing = store->List("orders-sink", StoredState::kFailing, 0, 2);
  ASSERT_TRUE(failing.ok()) << failing.error().message();
  EXPECT_EQ(Ids(*failing), (std::vector<uint64_t>{1, 3}));
  EXPECT_TRUE(failing->more);
  failing = store->List("orders-sink", StoredState::kFailing, failing->next_after, 2);
  EXPECT_EQ(Ids(*failing), (std::vector<uint64_t>{4}));
  EXPECT_FALSE(failing->more);

  auto waiting = store->List("orders-sink", StoredState::kWaiting, 0, 10);
  EXPECT_EQ(Ids(*waiting), (std::vector<uint64_t>{2, 5, 6}));
  auto all = store->List("orders-sink", StoredState::kAll, 2, 10);
  EXPECT_EQ(Ids(*all), (std::vector<uint64_t>{3, 4, 5, 6}));

  auto counts = store->Count("orders-sink");
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->failing, 3u);
  EXPECT_EQ(counts->waiting, 3u);
  EXPECT_EQ(counts->oldest_created_at, At(1'700'000'000'001));

  auto none = store->Count("no-such-sink");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->failing + none->waiting, 0u);
  EXPECT_FALSE(none->oldest_created_at.has_value());
}

TEST(MessageStore, DiscardsOneFailingOrAll) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  std::vector<StoredMessage> batch;
  for (uint64_t id = 1; id <= 5; ++id) batch.push_back(Msg(id, "g" + std::to_string(id)));
  batch[1].deliver_count = 1;  // 2 and 4 failing
  batch[3].deliver_count = 1;
  ASSERT_TRUE(store->Put(batch).ok());
  ASSERT_TRUE(store->Put(std::vector{Msg(100, "g1", 0, 0, "other")}).ok());

  EXPECT_EQ(*store->Discard("orders-sink", 1), 1u);
  EXPECT_EQ(*store->Discard("orders-sink", 1), 0u);
  EXPECT_EQ(*store->Discard("orders-sink", 100), 0u) << "another sink's message";
  EXPECT_EQ(*store->DiscardFailing("orders-sink"), 2u);
  EXPECT_EQ(Ids(*store->LoadPage("orders-sink", 0, 10)), (std::vector<uint64_t>{3, 5}));
  EXPECT_EQ(*store->DiscardAll("orders-sink"), 2u);
  EXPECT_TRUE(store->LoadPage("orders-sink", 0, 10)->messages.empty());
  EXPECT_EQ(Ids(*store->LoadPage("other", 0, 10)), (std::vector<uint64_t>{100}));
}

TEST(MessageStore, RedeliversOneOrAllFailingNow) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  std::vector<StoredMessage> batch = {Msg(1, "a"), Msg(2, "b"), Msg(3, "c")};
  for (StoredMessage& m : batch) m.not_before = At(9'000'000);
  batch[0].deliver_count = 4;
  batch[1].deliver_count = 1;
  ASSERT_TRUE(store->Put(batch).ok());
  ASSERT_TRUE(store->Put(std::vector{Msg(10, "a", 0, 0, "other")}).ok());
  ASSERT_TRUE(store->RecordAttempts(std::vector<StoredAttempt>{{10, 1, "x", At(9'000'000)}}).ok());

  EXPECT_TRUE(store->LoadDueGroupHeads("orders-sink", At(100), 0, 10)->messages.empty());
  EXPECT_EQ(*store->RedeliverNow("orders-sink", 2), 1u);
  EXPECT_EQ(Ids(*store->LoadDueGroupHeads("orders-sink", At(100), 0, 10)),
            (std::vector<uint64_t>{2}));
  EXPECT_EQ(*store->RedeliverFailing("orders-sink"), 2u);
  EXPECT_EQ(Ids(*store->LoadDueGroupHeads("orders-sink", At(100), 0, 10)),
            (std::vector<uint64_t>{1, 2}));
  auto one = store->Get("orders-sink", 1);
  EXPECT_EQ((*one)->deliver_count, 4) << "redelivery keeps the deliver count";
  EXPECT_TRUE(store->LoadDueGroupHeads("other", At(100), 0, 10)->messages.empty());
}

TEST(MessageStore, KeepsMessagesAcrossCloseAndReopen) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Put(std::vector{Msg(41, "a"), Msg(42, "b")}).ok());
    ASSERT_TRUE(
        store->RecordAttempts(std::vector<StoredAttempt>{{41, 2, "oversize", At(123)}}).ok());
    EXPECT_EQ(*store->MaxId(), 42u);
  }
  EXPECT_TRUE(fs::exists(dir.path() / "store.sqlite3"));
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  auto page = store->LoadPage("orders-sink", 0, 10);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(Ids(*page), (std::vector<uint64_t>{41, 42}));
  EXPECT_EQ(page->messages[0].deliver_count, 2);
  EXPECT_EQ(page->messages[0].last_error, "oversize");
  EXPECT_EQ(*store->MaxId(), 42u);
}

TEST(MessageStore, MaxIdIsZeroWhenEmpty) {
  TempDir dir;
  auto store = OpenStore(dir.path() / "nested" / "data");
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->MaxId(), 0u);
  EXPECT_TRUE(store->Sinks()->empty());
}

TEST(MessageStore, IsolatesSinks) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  // Same group and same change (one transaction goes to both sinks).
  ASSERT_TRUE(store->Put(std::vector{Msg(1, "a", 500, 0, "s1"), Msg(2, "a", 500, 0, "s2")}).ok());

  EXPECT_EQ((*store->GroupHead("s1", "a"))->id, 1u);
  EXPECT_EQ((*store->GroupHead("s2", "a"))->id, 2u);
  EXPECT_FALSE(store->Get("s1", 2)->has_value());
  EXPECT_EQ(*store->DiscardAll("s1"), 1u);
  EXPECT_FALSE(*store->HasGroup("s1", "a"));
  EXPECT_TRUE(*store->HasGroup("s2", "a"));
  EXPECT_EQ(*store->Sinks(), (std::vector<std::string>{"s2"}));
}

TEST(MessageStore, SkipsAChangeAlreadyStoredWhenPostgresReplaysIt) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put(std::vector{Msg(1, "a", 700, 3)}).ok());
  // After a restart the same change comes again with a new, higher id.
  auto put = store->Put(std::vector{Msg(1001, "a", 700, 3), Msg(1002, "a", 700, 4)});
  ASSERT_TRUE(put.ok()) << put.error().message();
  EXPECT_EQ(*put, 1u);
  EXPECT_EQ(Ids(*store->LoadPage("orders-sink", 0, 10)), (std::vector<uint64_t>{1, 1002}));
}

TEST(MessageStore, RejectsADuplicateIdAndWritesNothingOfTheBatch) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put(std::vector{Msg(2, "a")}).ok());
  auto put = store->Put(std::vector{Msg(1, "b"), Msg(2, "c", 9999)});
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(put.error().message().find("message id 2 is already stored"), std::string::npos)
      << put.error().message();
  EXPECT_EQ(Ids(*store->LoadPage("orders-sink", 0, 10)), (std::vector<uint64_t>{2}));
  // The store is still usable after the rollback.
  EXPECT_TRUE(store->Put(std::vector{Msg(3, "b")}).ok());
}

TEST(MessageStore, ReportsADataDirThatCannotBeCreated) {
  TempDir dir;
  fs::path file = dir.path() / "not-a-dir";
  std::ofstream(file) << "x";
  auto store = MessageStore::Open({file / "data"});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kIo);
  EXPECT_NE(store.error().message().find((file / "data").string()), std::string::npos)
      << store.error().message();
}

TEST(MessageStore, ReportsAFileThatIsNotSqlite) {
  TempDir dir;
  fs::path file = dir.path() / "store.sqlite3";
  std::ofstream(file) << std::string(4096, 'z');
  auto store = MessageStore::Open({dir.path()});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message().find(file.string()), std::string::npos);
  EXPECT_NE(store.error().message().find("is not a SQLite database"), std::string::npos)
      << store.error().message();
}

TEST(MessageStore, ReportsASqliteFileThatIsNotASluiceStore) {
  TempDir dir;
  RawExec(dir.path() / "store.sqlite3", "CREATE TABLE photos (id INTEGER PRIMARY KEY)");
  auto store = MessageStore::Open({dir.path()});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message().find("not a sluice message store"), std::string::npos)
      << store.error().message();
}

TEST(MessageStore, ReportsANewerSchemaVersion) {
  TempDir dir;
  { ASSERT_TRUE(OpenStore(dir.path())); }
  RawExec(dir.path() / "store.sqlite3", "PRAGMA user_version = 99");
  auto store = MessageStore::Open({dir.path()});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message().find("schema version 99, newer than this sluice supports"),
            std::string::npos)
      << store.error().message();
  EXPECT_NE(store.error().message().find((dir.path() / "store.sqlite3").string()),
            std::string::npos);
}

TEST(MessageStore, MigratesAVersionOneStoreKeepingItsMessages) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Put(std::vector<StoredMessage>{Msg(7, "g")}).ok());
  }
  // What a version 1 store looks like: no backfills table.
  RawExec(dir.path() / "store.sqlite3", "DROP TABLE backfills; PRAGMA user_version = 1");
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  auto kept = store->Get("orders-sink", 7);
  ASSERT_TRUE(kept.ok() && kept->has_value()) << "messages survive the migration";
  auto none = store->Backfills("orders-sink");
  ASSERT_TRUE(none.ok()) << none.error().message();
  EXPECT_TRUE(none->empty());
}

TEST(MessageStore, RecordsBackfillsNewestFirstAndUpdatesTheirProgress) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  BackfillRecord first;
  first.sink = "orders-sink";
  first.table = "public.orders";
  first.origin = "config";
  first.state = "running";
  first.created_at = first.updated_at = WallTime(std::chrono::milliseconds(1000));
  auto id1 = store->CreateBackfill(first);
  ASSERT_TRUE(id1.ok()) << id1.error().message();
  BackfillRecord second = first;
  second.table = "public.events";
  second.sort_column = "created_at";
  second.start_position = "2026-01-01";
  second.origin = "api";
  auto id2 = store->CreateBackfill(second);
  ASSERT_TRUE(id2.ok());
  EXPECT_GT(*id2, *id1);
  BackfillRecord other = first;
  other.sink = "other-sink";
  ASSERT_TRUE(store->CreateBackfill(other).ok());

  first.id = *id1;
  first.state = "done";
  first.last_key = R"(["42",null])";
  first.rows_done = 42;
  first.rows_estimate = 40;
  first.updated_at = WallTime(std::chrono::milliseconds(5000));
  first.finished_at = WallTime(std::chrono::milliseconds(5000));
  ASSERT_TRUE(store->UpdateBackfill(first).ok());

  auto list = store->Backfills("orders-sink");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u) << "only this sink's";
  const BackfillRecord& newest = (*list)[0];
  EXPECT_EQ(newest.id, *id2);
  EXPECT_EQ(newest.sort_column, "created_at");
  EXPECT_EQ(newest.start_position, std::optional<std::string>("2026-01-01"));
  EXPECT_EQ(newest.origin, "api");
  EXPECT_FALSE(newest.finished_at.has_value());
  const BackfillRecord& done = (*list)[1];
  EXPECT_EQ(done.state, "done");
  EXPECT_EQ(done.last_key, R"(["42",null])");
  EXPECT_EQ(done.rows_done, 42u);
  EXPECT_EQ(done.rows_estimate, 40u);
  EXPECT_FALSE(done.start_position.has_value());
  EXPECT_EQ(done.finished_at, std::optional<WallTime>(WallTime(std::chrono::milliseconds(5000))));
  EXPECT_EQ(done.created_at, WallTime(std::chrono::milliseconds(1000)));
}

TEST(MessageStore, RefusesASecondOpenOfTheSameStore) {
  TempDir dir;
  auto first = OpenStore(dir.path());
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->Put(std::vector{Msg(1, "a")}).ok());
  auto second = MessageStore::Open({dir.path()});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message().find("in use by another process"), std::string::npos)
      << second.error().message();
  EXPECT_TRUE(first->HasGroup("orders-sink", "a").ok());
}

TEST(MessageStore, QuickCheckReportsACorruptStore) {
  TempDir dir;
  fs::path file = dir.path() / "store.sqlite3";
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store);
    std::vector<StoredMessage> batch;
    for (uint64_t id = 1; id <= 2000; ++id) {
      batch.push_back(Msg(id, "g" + std::to_string(id), 0, 0, "s", std::string(200, 'p')));
    }
    ASSERT_TRUE(store->Put(batch).ok());
  }  // closing checkpoints the WAL into the main file
  uintmax_t size = fs::file_size(file);
  ASSERT_GT(size, 16u * 4096u);
  {
    // Overwrite pages in the middle (not the header) with garbage.
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
    std::string junk(3 * 4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto store = MessageStore::Open({dir.path(), StoreSync::kFull, StoreIntegrityCheck::kQuick});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message().find("is corrupt"), std::string::npos)
      << store.error().message();
  EXPECT_NE(store.error().message().find(file.string()), std::string::npos);
}

// A child process stores batches and reports each one Put acknowledged on a
// pipe; the parent kills it with SIGKILL at an arbitrary point (likely in the
// middle of a transaction). Every acknowledged batch must be there after
// reopening, and no batch may be there in part.
TEST(MessageStore, KeepsEveryAcknowledgedBatchWhenTheProcessIsKilled) {
  TempDir dir;
  constexpr uint64_t kBatch = 50;
  constexpr uint32_t kMaxBatches = 100000;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    auto store = MessageStore::Open({dir.path(), StoreSync::kNormal});
    if (!store.ok()) _exit(2);
    for (uint32_t b = 0; b < kMaxBatches; ++b) {
      std::vector<StoredMessage> batch;
      for (uint64_t i = 0; i < kBatch; ++i) {
        uint64_t id = b * kBatch + i + 1;
        batch.push_back(Msg(id, "g" + std::to_string(id % 11), 0, 0, "s", std::string(300, 'q')));
      }
      if (!(*store)->Put(batch).ok()) _exit(3);
      if (write(fds[1], &b, sizeof b) != sizeof b) _exit(4);
    }
    _exit(0);
  }
  close(fds[1]);
  std::set<uint32_t> acked;
  uint32_t b = 0;
  while (acked.size() < 25 && read(fds[0], &b, sizeof b) == sizeof b) acked.insert(b);
  ASSERT_EQ(acked.size(), 25u) << "the child stopped early";
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child exited with " << WEXITSTATUS(status);
  // Acknowledgements written before the kill are still in the pipe.
  while (read(fds[0], &b, sizeof b) == sizeof b) acked.insert(b);
  close(fds[0]);

  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  std::vector<uint64_t> per_batch(*acked.rbegin() + 2, 0);
  uint64_t cursor = 0;
  while (true) {
    auto page = store->LoadPage("s", cursor, 1000);
    ASSERT_TRUE(page.ok()) << page.error().message();
    for (const StoredMessage& m : page->messages) {
      uint64_t batch = (m.id - 1) / kBatch;
      ASSERT_LT(batch, per_batch.size()) << "more batches than acknowledged plus one";
      ++per_batch[batch];
    }
    cursor = page->next_after;
    if (!page->more) break;
  }
  for (uint32_t a : acked) EXPECT_EQ(per_batch[a], kBatch) << "acknowledged batch " << a;
  for (size_t i = 0; i < per_batch.size(); ++i) {
    EXPECT_TRUE(per_batch[i] == 0 || per_batch[i] == kBatch) << "batch " << i << " is partial";
  }
}

}  // namespace
}  // namespace sluice::delivery
