// `sluice check` support: compile every function and try it on a synthetic
// message.
#include <string>
#include <vector>

#include "functions/runtime.h"

namespace sluice::functions {
namespace {

// An update of public.orders as model::EncodeMessage would produce it.
constexpr std::string_view kSyntheticMessage =
    R"({"record":{"id":1,"account_id":42,"type":"order","status":"paid","total":199.99,)"
    R"("note":null,"tags":["a","b"],"payload":{"k":"v"}},)"
    R"("changes":{"status":"pending"},"action":"update",)"
    R"("metadata":{"table_schema":"public","table_name":"orders",)"
    R"("commit_timestamp":"2026-11-27T10:00:00.123456Z","commit_lsn":24023128,"commit_idx":0,)"
    R"("idempotency_key":"MjQwMjMxMjg6MA==","record_pks":["1"],"transaction_annotations":null,)"
    R"("database_name":"app","consumer":{"name":"check"}}})";

}  // namespace

std::optional<config::StreamArn> DefaultStreamFor(const config::Settings& settings) {
  const config::SinkSettings* first_with_arn = nullptr;
  for (const auto& sink : settings.sinks) {
    if (sink.destination.stream.arn.empty()) continue;
    bool uses_functions = !sink.filter.empty() || !sink.routing.empty() || !sink.transform.empty();
    if (uses_functions) return sink.destination.stream;
    if (first_with_arn == nullptr) first_with_arn = &sink;
  }
  if (first_with_arn == nullptr) return std::nullopt;
  return first_with_arn->destination.stream;
}

Status CheckFunctions(const config::Settings& settings, std::vector<std::string>* findings) {
  int failures = 0;
  std::optional<config::StreamArn> default_stream = DefaultStreamFor(settings);
  for (const auto& fs : settings.functions) {
    std::string where = fs.line > 0 ? " (config line " + std::to_string(fs.line) + ")" : "";
    RuntimeOptions options;
    options.default_stream = default_stream;
    auto runtime = FunctionRuntime::Create({fs}, options);
    if (!runtime.ok()) {
      ++failures;
      findings->push_back("error: " + runtime.error().message() + where);
      continue;
    }
    Status run = OkStatus();
    if (fs.type == "filter") {
      auto r = (*runtime)->Filter(fs.name, kSyntheticMessage);
      if (!r.ok()) run = r.error();
    } else if (fs.type == "routing") {
      auto r = (*runtime)->Route(fs.name, kSyntheticMessage);
      if (!r.ok()) run = r.error();
    } else {
      auto r = (*runtime)->Transform(fs.name, kSyntheticMessage);
      if (!r.ok()) run = r.error();
    }
    if (!run.ok()) {
      findings->push_back("warning: on a synthetic update of public.orders, " +
                          run.error().message() + where);
    }
  }
  if (failures > 0) {
    return Error(ErrorCode::kConfig, std::to_string(failures) + " function(s) failed to compile");
  }
  return OkStatus();
}

}  // namespace sluice::functions
