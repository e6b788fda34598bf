#include "app/check.h"

#include <set>
#include <string>
#include <vector>

#include "app/clients.h"
#include "functions/runtime.h"
#include "source/database_check.h"

namespace sluice::app {
namespace {

std::vector<std::string> TablesOf(const config::Settings& settings, const std::string& database) {
  std::set<std::string> tables;
  for (const auto& sink : settings.sinks) {
    if (sink.database != database) continue;
    tables.insert(sink.include_tables.begin(), sink.include_tables.end());
    for (const auto& t : sink.tables) tables.insert(t.name);
  }
  return {tables.begin(), tables.end()};
}

}  // namespace

Status PreflightDatabase(const config::Settings& settings, const config::DatabaseSettings& db) {
  std::vector<std::string> findings;
  return source::CheckDatabase(db, TablesOf(settings, db.name), &findings);
}

int RunCheck(const config::Settings& settings, const Clock& clock, std::ostream& out) {
  int problems = 0;
  out << "config " << settings.config_path << ": ok (" << settings.databases.size()
      << " database(s), " << settings.sinks.size() << " sink(s), " << settings.functions.size()
      << " function(s))\n";
  for (const auto& db : settings.databases) {
    std::vector<std::string> findings;
    Status st = source::CheckDatabase(db, TablesOf(settings, db.name), &findings);
    for (const auto& f : findings) out << "database " << db.name << ": " << f << "\n";
    if (!st.ok()) ++problems;
  }
  if (!settings.functions.empty()) {
    std::vector<std::string> findings;
    Status st = functions::CheckFunctions(settings, &findings);
    for (const auto& f : findings) out << "functions: " << f << "\n";
    if (!st.ok()) {
      ++problems;
    } else {
      out << "functions: " << settings.functions.size() << " compiled and run once\n";
    }
  }
  for (const auto& sink : settings.sinks) {
    if (sink.status == config::SinkStatus::kDisabled) {
      out << "sink " << sink.name << ": disabled, not checked\n";
      continue;
    }
    auto credentials = MakeSinkCredentials(sink, clock);
    if (auto keys = credentials->Get(); !keys.ok()) {
      ++problems;
      out << "sink " << sink.name << ": error: " << keys.error().message() << "\n";
      continue;
    }
    out << "sink " << sink.name << ": credentials from " << credentials->Describe() << "\n";
    auto client = MakeSinkClient(sink, credentials, clock);
    if (!client.ok()) {
      ++problems;
      out << "sink " << sink.name << ": error: " << client.error().message() << "\n";
      continue;
    }
    auto summary = (*client)->DescribeStream(sink.destination.stream);
    if (!summary.ok()) {
      ++problems;
      out << "sink " << sink.name << ": error: " << summary.error().message() << "\n";
      continue;
    }
    out << "sink " << sink.name << ": stream " << sink.destination.stream.arn << " is "
        << summary->status << ", " << summary->open_shard_count << " open shard(s), max record "
        << summary->max_record_bytes << " bytes"
        << (summary->from_describe_stream ? " (via DescribeStream)" : "") << "\n";
    if (summary->status != "ACTIVE" && summary->status != "UPDATING") {
      ++problems;
      out << "sink " << sink.name << ": FAIL: stream is " << summary->status << ", not ACTIVE\n";
    }
  }
  out << (problems == 0 ? "all checks passed\n" : std::to_string(problems) + " problem(s) found\n");
  return problems;
}

}  // namespace sluice::app
