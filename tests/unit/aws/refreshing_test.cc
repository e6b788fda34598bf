#include "aws/refreshing.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <thread>

#include "support/fake_clock.h"

namespace sluice::aws {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using testing_support::FakeClock;

// Answers Get() from a queue; counts fetches and invalidations.
class QueueProvider final : public CredentialsProvider {
 public:
  void Push(Result<Credentials> r) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(r));
  }
  Result<Credentials> Get() override {
    std::unique_lock<std::mutex> lock(mu_);
    ++fetches;
    entered_.notify_all();
    released_cv_.wait(lock, [&] { return !hold_; });
    if (queue_.empty()) return Error(ErrorCode::kUnavailable, "queue empty");
    auto r = std::move(queue_.front());
    queue_.pop_front();
    return r;
  }
  void Invalidate() override { ++invalidations; }
  std::string Name() const override { return "queue"; }
  std::string Describe() const override { return "queue (test)"; }

  // Makes Get() block until Release().
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void WaitUntilFetching(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    entered_.wait(lock, [&] { return fetches >= n; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    released_cv_.notify_all();
  }
  int fetch_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return fetches;
  }

  int fetches = 0;  // GUARDED_BY(mu_)
  int invalidations = 0;

 private:
  std::mutex mu_;
  std::condition_variable entered_, released_cv_;
  bool hold_ = false;
  std::deque<Result<Credentials>> queue_;
};

Credentials Temp(const std::string& id, std::optional<WallTime> expiration) {
  Credentials c;
  c.access_key_id = id;
  c.secret_access_key = Secret("secret-" + id);
  c.session_token = Secret("token-" + id);
  c.expiration = expiration;
  return c;
}

struct Harness {
  FakeClock clock;
  QueueProvider* inner;
  std::unique_ptr<RefreshingCredentialsProvider> provider;
  Harness() {
    auto q = std::make_unique<QueueProvider>();
    inner = q.get();
    provider = std::make_unique<RefreshingCredentialsProvider>(std::move(q), clock);
  }
  WallTime In(std::chrono::seconds d) const { return clock.WallNow() + d; }
  std::string Key() {
    auto c = provider->Get();
    return c.ok() ? c->access_key_id : "error: " + c.error().message();
  }
};

TEST(RefreshingCredentials, ReusesCredentialsOutsideTheRefreshWindow) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(minutes(54));  // 6 minutes left: outside the 5-minute window
  EXPECT_EQ(h.Key(), "A");
  EXPECT_EQ(h.inner->fetch_count(), 1);
}

TEST(RefreshingCredentials, RenewsInsideTheRefreshWindow) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(60))));
  h.inner->Push(Temp("B", h.In(minutes(120))));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(minutes(55) + seconds(1));  // 4:59 left
  EXPECT_EQ(h.Key(), "B");
  EXPECT_EQ(h.Key(), "B");
  EXPECT_EQ(h.inner->fetch_count(), 2);
}

TEST(RefreshingCredentials, CredentialsWithoutExpirationAreKeptUntilInvalidated) {
  Harness h;
  h.inner->Push(Temp("STATIC", std::nullopt));
  h.inner->Push(Temp("NEW", std::nullopt));
  EXPECT_EQ(h.Key(), "STATIC");
  h.clock.Advance(std::chrono::hours(24 * 30));
  EXPECT_EQ(h.Key(), "STATIC");
  EXPECT_EQ(h.inner->fetch_count(), 1);
  h.provider->Invalidate();
  EXPECT_EQ(h.inner->invalidations, 1);
  EXPECT_EQ(h.Key(), "NEW");
}

TEST(RefreshingCredentials, InvalidateForcesAFetchAndNeverReturnsTheRejectedOnes) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
  h.provider->Invalidate();
  h.inner->Push(Error(ErrorCode::kUnavailable, "STS down"));
  // The fetch fails: the rejected credentials are not handed out again.
  EXPECT_EQ(h.Key(), "error: STS down");
  h.inner->Push(Temp("B", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "B");
  EXPECT_EQ(h.inner->fetch_count(), 3);
}

TEST(RefreshingCredentials, FailedRenewalKeepsStillValidCredentials) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(minutes(57));  // 3 minutes left
  h.inner->Push(Error(ErrorCode::kNetwork, "container: connection refused"));
  EXPECT_EQ(h.Key(), "A");
  // Every Get() inside the window tries again.
  h.inner->Push(Temp("B", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "B");
  EXPECT_EQ(h.inner->fetch_count(), 3);
}

TEST(RefreshingCredentials, NeverHandsOutCredentialsExpiringWithinAMinute) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(minutes(59) + seconds(1));  // 59 s left
  h.inner->Push(Error(ErrorCode::kNetwork, "IMDS unreachable"));
  EXPECT_EQ(h.Key(), "error: IMDS unreachable");
}

TEST(RefreshingCredentials, OthersKeepCurrentCredentialsWhileOneCallerRenews) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(10))));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(minutes(6));  // 4 minutes left: inside the window, still usable
  h.inner->Hold();
  h.inner->Push(Temp("B", h.In(minutes(60))));
  std::string renewer_key;
  std::thread renewer([&] { renewer_key = h.Key(); });
  h.inner->WaitUntilFetching(2);
  EXPECT_EQ(h.Key(), "A");  // not blocked, no second fetch
  EXPECT_EQ(h.inner->fetch_count(), 2);
  h.inner->Release();
  renewer.join();
  EXPECT_EQ(renewer_key, "B");
  EXPECT_EQ(h.Key(), "B");
}

TEST(RefreshingCredentials, ConcurrentFirstGetsCauseOneFetch) {
  Harness h;
  h.inner->Hold();
  h.inner->Push(Temp("A", h.In(minutes(60))));
  std::vector<std::thread> threads;
  std::vector<std::string> keys(8);
  for (size_t i = 0; i < keys.size(); ++i) {
    threads.emplace_back([&, i] { keys[i] = h.Key(); });
  }
  h.inner->WaitUntilFetching(1);
  h.inner->Release();
  for (auto& t : threads) t.join();
  for (const auto& k : keys) EXPECT_EQ(k, "A");
  EXPECT_EQ(h.inner->fetch_count(), 1);
}

TEST(RefreshingCredentials, DescribesTheInnerProvider) {
  Harness h;
  EXPECT_EQ(h.provider->Name(), "queue");
  EXPECT_EQ(h.provider->Describe(), "queue (test)");
}

}  // namespace
}  // namespace sluice::aws
