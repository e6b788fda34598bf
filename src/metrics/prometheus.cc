#include "metrics/prometheus.h"

#include <charconv>
#include <cmath>

namespace sluice::metrics {
namespace {

// Integral doubles up to this print as plain integers: exact, and what a reader expects of a
// counter. Beyond it the shortest round-trip form (which may use an exponent) is used.
constexpr double kMaxPlainInteger = 9007199254740992.0;  // 2^53

void AppendLabels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                  std::string_view le, std::string* out) {
  if (names.empty() && le.empty()) return;
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append(names[i]);
    out->append("=\"");
    AppendEscapedLabelValue(i < values.size() ? std::string_view(values[i]) : "", out);
    out->push_back('"');
  }
  if (!le.empty()) {
    if (!names.empty()) out->push_back(',');
    out->append("le=\"");
    out->append(le);
    out->push_back('"');
  }
  out->push_back('}');
}

void AppendSample(std::string_view name, std::string_view suffix, const FamilySnapshot& family,
                  const MetricSnapshot& metric, std::string_view le, double value,
                  std::string* out) {
  out->append(name);
  out->append(suffix);
  AppendLabels(family.label_names, metric.label_values, le, out);
  out->push_back(' ');
  AppendPrometheusValue(value, out);
  out->push_back('\n');
}

void AppendFamily(const FamilySnapshot& family, std::string* out) {
  out->append("# HELP ");
  out->append(family.name);
  out->push_back(' ');
  AppendEscapedHelp(family.help, out);
  out->append("\n# TYPE ");
  out->append(family.name);
  out->push_back(' ');
  out->append(MetricTypeName(family.type));
  out->push_back('\n');
  for (const MetricSnapshot& metric : family.metrics) {
    if (family.type != MetricType::kHistogram) {
      AppendSample(family.name, "", family, metric, "", metric.value, out);
      continue;
    }
    const Histogram::Snapshot& h = metric.histogram;
    std::string le;
    for (size_t i = 0; i < h.cumulative_counts.size(); ++i) {
      le.clear();
      if (i < family.upper_bounds.size()) {
        AppendPrometheusValue(family.upper_bounds[i], &le);
      } else {
        le = "+Inf";
      }
      AppendSample(family.name, "_bucket", family, metric, le,
                   static_cast<double>(h.cumulative_counts[i]), out);
    }
    AppendSample(family.name, "_sum", family, metric, "", h.sum, out);
    AppendSample(family.name, "_count", family, metric, "", static_cast<double>(h.count), out);
  }
}

}  // namespace

void AppendPrometheusValue(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (value == 0) value = 0;  // -0.0 prints as "0"
  char buf[32];
  std::to_chars_result result;
  if (value == std::trunc(value) && std::fabs(value) <= kMaxPlainInteger) {
    result = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed, 0);
  } else {
    result = std::to_chars(buf, buf + sizeof(buf), value);  // shortest round trip
  }
  out->append(buf, result.ptr);
}

void AppendEscapedLabelValue(std::string_view value, std::string* out) {
  for (char c : value) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '"': out->append("\\\""); break;
      case '\n': out->append("\\n"); break;
      default: out->push_back(c);
    }
  }
}

void AppendEscapedHelp(std::string_view help, std::string* out) {
  for (char c : help) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      default: out->push_back(c);
    }
  }
}

std::string RenderPrometheusText(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const FamilySnapshot& family : families) AppendFamily(family, &out);
  return out;
}

std::string RenderPrometheusText(const Registry& registry) {
  return RenderPrometheusText(registry.Snapshot());
}

}  // namespace sluice::metrics
