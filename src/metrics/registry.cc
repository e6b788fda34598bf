#include "metrics/registry.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

#include "base/json_text.h"

namespace sluice::metrics {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsNameStart(c) || IsDigit(c) || c == ':'; });
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameStart(c) || IsDigit(c); });
}

[[noreturn]] void Fail(std::string_view metric, std::string_view what) {
  throw std::invalid_argument("metric " + std::string(metric) + ": " + std::string(what));
}

// Copies `text`, replacing each byte that starts no well-formed UTF-8 sequence with U+FFFD.
std::string ToValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

// The series names a family writes.
std::vector<std::string> SampleNames(const Family& family) {
  if (family.type() != MetricType::kHistogram) return {family.name()};
  return {family.name() + "_bucket", family.name() + "_sum", family.name() + "_count"};
}

bool SameShape(const Family& a, const Family& b) {
  if (a.type() != b.type() || a.help() != b.help() || a.label_names() != b.label_names()) {
    return false;
  }
  if (a.type() != MetricType::kHistogram) return true;
  return static_cast<const HistogramFamily&>(a).upper_bounds() ==
         static_cast<const HistogramFamily&>(b).upper_bounds();
}

}  // namespace

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

namespace internal {

size_t AssignShard() {
  static std::atomic<size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % kShards;
}

}  // namespace internal

uint64_t Counter::Value() const {
  uint64_t total = 0;
  for (const auto& cell : cells_) total += cell.word[0].load(std::memory_order_relaxed);
  return total;
}

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds),
      sum_index_(upper_bounds.size() + 1),
      lines_per_shard_((sum_index_ + 1 + 7) / 8),
      lines_(std::make_unique<internal::Line[]>(internal::kShards * lines_per_shard_)) {}

void Histogram::Observe(double value) {
  // First bound with value <= bound; NaN compares false with every bound and lands in +Inf.
  auto it = std::partition_point(upper_bounds_.begin(), upper_bounds_.end(),
                                 [value](double bound) { return !(value <= bound); });
  size_t bucket = static_cast<size_t>(it - upper_bounds_.begin());
  size_t shard = internal::ThisThreadShard();
  Word(shard, bucket).fetch_add(1, std::memory_order_relaxed);
  std::atomic<uint64_t>& sum = Word(shard, sum_index_);
  uint64_t old_bits = sum.load(std::memory_order_relaxed);
  // The shard is nearly always this thread's alone, so the loop almost never repeats.
  while (!sum.compare_exchange_weak(
      old_bits, std::bit_cast<uint64_t>(std::bit_cast<double>(old_bits) + value),
      std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snap;
  snap.cumulative_counts.assign(upper_bounds_.size() + 1, 0);
  for (size_t shard = 0; shard < internal::kShards; ++shard) {
    for (size_t i = 0; i < snap.cumulative_counts.size(); ++i) {
      snap.cumulative_counts[i] += Word(shard, i).load(std::memory_order_relaxed);
    }
    snap.sum += std::bit_cast<double>(Word(shard, sum_index_).load(std::memory_order_relaxed));
  }
  for (size_t i = 1; i < snap.cumulative_counts.size(); ++i) {
    snap.cumulative_counts[i] += snap.cumulative_counts[i - 1];
  }
  snap.count = snap.cumulative_counts.back();
  return snap;
}

std::vector<double> ExponentialBuckets(double start, double factor, size_t count) {
  if (!(start > 0) || !(factor > 1) || count == 0) {
    throw std::invalid_argument("ExponentialBuckets needs start > 0, factor > 1, count >= 1");
  }
  std::vector<double> bounds;
  bounds.reserve(count);
  for (double bound = start; bounds.size() < count; bound *= factor) bounds.push_back(bound);
  return bounds;
}

Family::Family(std::string name, std::string help, MetricType type,
               std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {
  if (!IsValidMetricName(name_)) Fail(name_, "invalid metric name");
  for (size_t i = 0; i < label_names_.size(); ++i) {
    const std::string& label = label_names_[i];
    if (!IsValidLabelName(label)) Fail(name_, "invalid label name \"" + label + "\"");
    if (type_ == MetricType::kHistogram && label == "le") {
      Fail(name_, "label name \"le\" is reserved for histogram buckets");
    }
    if (std::find(label_names_.begin(), label_names_.begin() + i, label) !=
        label_names_.begin() + i) {
      Fail(name_, "duplicate label name \"" + label + "\"");
    }
  }
}

std::vector<std::string> Family::CheckLabelValues(std::span<const std::string_view> values) const {
  if (values.size() != label_names_.size()) {
    Fail(name_, "expected " + std::to_string(label_names_.size()) + " label values, got " +
                    std::to_string(values.size()));
  }
  std::vector<std::string> out;
  out.reserve(values.size());
  for (std::string_view value : values) out.push_back(ToValidUtf8(value));
  return out;
}

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : Family(std::move(name), std::move(help), MetricType::kCounter, std::move(label_names)) {}

Counter& CounterFamily::WithLabels(std::span<const std::string_view> label_values) {
  std::vector<std::string> key = CheckLabelValues(label_values);
  std::lock_guard lock(mu_);
  std::unique_ptr<Counter>& child = children_[std::move(key)];
  if (!child) child = std::make_unique<Counter>();
  return *child;
}

void CounterFamily::Collect(FamilySnapshot& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [labels, counter] : children_) {
    MetricSnapshot& metric = out.metrics.emplace_back();
    metric.label_values = labels;
    metric.value = static_cast<double>(counter->Value());
  }
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : Family(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names)) {}

Gauge& GaugeFamily::WithLabels(std::span<const std::string_view> label_values) {
  std::vector<std::string> key = CheckLabelValues(label_values);
  std::lock_guard lock(mu_);
  Child& child = children_[std::move(key)];
  if (child.read) Fail(this->name(), "these label values are a callback gauge");
  if (!child.gauge) child.gauge = std::make_unique<Gauge>();
  return *child.gauge;
}

void GaugeFamily::AddCallback(std::span<const std::string_view> label_values,
                              std::function<double()> read) {
  if (!read) Fail(this->name(), "empty callback");
  std::vector<std::string> key = CheckLabelValues(label_values);
  std::lock_guard lock(mu_);
  auto [it, inserted] = children_.try_emplace(std::move(key));
  if (!inserted) Fail(this->name(), "label values already registered");
  it->second.read = std::move(read);
}

void GaugeFamily::Collect(FamilySnapshot& out) const {
  std::lock_guard lock(mu_);
  for (const auto& [labels, child] : children_) {
    MetricSnapshot& metric = out.metrics.emplace_back();
    metric.label_values = labels;
    metric.value = child.read ? child.read() : child.gauge->Value();
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> upper_bounds)
    : Family(std::move(name), std::move(help), MetricType::kHistogram, std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    if (!std::isfinite(upper_bounds_[i])) {
      Fail(this->name(), "bucket bounds must be finite (+Inf is implicit)");
    }
    if (i > 0 && !(upper_bounds_[i - 1] < upper_bounds_[i])) {
      Fail(this->name(), "bucket bounds must be strictly increasing");
    }
  }
}

Histogram& HistogramFamily::WithLabels(std::span<const std::string_view> label_values) {
  std::vector<std::string> key = CheckLabelValues(label_values);
  std::lock_guard lock(mu_);
  std::unique_ptr<Histogram>& child = children_[std::move(key)];
  if (!child) child = std::make_unique<Histogram>(upper_bounds_);
  return *child;
}

void HistogramFamily::Collect(FamilySnapshot& out) const {
  out.upper_bounds = upper_bounds_;
  std::lock_guard lock(mu_);
  for (const auto& [labels, histogram] : children_) {
    MetricSnapshot& metric = out.metrics.emplace_back();
    metric.label_values = labels;
    metric.histogram = histogram->Read();
  }
}

Registry::Registry() = default;
Registry::~Registry() = default;

Family* Registry::Reuse(const Family& candidate) {
  auto it = families_.find(candidate.name());
  if (it != families_.end()) {
    if (!SameShape(*it->second, candidate)) {
      Fail(candidate.name(), "already registered with a different type, help, labels or buckets");
    }
    return it->second.get();
  }
  for (const std::string& sample : SampleNames(candidate)) {
    auto taken = sample_names_.find(sample);
    if (taken != sample_names_.end()) {
      Fail(candidate.name(),
           "writes series " + sample + ", which metric " + taken->second + " already writes");
    }
  }
  return nullptr;
}

Family& Registry::Insert(std::unique_ptr<Family> family) {
  for (const std::string& sample : SampleNames(*family)) sample_names_[sample] = family->name();
  Family& ref = *family;
  families_.emplace(family->name(), std::move(family));
  return ref;
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  auto family =
      std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(label_names));
  std::lock_guard lock(mu_);
  if (Family* existing = Reuse(*family)) return static_cast<CounterFamily&>(*existing);
  return static_cast<CounterFamily&>(Insert(std::move(family)));
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  auto family =
      std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(label_names));
  std::lock_guard lock(mu_);
  if (Family* existing = Reuse(*family)) return static_cast<GaugeFamily&>(*existing);
  return static_cast<GaugeFamily&>(Insert(std::move(family)));
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> upper_bounds) {
  auto family = std::make_unique<HistogramFamily>(std::move(name), std::move(help),
                                                  std::move(label_names), std::move(upper_bounds));
  std::lock_guard lock(mu_);
  if (Family* existing = Reuse(*family)) return static_cast<HistogramFamily&>(*existing);
  return static_cast<HistogramFamily&>(Insert(std::move(family)));
}

std::vector<FamilySnapshot> Registry::Snapshot() const {
  std::vector<FamilySnapshot> out;
  std::lock_guard lock(mu_);
  out.reserve(families_.size());
  for (const auto& [name, family] : families_) {  // std::map: sorted by name
    FamilySnapshot snap;
    snap.name = family->name();
    snap.help = family->help();
    snap.type = family->type();
    snap.label_names = family->label_names();
    family->Collect(snap);
    if (!snap.metrics.empty()) out.push_back(std::move(snap));
  }
  return out;
}

}  // namespace sluice::metrics
