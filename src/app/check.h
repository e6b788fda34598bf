// `sluice check`: validates what `sluice run` would need, without running it:
// each database (reachable, wal_level=logical, REPLICATION privilege, slot,
// publication, replica identity of the sink tables) and each sink's stream
// (DescribeStreamSummary). Prints one line per finding.
#pragma once

#include <ostream>

#include "base/clock.h"
#include "base/result.h"
#include "config/settings.h"

namespace sluice::app {

// Returns the number of problems found (0: all good).
int RunCheck(const config::Settings& settings, const Clock& clock, std::ostream& out);

// The database part alone; `sluice run` uses it as a preflight so that an
// unreachable database or a wrong wal_level stops it at once with a clear error.
Status PreflightDatabase(const config::Settings& settings, const config::DatabaseSettings& db);

}  // namespace sluice::app
