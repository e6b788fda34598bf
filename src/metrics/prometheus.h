// Prometheus text exposition format 0.0.4: what GET /metrics returns.
//
// Format reference: https://prometheus.io/docs/instrumenting/exposition_formats/
// Per family, in name order: "# HELP name text", "# TYPE name type", then one line per series,
// metrics in label-value order, no timestamps. Families without metrics are left out.
// Escaping: HELP text escapes backslash and newline; label values escape backslash, double
// quote and newline. Values: integral values below 2^53 print as integers, others in the
// shortest form that reads back to the same double; "+Inf", "-Inf" and "NaN" as Prometheus
// spells them. Histograms write name_bucket{...,le="bound"} (cumulative, ending with
// le="+Inf"), name_sum and name_count.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "metrics/registry.h"

namespace sluice::metrics {

// The Content-Type header value for the text format.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Snapshot() of the registry, rendered.
std::string RenderPrometheusText(const Registry& registry);
std::string RenderPrometheusText(const std::vector<FamilySnapshot>& families);

// The pieces, for tests and for anyone writing a line by hand.
void AppendPrometheusValue(double value, std::string* out);
void AppendEscapedLabelValue(std::string_view value, std::string* out);
void AppendEscapedHelp(std::string_view help, std::string* out);

}  // namespace sluice::metrics
