// Streaming replication framing inside CopyBoth data (pure, no libpq):
// the server's XLogData ('w') and primary keepalive ('k') messages, and the
// client's standby status update ('r'). See the PostgreSQL docs, "Streaming
// Replication Protocol". Timestamps on the wire are Postgres microseconds
// (since 2000-01-01); here they are Unix microseconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "base/lsn.h"
#include "base/result.h"

namespace sluice::source {

struct XLogData {
  Lsn wal_start;  // WAL position of the start of the payload
  Lsn wal_end;    // current end of WAL on the server
  int64_t send_time_us = 0;
  std::string_view payload;  // one pgoutput message; points into the input buffer
};

struct PrimaryKeepalive {
  Lsn wal_end;  // everything before this has been sent
  int64_t send_time_us = 0;
  bool reply_requested = false;
};

using CopyMessage = std::variant<XLogData, PrimaryKeepalive>;

// Parses one CopyData message from the server. Errors name the offset.
Result<CopyMessage> ParseCopyData(std::string_view bytes);

// Builds a standby status update ('r'): 1 + 8*4 + 1 = 34 bytes.
std::string StandbyStatusUpdate(Lsn write, Lsn flush, Lsn apply, int64_t now_unix_us,
                                bool reply_requested);

}  // namespace sluice::source
