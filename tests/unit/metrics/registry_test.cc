#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sluice::metrics {
namespace {

constexpr int kThreads = 4;
constexpr int kPerThread = 100000;

void RunThreads(int count, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int t = 0; t < count; ++t) threads.emplace_back(body, t);
  for (auto& thread : threads) thread.join();
}

TEST(Counter, AddsIncrements) {
  Registry registry;
  Counter& c = registry.AddCounter("sluice_x_total", "X.").WithLabels({});
  EXPECT_EQ(c.Value(), 0u);
  c.Increment();
  c.Increment(41);
  EXPECT_EQ(c.Value(), 42u);
}

TEST(CounterFamily, SameLabelValuesGiveSameCounter) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("sluice_x_total", "X.", {"sink"});
  Counter& orders = family.WithLabels({"orders"});
  Counter& users = family.WithLabels({"users"});
  EXPECT_EQ(&orders, &family.WithLabels({"orders"}));
  EXPECT_NE(&orders, &users);
  orders.Increment(3);
  EXPECT_EQ(users.Value(), 0u);
}

TEST(CounterFamily, WrongNumberOfLabelValuesThrows) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("sluice_x_total", "X.", {"sink", "stream"});
  EXPECT_THROW(family.WithLabels({"orders"}), std::invalid_argument);
  EXPECT_THROW(family.WithLabels({"a", "b", "c"}), std::invalid_argument);
  EXPECT_NO_THROW(family.WithLabels({"a", "b"}));
}

TEST(Registry, ReRegisteringTheSameFamilyReturnsIt) {
  Registry registry;
  CounterFamily& a = registry.AddCounter("sluice_x_total", "X.", {"sink"});
  CounterFamily& b = registry.AddCounter("sluice_x_total", "X.", {"sink"});
  EXPECT_EQ(&a, &b);
  HistogramFamily& h1 = registry.AddHistogram("sluice_h_seconds", "H.", {}, {1, 2});
  HistogramFamily& h2 = registry.AddHistogram("sluice_h_seconds", "H.", {}, {1, 2});
  EXPECT_EQ(&h1, &h2);
}

TEST(Registry, ReRegisteringWithADifferentShapeThrows) {
  Registry registry;
  registry.AddCounter("sluice_x_total", "X.", {"sink"});
  EXPECT_THROW(registry.AddGauge("sluice_x_total", "X.", {"sink"}), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("sluice_x_total", "Other help.", {"sink"}),
               std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("sluice_x_total", "X.", {"stream"}), std::invalid_argument);
  registry.AddHistogram("sluice_h_seconds", "H.", {}, {1, 2});
  EXPECT_THROW(registry.AddHistogram("sluice_h_seconds", "H.", {}, {1, 3}), std::invalid_argument);
}

TEST(Registry, RejectsSeriesNamesAnotherFamilyWrites) {
  Registry registry;
  registry.AddHistogram("sluice_latency_seconds", "L.", {}, {1});
  EXPECT_THROW(registry.AddCounter("sluice_latency_seconds_count", "C."), std::invalid_argument);
  EXPECT_THROW(registry.AddGauge("sluice_latency_seconds_sum", "S."), std::invalid_argument);
  registry.AddGauge("sluice_size_bucket", "B.");
  EXPECT_THROW(registry.AddHistogram("sluice_size", "S.", {}, {1}), std::invalid_argument);
}

TEST(Registry, RejectsInvalidNames) {
  Registry registry;
  EXPECT_THROW(registry.AddCounter("", "X."), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("1st_total", "X."), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("sluice-x_total", "X."), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("sluice_x_total", "X.", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("sluice_x_total", "X.", {"has:colon"}), std::invalid_argument);
  EXPECT_THROW(registry.AddCounter("sluice_x_total", "X.", {"sink", "sink"}),
               std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("sluice_h", "H.", {"le"}, {1}), std::invalid_argument);
  EXPECT_NO_THROW(registry.AddGauge("sluice:recorded_ratio", "X.", {"le", "_sink2"}));
}

TEST(Registry, ErrorNamesTheMetric) {
  Registry registry;
  try {
    registry.AddCounter("sluice_x_total", "X.", {"bad-label"});
    FAIL() << "expected a throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sluice_x_total"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad-label"), std::string::npos) << e.what();
  }
}

TEST(Gauge, SetsAddsAndSubtracts) {
  Registry registry;
  Gauge& g = registry.AddGauge("sluice_in_flight", "G.", {"sink"}).WithLabels({"orders"});
  g.Set(10);
  g.Increment();
  g.Decrement();
  g.Decrement();
  g.Add(0.5);
  EXPECT_DOUBLE_EQ(g.Value(), 9.5);
  g.Set(-3);
  EXPECT_DOUBLE_EQ(g.Value(), -3);
}

TEST(GaugeFamily, CallbackIsReadAtSnapshot) {
  Registry registry;
  GaugeFamily& family = registry.AddGauge("sluice_lag_bytes", "Lag.", {"database"});
  double lag = 100;
  family.AddCallback({"app"}, [&lag] { return lag; });
  lag = 2048;
  std::vector<FamilySnapshot> snap = registry.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  ASSERT_EQ(snap[0].metrics.size(), 1u);
  EXPECT_EQ(snap[0].metrics[0].label_values, std::vector<std::string>{"app"});
  EXPECT_EQ(snap[0].metrics[0].value, 2048);
}

TEST(GaugeFamily, CallbackAndGaugeCannotShareLabelValues) {
  Registry registry;
  GaugeFamily& family = registry.AddGauge("sluice_lag_bytes", "Lag.", {"database"});
  family.AddCallback({"app"}, [] { return 1.0; });
  EXPECT_THROW(family.WithLabels({"app"}), std::invalid_argument);
  EXPECT_THROW(family.AddCallback({"app"}, [] { return 2.0; }), std::invalid_argument);
  family.WithLabels({"other"});
  EXPECT_THROW(family.AddCallback({"other"}, [] { return 2.0; }), std::invalid_argument);
  EXPECT_THROW(family.AddCallback({"third"}, nullptr), std::invalid_argument);
}

TEST(Histogram, BoundsAreInclusiveAndCountsCumulative) {
  Registry registry;
  Histogram& h = registry.AddHistogram("sluice_h", "H.", {}, {1, 2, 5}).WithLabels({});
  for (double v : {0.5, 1.0, 1.5, 2.0, 5.0, 6.0, -1.0}) h.Observe(v);
  Histogram::Snapshot snap = h.Read();
  EXPECT_EQ(snap.cumulative_counts, (std::vector<uint64_t>{3, 5, 6, 7}));
  EXPECT_EQ(snap.count, 7u);
  EXPECT_DOUBLE_EQ(snap.sum, 15.0);
}

TEST(Histogram, WithoutBoundsHasOnlyTheInfBucket) {
  Registry registry;
  Histogram& h = registry.AddHistogram("sluice_h", "H.", {}, {}).WithLabels({});
  h.Observe(3);
  EXPECT_EQ(h.Read().cumulative_counts, std::vector<uint64_t>{1});
}

TEST(Histogram, NanCountsInInfBucketAndPoisonsSum) {
  Registry registry;
  Histogram& h = registry.AddHistogram("sluice_h", "H.", {}, {1}).WithLabels({});
  h.Observe(0.5);
  h.Observe(std::nan(""));
  Histogram::Snapshot snap = h.Read();
  EXPECT_EQ(snap.cumulative_counts, (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(std::isnan(snap.sum));
}

TEST(Histogram, ObservesDurationsInSeconds) {
  Registry registry;
  Histogram& h = registry.AddHistogram("sluice_h_seconds", "H.", {}, {0.1, 1}).WithLabels({});
  h.ObserveDuration(std::chrono::milliseconds(250));
  h.ObserveDuration(std::chrono::microseconds(50));
  Histogram::Snapshot snap = h.Read();
  EXPECT_EQ(snap.cumulative_counts, (std::vector<uint64_t>{1, 2, 2}));
  EXPECT_DOUBLE_EQ(snap.sum, 0.25005);
}

TEST(HistogramFamily, RejectsBadBounds) {
  Registry registry;
  EXPECT_THROW(registry.AddHistogram("sluice_a", "H.", {}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("sluice_b", "H.", {}, {2, 1}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("sluice_c", "H.", {}, {1, INFINITY}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("sluice_d", "H.", {}, {NAN}), std::invalid_argument);
}

TEST(ExponentialBuckets, MultipliesFromStart) {
  EXPECT_EQ(ExponentialBuckets(0.5, 2, 4), (std::vector<double>{0.5, 1, 2, 4}));
  EXPECT_THROW(ExponentialBuckets(0, 2, 4), std::invalid_argument);
  EXPECT_THROW(ExponentialBuckets(1, 1, 4), std::invalid_argument);
  EXPECT_THROW(ExponentialBuckets(1, 2, 0), std::invalid_argument);
}

TEST(Registry, SnapshotSortsFamiliesAndMetricsAndSkipsEmptyFamilies) {
  Registry registry;
  registry.AddCounter("sluice_z_total", "Z.", {"sink"}).WithLabels({"b"}).Increment(2);
  registry.AddCounter("sluice_z_total", "Z.", {"sink"}).WithLabels({"a"}).Increment(1);
  registry.AddGauge("sluice_a", "A.").WithLabels({}).Set(7);
  registry.AddGauge("sluice_empty", "No metrics yet.", {"sink"});
  std::vector<FamilySnapshot> snap = registry.Snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].name, "sluice_a");
  EXPECT_EQ(snap[0].type, MetricType::kGauge);
  EXPECT_EQ(snap[1].name, "sluice_z_total");
  EXPECT_EQ(snap[1].help, "Z.");
  EXPECT_EQ(snap[1].label_names, std::vector<std::string>{"sink"});
  ASSERT_EQ(snap[1].metrics.size(), 2u);
  EXPECT_EQ(snap[1].metrics[0].label_values, std::vector<std::string>{"a"});
  EXPECT_EQ(snap[1].metrics[0].value, 1);
  EXPECT_EQ(snap[1].metrics[1].value, 2);
}

TEST(Registry, IllFormedUtf8InLabelValuesIsReplaced) {
  Registry registry;
  registry.AddCounter("sluice_x_total", "X.", {"table"}).WithLabels({"caf\xC3\xA9\xFF"});
  std::vector<FamilySnapshot> snap = registry.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].metrics[0].label_values[0], "caf\xC3\xA9\xEF\xBF\xBD");
}

TEST(Counter, ConcurrentIncrementsAreAllCounted) {
  Registry registry;
  Counter& c = registry.AddCounter("sluice_x_total", "X.").WithLabels({});
  RunThreads(kThreads, [&c](int) {
    for (int i = 0; i < kPerThread; ++i) c.Increment();
  });
  EXPECT_EQ(c.Value(), uint64_t{kThreads} * kPerThread);
}

TEST(Gauge, ConcurrentAddsAreAllCounted) {
  Registry registry;
  Gauge& g = registry.AddGauge("sluice_g", "G.").WithLabels({});
  RunThreads(kThreads, [&g](int t) {
    for (int i = 0; i < kPerThread; ++i) {
      g.Increment();
      if (t % 2 == 1) g.Add(2);
    }
  });
  EXPECT_EQ(g.Value(), double{kThreads} * kPerThread + 2.0 * (kThreads / 2) * kPerThread);
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
  Registry registry;
  Histogram& h = registry.AddHistogram("sluice_h", "H.", {}, {1, 10}).WithLabels({});
  // Thread t observes t+1 (integers: the sum is exact in a double).
  RunThreads(kThreads, [&h](int t) {
    for (int i = 0; i < kPerThread; ++i) h.Observe(t + 1);
  });
  Histogram::Snapshot snap = h.Read();
  EXPECT_EQ(snap.cumulative_counts,
            (std::vector<uint64_t>{kPerThread, uint64_t{kThreads} * kPerThread,
                                   uint64_t{kThreads} * kPerThread}));
  EXPECT_EQ(snap.sum, double{kPerThread} * (1 + 2 + 3 + 4));
}

TEST(CounterFamily, ConcurrentRegistrationAndUpdatesAgree) {
  Registry registry;
  std::vector<Counter*> seen(kThreads);
  RunThreads(kThreads, [&](int t) {
    CounterFamily& family = registry.AddCounter("sluice_x_total", "X.", {"sink"});
    seen[t] = &family.WithLabels({"orders"});
    for (int i = 0; i < kPerThread; ++i) {
      seen[t]->Increment();
      family.WithLabels({t % 2 == 0 ? "even" : "odd"}).Increment();
    }
  });
  for (Counter* c : seen) EXPECT_EQ(c, seen[0]);
  std::vector<FamilySnapshot> snap = registry.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  ASSERT_EQ(snap[0].metrics.size(), 3u);  // even, odd, orders
  EXPECT_EQ(snap[0].metrics[0].value, double{kThreads / 2} * kPerThread);
  EXPECT_EQ(snap[0].metrics[1].value, double{kThreads / 2} * kPerThread);
  EXPECT_EQ(snap[0].metrics[2].value, double{kThreads} * kPerThread);
}

TEST(Counter, ReadsDuringIncrementsNeverGoBackwards) {
  Registry registry;
  Counter& c = registry.AddCounter("sluice_x_total", "X.").WithLabels({});
  std::atomic<bool> done{false};
  std::thread reader([&] {
    uint64_t last = 0;
    while (!done.load()) {
      uint64_t now = c.Value();
      EXPECT_GE(now, last);
      last = now;
    }
  });
  RunThreads(2, [&c](int) {
    for (int i = 0; i < kPerThread; ++i) c.Increment();
  });
  done = true;
  reader.join();
  EXPECT_EQ(c.Value(), 2u * kPerThread);
}

}  // namespace
}  // namespace sluice::metrics
