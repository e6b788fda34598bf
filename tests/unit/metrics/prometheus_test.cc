#include "metrics/prometheus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/json_text.h"
#include "metrics/registry.h"

namespace sluice::metrics {
namespace {

std::string Value(double v) {
  std::string out;
  AppendPrometheusValue(v, &out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// A strict reader of the text format 0.0.4, written from the format's description, so that the
// renderer's output is checked by something other than itself. It returns the first problem as
// "line N: what", or nothing when the text is well formed. Stricter than the format where
// sluice's output must be: every sample needs a TYPE line, families are contiguous, no series
// repeats, histograms are complete and cumulative.

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values
  double value = 0;
};

bool IsNameChar(char c, bool first, bool colon_ok) {
  bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return alpha || (colon_ok && c == ':') || (!first && c >= '0' && c <= '9');
}

size_t ReadName(std::string_view s, size_t i, bool colon_ok) {
  size_t start = i;
  while (i < s.size() && IsNameChar(s[i], i == start, colon_ok)) ++i;
  return i - start;
}

// Go's strconv.ParseFloat as Prometheus uses it, restricted to what a 0.0.4 writer may emit.
std::optional<double> ParseValue(std::string_view text) {
  if (text == "NaN") return std::nan("");
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  return std::strtod(std::string(text).c_str(), nullptr);
}

std::optional<std::string> ParseSampleLine(std::string_view line, Sample* out) {
  size_t i = ReadName(line, 0, true);
  if (i == 0) return "sample line does not start with a metric name";
  out->name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      size_t n = ReadName(line, i, false);
      if (n == 0) return "bad label name";
      std::string label(line.substr(i, n));
      i += n;
      if (line.substr(i, 2) != "=\"") return "label " + label + " lacks =\"";
      i += 2;
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') {
          if (i + 1 >= line.size()) return "dangling backslash";
          char e = line[i + 1];
          if (e == 'n') {
            value += '\n';
          } else if (e == '\\' || e == '"') {
            value += e;
          } else {
            return std::string("unknown escape \\") + e;
          }
          i += 2;
        } else {
          value += line[i++];
        }
      }
      if (i >= line.size()) return "unterminated label value";
      ++i;  // closing quote
      for (const auto& [seen, unused] : out->labels) {
        if (seen == label) return "duplicate label " + label;
      }
      out->labels.emplace_back(label, value);
      if (i < line.size() && line[i] == ',') {
        ++i;
      } else if (i < line.size() && line[i] != '}') {
        return "expected , or } after the value of " + label;
      }
    }
    if (i >= line.size()) return "unterminated label set";
    ++i;  // '}'
  }
  // Tokens are separated by one or more blanks (spaces or tabs).
  auto is_blank = [](char c) { return c == ' ' || c == '\t'; };
  if (i >= line.size() || !is_blank(line[i])) return "no blank before the value";
  std::vector<std::string_view> tokens;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  if (tokens.empty() || tokens.size() > 2) return "expected a value and an optional timestamp";
  std::optional<double> value = ParseValue(tokens[0]);
  if (!value) return "bad value \"" + std::string(tokens[0]) + "\"";
  out->value = *value;
  if (tokens.size() == 2) {  // timestamp: an integer (milliseconds)
    std::string_view ts = tokens[1];
    size_t j = ts.starts_with('-') ? 1 : 0;
    if (j == ts.size()) return "bad timestamp";
    for (; j < ts.size(); ++j) {
      if (!std::isdigit(static_cast<unsigned char>(ts[j]))) return "bad timestamp";
    }
  }
  return std::nullopt;
}

// The family a sample belongs to, given the TYPE lines seen.
std::string FamilyOf(const std::string& sample, const std::map<std::string, std::string>& types) {
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (sample.ends_with(suffix)) {
      std::string base = sample.substr(0, sample.size() - suffix.size());
      auto it = types.find(base);
      if (it != types.end() && it->second == "histogram") return base;
    }
  }
  return sample;
}

std::string SeriesKey(const Sample& s, bool drop_le) {
  std::string key;
  for (const auto& [name, value] : s.labels) {
    if (drop_le && name == "le") continue;
    key += name + "=" + value + ",";
  }
  return key;
}

std::optional<std::string> CheckExposition(std::string_view text) {
  if (!IsValidUtf8(text)) return "not UTF-8";
  if (!text.empty() && !text.ends_with('\n')) return "does not end with a newline";
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> helped, finished_families, series;
  std::string current_family;
  struct Buckets {
    double last_le = -std::numeric_limits<double>::infinity();
    double last_count = 0;
    bool saw_inf = false;
    double inf_count = 0;
  };
  std::map<std::string, Buckets> buckets;              // family + labels without le
  std::map<std::string, double> counts;                // family + labels -> _count
  std::map<std::string, std::set<std::string>> parts;  // histogram series -> suffixes seen
  int number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    auto fail = [number](const std::string& what) {
      return "line " + std::to_string(number) + ": " + what;
    };
    if (line.empty()) return fail("empty line");
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::string_view rest = line.substr(7);
      size_t n = ReadName(rest, 0, true);
      if (n == 0 || n >= rest.size() || rest[n] != ' ') return fail("bad metric name");
      std::string name(rest.substr(0, n));
      std::string_view arg = rest.substr(n + 1);
      if (finished_families.count(name)) return fail(name + " appears in two places");
      if (name != current_family) {
        if (!current_family.empty()) finished_families.insert(current_family);
        current_family = name;
      }
      if (line[2] == 'H') {
        if (!helped.insert(name).second) return fail("second HELP for " + name);
        for (size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] == '\\' &&
              (i + 1 >= arg.size() || (arg[i + 1] != '\\' && arg[i + 1] != 'n'))) {
            return fail("bad escape in HELP");
          }
          if (arg[i] == '\\') ++i;
        }
      } else {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
        if (!kTypes.count(std::string(arg))) return fail("unknown type " + std::string(arg));
        if (types.count(name)) return fail("second TYPE for " + name);
        if (series.count(name)) return fail("TYPE after samples of " + name);
        types[name] = std::string(arg);
      }
      continue;
    }
    if (line.starts_with("#")) continue;  // other comments are allowed
    Sample sample;
    if (auto error = ParseSampleLine(line, &sample)) return fail(*error);
    std::string family = FamilyOf(sample.name, types);
    if (!types.count(family)) return fail("no TYPE line for " + sample.name);
    if (family != current_family) return fail(sample.name + " outside its family's block");
    std::string key = sample.name + "{" + SeriesKey(sample, false) + "}";
    if (!series.insert(key).second) return fail("duplicate series " + key);
    series.insert(family);
    const std::string& type = types[family];
    if (type == "counter" && !(sample.value >= 0)) return fail("negative or NaN counter");
    if (type != "histogram") continue;
    std::string base = family + "{" + SeriesKey(sample, true) + "}";
    std::string suffix = sample.name.substr(family.size());
    if (suffix.empty()) return fail("histogram sample without a suffix");
    parts[base].insert(suffix);
    if (suffix == "_bucket") {
      std::optional<double> le;
      for (const auto& [name, value] : sample.labels) {
        if (name == "le") le = ParseValue(value);
      }
      if (!le || std::isnan(*le)) return fail("bucket without a numeric le");
      Buckets& b = buckets[base];
      if (b.saw_inf) return fail("bucket after le=\"+Inf\"");
      if (!(*le > b.last_le)) return fail("le not increasing");
      if (sample.value < b.last_count) return fail("bucket counts not cumulative");
      b.last_le = *le;
      b.last_count = sample.value;
      if (std::isinf(*le)) {
        b.saw_inf = true;
        b.inf_count = sample.value;
      }
    } else if (suffix == "_count") {
      counts[base] = sample.value;
    }
  }
  for (const auto& [base, seen] : parts) {
    if (seen != std::set<std::string>{"_bucket", "_count", "_sum"}) {
      return base + ": histogram lacks _bucket, _sum or _count";
    }
    if (!buckets[base].saw_inf) return base + ": no le=\"+Inf\" bucket";
    if (buckets[base].inf_count != counts[base]) return base + ": +Inf bucket differs from _count";
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------

TEST(ExpositionCheck, AcceptsTheFormatsExample) {
  // Adapted from the format description's example.
  EXPECT_EQ(CheckExposition("# HELP http_requests_total The total number of HTTP requests.\n"
                            "# TYPE http_requests_total counter\n"
                            "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
                            "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
                            "# A comment\n"
                            "# TYPE metric_without_labels gauge\n"
                            "metric_without_labels -1.5e-3\n"
                            "# TYPE rpc_duration_seconds histogram\n"
                            "rpc_duration_seconds_bucket{le=\"0.05\"} 24054\n"
                            "rpc_duration_seconds_bucket{le=\"+Inf\"} 144320\n"
                            "rpc_duration_seconds_sum 53423\n"
                            "rpc_duration_seconds_count 144320\n"),
            std::nullopt);
  EXPECT_EQ(CheckExposition("# TYPE m gauge\n"
                            "m{a=\"x\\\\y\\\"z\\n\",} +Inf\n"
                            "# TYPE h histogram\n"
                            "h_bucket{le=\"1\"} 2\n"
                            "h_bucket{le=\"+Inf\"} 3\n"
                            "h_sum 4.5\n"
                            "h_count 3\n"),
            std::nullopt);
}

TEST(ExpositionCheck, RejectsMalformedText) {
  auto error = [](std::string text) { return CheckExposition(text).value_or("accepted"); };
  EXPECT_EQ(error("# TYPE m gauge\nm 1"), "does not end with a newline");
  EXPECT_EQ(error("m 1\n"), "line 1: no TYPE line for m");
  EXPECT_EQ(error("# TYPE m gauge\nm{a=\"x\"y\"} 1\n"),
            "line 2: expected , or } after the value of a");
  EXPECT_EQ(error("# TYPE m gauge\nm{a=\"x\"}1\n"), "line 2: no blank before the value");
  EXPECT_EQ(error("# TYPE m gauge\nm{a=\"x\\t\"} 1\n"), "line 2: unknown escape \\t");
  EXPECT_EQ(error("# TYPE m gauge\nm{a=\"x} 1\n"), "line 2: unterminated label value");
  EXPECT_EQ(error("# TYPE m gauge\nm{1a=\"x\"} 1\n"), "line 2: bad label name");
  EXPECT_EQ(error("# TYPE m gauge\nm Infinity\n"), "line 2: bad value \"Infinity\"");
  EXPECT_EQ(error("# TYPE m gauge\nm inf\n"), "line 2: bad value \"inf\"");
  EXPECT_EQ(error("# TYPE m gauge\nm 1 2 3\n"),
            "line 2: expected a value and an optional timestamp");
  EXPECT_EQ(error("# TYPE m gauge\nm 1 1.5\n"), "line 2: bad timestamp");
  EXPECT_EQ(error("# TYPE m gauge\nm 1\nm 2\n"), "line 3: duplicate series m{}");
  EXPECT_EQ(error("# TYPE m frequency\n"), "line 1: unknown type frequency");
  EXPECT_EQ(error("# TYPE m counter\nm -1\n"), "line 2: negative or NaN counter");
  EXPECT_EQ(error("# TYPE h histogram\nh_bucket{le=\"2\"} 2\nh_bucket{le=\"1\"} 3\n"),
            "line 3: le not increasing");
  EXPECT_EQ(error("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"),
            "line 3: bucket counts not cumulative");
  EXPECT_EQ(error("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 4\n"),
            "h{}: +Inf bucket differs from _count");
  EXPECT_EQ(error("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_sum 1\nh_count 3\n"),
            "h{}: no le=\"+Inf\" bucket");
  EXPECT_EQ(error("# TYPE a gauge\n# TYPE b gauge\na 1\n"), "line 3: a outside its family's block");
}

// ---------------------------------------------------------------------------------------------

TEST(PrometheusText, RendersCountersGaugesAndHistogramsWithLabels) {
  Registry registry;
  CounterFamily& delivered = registry.AddCounter("sluice_messages_delivered_total",
                                                 "Messages Kinesis acknowledged.", {"sink"});
  delivered.WithLabels({"users"}).Increment(3);
  delivered.WithLabels({"orders"}).Increment(1027);
  registry.AddGauge("sluice_messages_in_flight", "Messages in PutRecords requests now.", {"sink"})
      .WithLabels({"orders"})
      .Set(12);
  registry.AddGauge("sluice_up", "1 while the service runs.").WithLabels({}).Set(1);
  HistogramFamily& latency =
      registry.AddHistogram("sluice_put_records_duration_seconds", "PutRecords request latency.",
                            {"sink", "stream"}, {0.005, 0.05, 0.5});
  Histogram& h = latency.WithLabels({"orders", "orders-events"});
  h.Observe(0.001);
  h.Observe(0.005);
  h.Observe(0.03);
  h.Observe(2);

  EXPECT_EQ(RenderPrometheusText(registry),
            "# HELP sluice_messages_delivered_total Messages Kinesis acknowledged.\n"
            "# TYPE sluice_messages_delivered_total counter\n"
            "sluice_messages_delivered_total{sink=\"orders\"} 1027\n"
            "sluice_messages_delivered_total{sink=\"users\"} 3\n"
            "# HELP sluice_messages_in_flight Messages in PutRecords requests now.\n"
            "# TYPE sluice_messages_in_flight gauge\n"
            "sluice_messages_in_flight{sink=\"orders\"} 12\n"
            "# HELP sluice_put_records_duration_seconds PutRecords request latency.\n"
            "# TYPE sluice_put_records_duration_seconds histogram\n"
            "sluice_put_records_duration_seconds_bucket{sink=\"orders\",stream=\"orders-events\","
            "le=\"0.005\"} 2\n"
            "sluice_put_records_duration_seconds_bucket{sink=\"orders\",stream=\"orders-events\","
            "le=\"0.05\"} 3\n"
            "sluice_put_records_duration_seconds_bucket{sink=\"orders\",stream=\"orders-events\","
            "le=\"0.5\"} 3\n"
            "sluice_put_records_duration_seconds_bucket{sink=\"orders\",stream=\"orders-events\","
            "le=\"+Inf\"} 4\n"
            "sluice_put_records_duration_seconds_sum{sink=\"orders\",stream=\"orders-events\"} "
            "2.036\n"
            "sluice_put_records_duration_seconds_count{sink=\"orders\",stream=\"orders-events\"} "
            "4\n"
            "# HELP sluice_up 1 while the service runs.\n"
            "# TYPE sluice_up gauge\n"
            "sluice_up 1\n");
}

TEST(PrometheusText, HistogramWithoutLabelsPutsLeAlone) {
  Registry registry;
  Histogram& h = registry.AddHistogram("sluice_h_bytes", "Sizes.", {}, {1024}).WithLabels({});
  h.Observe(10);
  EXPECT_EQ(RenderPrometheusText(registry),
            "# HELP sluice_h_bytes Sizes.\n"
            "# TYPE sluice_h_bytes histogram\n"
            "sluice_h_bytes_bucket{le=\"1024\"} 1\n"
            "sluice_h_bytes_bucket{le=\"+Inf\"} 1\n"
            "sluice_h_bytes_sum 10\n"
            "sluice_h_bytes_count 1\n");
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry.AddCounter("sluice_x_total", "Back\\slash, \"quotes\" and\nnewline.", {"table"})
      .WithLabels({"a\\b\"c\nd"})
      .Increment();
  std::string text = RenderPrometheusText(registry);
  EXPECT_EQ(text,
            "# HELP sluice_x_total Back\\\\slash, \"quotes\" and\\nnewline.\n"
            "# TYPE sluice_x_total counter\n"
            "sluice_x_total{table=\"a\\\\b\\\"c\\nd\"} 1\n");
  EXPECT_EQ(CheckExposition(text), std::nullopt);

  Sample sample;
  ASSERT_EQ(ParseSampleLine("sluice_x_total{table=\"a\\\\b\\\"c\\nd\"} 1", &sample), std::nullopt);
  ASSERT_EQ(sample.labels.size(), 1u);
  EXPECT_EQ(sample.labels[0].second, "a\\b\"c\nd");  // reads back to the original value
}

TEST(PrometheusText, SpellsValuesAsPrometheusParsesThem) {
  EXPECT_EQ(Value(0), "0");
  EXPECT_EQ(Value(-0.0), "0");
  EXPECT_EQ(Value(42), "42");
  EXPECT_EQ(Value(-3), "-3");
  EXPECT_EQ(Value(0.005), "0.005");
  EXPECT_EQ(Value(2.5), "2.5");
  EXPECT_EQ(Value(1e-5), "1e-05");
  EXPECT_EQ(Value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(Value(9007199254740992.0), "9007199254740992");
  EXPECT_EQ(Value(1e300), "1e+300");
  EXPECT_EQ(Value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(Value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(Value(std::nan("")), "NaN");
  EXPECT_EQ(Value(-std::nan("")), "NaN");
}

TEST(PrometheusText, ValuesReadBackExactly) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-300, 300);
  for (int i = 0; i < 10000; ++i) {
    double v = std::pow(10.0, exponent(rng)) * (i % 2 == 0 ? 1 : -1);
    std::string text = Value(v);
    std::optional<double> back = ParseValue(text);
    ASSERT_TRUE(back.has_value()) << text;
    ASSERT_EQ(*back, v) << text;
  }
  for (double v : {std::numeric_limits<double>::min(), std::numeric_limits<double>::max(),
                   std::numeric_limits<double>::denorm_min(), 123456789.125}) {
    EXPECT_EQ(ParseValue(Value(v)), v) << Value(v);
  }
}

TEST(PrometheusText, NonFiniteValuesParse) {
  Registry registry;
  GaugeFamily& g = registry.AddGauge("sluice_g", "G.", {"kind"});
  g.WithLabels({"nan"}).Set(std::nan(""));
  g.WithLabels({"pos"}).Set(std::numeric_limits<double>::infinity());
  g.WithLabels({"neg"}).Set(-std::numeric_limits<double>::infinity());
  std::string text = RenderPrometheusText(registry);
  EXPECT_EQ(text,
            "# HELP sluice_g G.\n"
            "# TYPE sluice_g gauge\n"
            "sluice_g{kind=\"nan\"} NaN\n"
            "sluice_g{kind=\"neg\"} -Inf\n"
            "sluice_g{kind=\"pos\"} +Inf\n");
  EXPECT_EQ(CheckExposition(text), std::nullopt);
}

TEST(PrometheusText, BucketsAreCumulativeAndEndWithCount) {
  Registry registry;
  HistogramFamily& family = registry.AddHistogram("sluice_e2e_seconds", "E2E.", {"sink"},
                                                  ExponentialBuckets(0.001, 2, 16));
  std::mt19937_64 rng(11);
  std::exponential_distribution<double> seconds(20);
  for (std::string_view sink : {"a", "b", "c"}) {
    Histogram& h = family.WithLabels({sink});
    for (int i = 0; i < 5000; ++i) h.Observe(seconds(rng));
  }
  std::string text = RenderPrometheusText(registry);
  EXPECT_EQ(CheckExposition(text), std::nullopt) << text;

  // Independently: every sink's buckets never decrease and the last equals _count.
  std::istringstream lines(text);
  std::string line;
  std::map<std::string, std::vector<double>> bucket_values;
  std::map<std::string, double> count_values;
  while (std::getline(lines, line)) {
    if (line.starts_with("#")) continue;
    Sample s;
    ASSERT_EQ(ParseSampleLine(line, &s), std::nullopt) << line;
    if (s.name == "sluice_e2e_seconds_bucket") bucket_values[s.labels[0].second].push_back(s.value);
    if (s.name == "sluice_e2e_seconds_count") count_values[s.labels[0].second] = s.value;
  }
  ASSERT_EQ(bucket_values.size(), 3u);
  for (const auto& [sink, values] : bucket_values) {
    ASSERT_EQ(values.size(), 17u) << sink;
    for (size_t i = 1; i < values.size(); ++i) EXPECT_LE(values[i - 1], values[i]) << sink;
    EXPECT_EQ(values.back(), 5000) << sink;
    EXPECT_EQ(count_values[sink], 5000) << sink;
  }
}

TEST(PrometheusText, EveryLineParsesForAWholeRegistry) {
  Registry registry;
  for (std::string_view sink : {"orders", "users", "odd \"sink\"\\\nname", "caf\xC3\xA9"}) {
    registry.AddCounter("sluice_messages_ingested_total", "Ingested.", {"sink"})
        .WithLabels({sink})
        .Increment(5);
    registry.AddCounter("sluice_records_throttled_total", "Throttled.", {"sink", "stream"})
        .WithLabels({sink, "s1"})
        .Increment();
    registry.AddGauge("sluice_oldest_waiting_message_age_seconds", "Age.", {"sink"})
        .AddCallback({sink}, [] { return 1.25; });
    registry
        .AddHistogram("sluice_end_to_end_latency_seconds", "E2E.", {"sink"}, {0.01, 0.1, 1, 10, 60})
        .WithLabels({sink})
        .Observe(0.42);
  }
  registry.AddGauge("sluice_replication_lag_bytes", "Lag.", {"database"})
      .WithLabels({"app"})
      .Set(1.5e12);
  std::string text = RenderPrometheusText(registry);
  EXPECT_EQ(CheckExposition(text), std::nullopt) << text;
}

TEST(PrometheusText, RenderingWhileUpdatingStaysWellFormed) {
  Registry registry;
  Counter& c = registry.AddCounter("sluice_c_total", "C.").WithLabels({});
  Histogram& h = registry.AddHistogram("sluice_h_seconds", "H.", {}, {0.5, 1}).WithLabels({});
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; !done.load(); ++i) {
      c.Increment();
      h.Observe((i % 3) * 0.5);
    }
  });
  for (int i = 0; i < 200; ++i) {
    std::string text = RenderPrometheusText(registry);
    ASSERT_EQ(CheckExposition(text), std::nullopt) << text;
  }
  done = true;
  writer.join();
}

TEST(PrometheusText, EmptyRegistryRendersNothing) {
  Registry registry;
  registry.AddCounter("sluice_x_total", "X.", {"sink"});
  EXPECT_EQ(RenderPrometheusText(registry), "");
}

TEST(PrometheusText, ContentTypeNamesVersion004) {
  EXPECT_EQ(kPrometheusContentType, "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace
}  // namespace sluice::metrics
