// Metrics registry: counters, gauges and histograms that /metrics exposes (SPEC §7).
//
// Why handles instead of a map from name and labels to a value: the delivery path updates
// metrics for every record, so an update must cost a few relaxed atomic operations and nothing
// else. Registration (when a sink is built) does the validation, the allocation and the lookups,
// and returns a reference the caller keeps:
//
//   Registry registry;
//   CounterFamily& delivered = registry.AddCounter(
//       "sluice_messages_delivered_total", "Messages Kinesis acknowledged.", {"sink"});
//   Counter& orders_delivered = delivered.WithLabels({"orders"});
//   ...
//   orders_delivered.Increment();  // hot path: one relaxed fetch_add, no lock, no allocation
//
// Counters and histograms are sharded: each thread writes to one of kShards cache lines, so
// threads on different cores do not fight over a line; reading sums the shards. Gauges are one
// atomic (Set must be a single value).
//
// Thread safety: every method of every class here may be called from any thread.
// Ownership and lifetimes: the Registry owns its families and their metrics; the references that
// registration returns stay valid until the Registry is destroyed. Nothing is ever removed (the
// label sets are sinks, streams and reasons: fixed by the config).
// Errors: invalid names, a label count that does not match, or re-registering a name with a
// different shape are bugs in the caller and throw std::invalid_argument naming the metric.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge", "histogram": the spelling of Prometheus TYPE lines.
const char* MetricTypeName(MetricType type);

namespace internal {

// Shards per counter or histogram. A thread keeps one shard for its life; threads are assigned
// round robin, so up to kShards writer threads never share a cache line.
inline constexpr size_t kShards = 8;

size_t AssignShard();

inline size_t ThisThreadShard() {
  constexpr size_t kUnassigned = ~size_t{0};
  thread_local size_t shard = kUnassigned;  // constant-initialized: no TLS guard per call
  if (shard == kUnassigned) [[unlikely]] {
    shard = AssignShard();
  }
  return shard;
}

// One cache line of eight 64-bit words.
struct alignas(64) Line {
  std::array<std::atomic<uint64_t>, 8> word{};
};

}  // namespace internal

// A monotonically increasing count of events (Prometheus counter).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(uint64_t n = 1) {
    cells_[internal::ThisThreadShard()].word[0].fetch_add(n, std::memory_order_relaxed);
  }

  // Sum of all increments that happened before this call (increments racing with it may or may
  // not be included).
  uint64_t Value() const;

 private:
  std::array<internal::Line, internal::kShards> cells_;
};

// A value that goes up and down (Prometheus gauge): in flight, waiting, lag.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Increment() { Add(1); }
  void Decrement() { Add(-1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts of observations in fixed buckets, with their sum (Prometheus histogram). Bucket upper
// bounds are inclusive (an observation equal to a bound counts in that bucket); an implicit +Inf
// bucket takes the rest, NaN included (NaN also makes the sum NaN, as Prometheus clients do).
class Histogram {
 public:
  // `upper_bounds` must outlive the histogram (it is the family's); created by HistogramFamily.
  explicit Histogram(std::span<const double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);

  // Observes a duration in seconds, the Prometheus base unit.
  template <typename Rep, typename Period>
  void ObserveDuration(std::chrono::duration<Rep, Period> duration) {
    Observe(std::chrono::duration<double>(duration).count());
  }

  struct Snapshot {
    std::vector<uint64_t> cumulative_counts;  // one per upper bound, then +Inf
    double sum = 0;
    uint64_t count = 0;  // == cumulative_counts.back()
  };
  // Like Counter::Value, concurrent observations may be partly included (a bucket counted, its
  // sum not yet added); counts are always cumulative and count equals the +Inf bucket.
  Snapshot Read() const;

 private:
  std::atomic<uint64_t>& Word(size_t shard, size_t index) const {
    return lines_[shard * lines_per_shard_ + index / 8].word[index % 8];
  }

  std::span<const double> upper_bounds_;
  size_t sum_index_;  // words 0..upper_bounds_.size() are bucket counts; then the sum's bits
  size_t lines_per_shard_;
  std::unique_ptr<internal::Line[]> lines_;
};

// Buckets start, start*factor, ... (count of them); e.g. ExponentialBuckets(0.005, 2, 12).
std::vector<double> ExponentialBuckets(double start, double factor, size_t count);

// One metric's values at a point in time, for the exposition renderer.
struct MetricSnapshot {
  std::vector<std::string> label_values;  // in the family's label_names order
  double value = 0;                       // counter, gauge
  Histogram::Snapshot histogram;          // histogram
};

struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<std::string> label_names;
  std::vector<double> upper_bounds;     // histogram only; +Inf implicit
  std::vector<MetricSnapshot> metrics;  // sorted by label values
};

// What all families share: name, HELP text, TYPE and label names.
class Family {
 public:
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

 protected:
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names);

  // Throws std::invalid_argument unless there is one value per label name; returns the values
  // with any ill-formed UTF-8 byte replaced by U+FFFD (scrapers reject invalid UTF-8).
  std::vector<std::string> CheckLabelValues(std::span<const std::string_view> values) const;

  mutable std::mutex mu_;  // guards the children maps of the derived families

 private:
  friend class Registry;
  virtual void Collect(FamilySnapshot& out) const = 0;

  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

class CounterFamily final : public Family {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);

  // The counter with these label values (one per label name), created on first use.
  Counter& WithLabels(std::initializer_list<std::string_view> label_values) {
    return WithLabels(std::span<const std::string_view>(label_values.begin(), label_values.end()));
  }
  Counter& WithLabels(std::span<const std::string_view> label_values);

 private:
  void Collect(FamilySnapshot& out) const override;

  std::map<std::vector<std::string>, std::unique_ptr<Counter>> children_;  // GUARDED_BY(mu_)
};

class GaugeFamily final : public Family {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names);

  // The gauge with these label values, created on first use. Throws if they name a callback.
  Gauge& WithLabels(std::initializer_list<std::string_view> label_values) {
    return WithLabels(std::span<const std::string_view>(label_values.begin(), label_values.end()));
  }
  Gauge& WithLabels(std::span<const std::string_view> label_values);

  // A gauge computed when scraped (oldest waiting message age, replication lag): `read` runs on
  // the scraping thread, under this family's lock, so it must be thread-safe, quick, must not
  // call into the registry, and must stay callable until the Registry is destroyed. Throws if
  // these label values are already registered.
  void AddCallback(std::initializer_list<std::string_view> label_values,
                   std::function<double()> read) {
    AddCallback(std::span<const std::string_view>(label_values.begin(), label_values.end()),
                std::move(read));
  }
  void AddCallback(std::span<const std::string_view> label_values, std::function<double()> read);

 private:
  struct Child {
    std::unique_ptr<Gauge> gauge;  // either this
    std::function<double()> read;  // or this
  };
  void Collect(FamilySnapshot& out) const override;

  std::map<std::vector<std::string>, Child> children_;  // GUARDED_BY(mu_)
};

class HistogramFamily final : public Family {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds);

  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

  Histogram& WithLabels(std::initializer_list<std::string_view> label_values) {
    return WithLabels(std::span<const std::string_view>(label_values.begin(), label_values.end()));
  }
  Histogram& WithLabels(std::span<const std::string_view> label_values);

 private:
  void Collect(FamilySnapshot& out) const override;

  const std::vector<double> upper_bounds_;
  std::map<std::vector<std::string>, std::unique_ptr<Histogram>> children_;  // GUARDED_BY(mu_)
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family, or returns the existing one when `name` was registered with the same
  // type, help, label names (and bounds). Names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
  // [a-zA-Z_][a-zA-Z0-9_]* without a leading "__" ("le" is reserved in histograms). Counter
  // names should end in _total; units are base units (seconds, bytes) named in the suffix.
  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  // `upper_bounds`: finite and strictly increasing; +Inf is implicit and must not be given.
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::vector<double> upper_bounds);

  // Every family that has at least one metric, sorted by name; metrics sorted by label values.
  std::vector<FamilySnapshot> Snapshot() const;

 private:
  // Checks `candidate` against the registered names; returns the family to reuse or null.
  Family* Reuse(const Family& candidate);
  Family& Insert(std::unique_ptr<Family> family);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;  // GUARDED_BY(mu_)
  // Every sample name the families write (a histogram writes name_bucket, _sum and _count) and
  // the family that writes it, so that two families can never write the same series.
  std::map<std::string, std::string> sample_names_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::metrics
