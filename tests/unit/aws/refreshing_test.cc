#include "aws/refreshing.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <sstream>
#include <thread>

#include "aws/credential_parsing.h"
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
  void Invalidate(const std::string& access_key_id) override {
    invalidated.push_back(access_key_id);
  }
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
  std::vector<std::string> invalidated;

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

// Backoffs in these tests: jitter 0.5 puts a renewal backoff at 20 s (10-30 s).
RefreshOptions Options(double jitter = 0.5) {
  RefreshOptions options;
  options.jitter = [jitter] { return jitter; };
  return options;
}

struct Harness {
  FakeClock clock;
  QueueProvider* inner;
  std::unique_ptr<RefreshingCredentialsProvider> provider;
  explicit Harness(RefreshOptions options = Options()) {
    auto q = std::make_unique<QueueProvider>();
    inner = q.get();
    provider =
        std::make_unique<RefreshingCredentialsProvider>(std::move(q), clock, std::move(options));
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
  h.provider->Invalidate("STATIC");
  EXPECT_EQ(h.inner->invalidated, std::vector<std::string>{"STATIC"});
  EXPECT_EQ(h.Key(), "NEW");
}

TEST(RefreshingCredentials, InvalidateForcesAFetchAndNeverReturnsTheRejectedOnes) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
  h.provider->Invalidate("A");
  h.inner->Push(Error(ErrorCode::kUnavailable, "STS down"));
  // The fetch fails: the rejected credentials are not handed out again.
  EXPECT_EQ(h.Key(), "error: STS down");
  h.clock.Advance(seconds(1));
  h.inner->Push(Temp("B", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "B");
  EXPECT_EQ(h.inner->fetch_count(), 3);
}

TEST(RefreshingCredentials, InvalidateNamingOtherCredentialsIsIgnored) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(10))));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(minutes(6));  // inside the window: renewed
  h.inner->Push(Temp("B", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "B");
  // A late ExpiredToken answering a request signed with A.
  h.provider->Invalidate("A");
  EXPECT_EQ(h.Key(), "B");
  EXPECT_EQ(h.inner->fetch_count(), 2);
  EXPECT_TRUE(h.inner->invalidated.empty());
  // B itself rejected: dropped and refetched.
  h.provider->Invalidate("B");
  h.inner->Push(Temp("C", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "C");
  EXPECT_EQ(h.inner->fetch_count(), 3);
  EXPECT_EQ(h.inner->invalidated, std::vector<std::string>{"B"});
}

TEST(RefreshingCredentials, InvalidateWithNothingCachedIsIgnored) {
  Harness h;
  h.provider->Invalidate("A");
  EXPECT_TRUE(h.inner->invalidated.empty());
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
}

// Captures what the process logger writes while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  int Count(const std::string& needle) const {
    const std::string text = out_.str();
    int n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
      ++n;
    }
    return n;
  }
  std::string Text() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

TEST(RefreshingCredentials, FailedRenewalKeepsCurrentCredentialsAndBacksOff) {
  LogCapture log;
  Harness h;  // renewal backoff 20 s
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(minutes(57));  // 3 minutes left
  h.inner->Push(Error(ErrorCode::kNetwork, "container: connection refused"));
  EXPECT_EQ(h.Key(), "A");
  EXPECT_EQ(h.inner->fetch_count(), 2);
  EXPECT_EQ(log.Count("renewal failed"), 1);
  EXPECT_NE(log.Text().find("queue (test): renewal failed, still using the current ones"),
            std::string::npos)
      << log.Text();
  EXPECT_NE(log.Text().find("container: connection refused"), std::string::npos);
  // Inside the backoff: the current credentials, no fetch, no new warning.
  for (int i = 0; i < 19; ++i) {
    EXPECT_EQ(h.Key(), "A");
    h.clock.Advance(seconds(1));
  }
  EXPECT_EQ(h.inner->fetch_count(), 2);
  EXPECT_EQ(log.Count("renewal failed"), 1);
  // 20 s after the failure: one more attempt, which fails again: one warning.
  h.clock.Advance(seconds(1));
  h.inner->Push(Error(ErrorCode::kNetwork, "container: connection refused"));
  EXPECT_EQ(h.Key(), "A");
  EXPECT_EQ(h.Key(), "A");
  EXPECT_EQ(h.inner->fetch_count(), 3);
  EXPECT_EQ(log.Count("renewal failed"), 2);
  h.clock.Advance(seconds(20));
  h.inner->Push(Temp("B", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "B");
  EXPECT_EQ(h.inner->fetch_count(), 4);
  EXPECT_EQ(log.Count("renewal failed"), 2);
}

TEST(RefreshingCredentials, RenewalBackoffIsJitteredBetweenMinAndMax) {
  for (const auto& [jitter, backoff] :
       std::vector<std::pair<double, seconds>>{{0.0, seconds(10)}, {1.0, seconds(30)}}) {
    SCOPED_TRACE(jitter);
    Harness h(Options(jitter));
    h.inner->Push(Temp("A", h.In(minutes(60))));
    EXPECT_EQ(h.Key(), "A");
    h.clock.Advance(minutes(56));
    h.inner->Push(Error(ErrorCode::kNetwork, "down"));
    EXPECT_EQ(h.Key(), "A");
    h.clock.Advance(backoff - seconds(1));
    EXPECT_EQ(h.Key(), "A");
    EXPECT_EQ(h.inner->fetch_count(), 2);
    h.clock.Advance(seconds(1));
    h.inner->Push(Temp("B", h.In(minutes(60))));
    EXPECT_EQ(h.Key(), "B");
    EXPECT_EQ(h.inner->fetch_count(), 3);
  }
}

TEST(RefreshingCredentials, CredentialsThatBecomeUnusableDuringABackoffAreFetchedOnDemand) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(minutes(58) + seconds(50));  // 70 s left
  h.inner->Push(Error(ErrorCode::kNetwork, "down"));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(seconds(11));  // 59 s left, 11 s into a 20 s backoff
  h.inner->Push(Temp("B", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "B");
  EXPECT_EQ(h.inner->fetch_count(), 3);
}

TEST(RefreshingCredentials, WithNothingUsableFetchesAtMostOncePerRetryInterval) {
  Harness h;
  h.inner->Push(Error(ErrorCode::kUnavailable, "container: HTTP 500"));
  EXPECT_EQ(h.Key(), "error: container: HTTP 500");
  h.clock.Advance(std::chrono::milliseconds(999));
  EXPECT_EQ(h.Key(), "error: container: HTTP 500");  // the last error, no fetch
  EXPECT_EQ(h.inner->fetch_count(), 1);
  h.clock.Advance(std::chrono::milliseconds(1));
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
  EXPECT_EQ(h.inner->fetch_count(), 2);
}

TEST(RefreshingCredentials, FetchedCredentialsExpiringWithinMinValidityAreNotHandedOut) {
  Harness h;
  h.inner->Push(Temp("SHORT", h.In(seconds(30))));
  auto c = h.provider->Get();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kAuth);
  EXPECT_EQ(c.error().message(), "queue (test): the credentials fetched expire at " +
                                     FormatIso8601(h.In(seconds(30))) + ", within 60 s");
  // Not cached: a second later the provider is asked again.
  h.clock.Advance(seconds(1));
  h.inner->Push(Temp("A", h.In(minutes(60))));
  EXPECT_EQ(h.Key(), "A");
}

TEST(RefreshingCredentials, ExpiredFetchDuringRenewalKeepsTheCurrentOnes) {
  Harness h;
  h.inner->Push(Temp("A", h.In(minutes(10))));
  EXPECT_EQ(h.Key(), "A");
  h.clock.Advance(minutes(6));
  h.inner->Push(Temp("STALE", h.In(seconds(10))));  // a misbehaving endpoint
  EXPECT_EQ(h.Key(), "A");
  EXPECT_EQ(h.Key(), "A");
  EXPECT_EQ(h.inner->fetch_count(), 2);
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

TEST(RefreshingCredentials, FetcherAndWaitersGetTheSameOutcome) {
  Harness h;
  h.inner->Hold();
  h.inner->Push(Temp("SHORT", h.In(seconds(30))));  // not usable
  std::vector<std::thread> threads;
  std::vector<std::string> keys(4);
  for (size_t i = 0; i < keys.size(); ++i) {
    threads.emplace_back([&, i] { keys[i] = h.Key(); });
  }
  h.inner->WaitUntilFetching(1);
  h.inner->Release();
  for (auto& t : threads) t.join();
  // Waiters, and callers that came after the fetch within the retry interval,
  // all see what the fetching caller saw.
  for (const auto& k : keys) {
    EXPECT_EQ(k, "error: queue (test): the credentials fetched expire at " +
                     FormatIso8601(h.In(seconds(30))) + ", within 60 s");
  }
  EXPECT_EQ(h.inner->fetch_count(), 1);
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
