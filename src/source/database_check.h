// Postgres readiness checks for `sluice check` (SPEC §7): connection,
// wal_level, REPLICATION privilege, slot, publication and the replica
// identity of the tables a sink reads. Read-only: nothing is created.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "config/settings.h"

namespace sluice::source {

enum class Severity { kOk, kWarning, kError };

struct Finding {
  Severity severity = Severity::kOk;
  std::string message;  // one line a user can act on; never contains the password
};

// Runs every check it can and appends one Finding per check to `findings`.
// `tables` are "schema.table" names to check the replica identity of (may be
// empty). Returns the first kError finding as an Error (connection failure:
// kNetwork/kAuth/kPostgres as from Connect), or OK if there were only
// kOk/kWarning findings. Blocking; opens one normal connection.
Status CheckDatabase(const config::DatabaseSettings& db, const std::vector<std::string>& tables,
                     std::vector<Finding>* findings);

// Same, with findings formatted as "ok: ...", "warning: ...", "error: ...".
Status CheckDatabase(const config::DatabaseSettings& db, const std::vector<std::string>& tables,
                     std::vector<std::string>* findings);

const char* SeverityName(Severity severity);  // "ok", "warning", "error"

}  // namespace sluice::source
