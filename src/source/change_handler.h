// ChangeHandler: where the source hands decoded, committed changes.
//
// The source calls these from its own thread, in WAL order. pgoutput v1 sends
// a transaction only after it committed, so OnChange may be delivered before
// OnCommit arrives; the commit LSN is already known from Begin.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/lsn.h"
#include "model/change.h"

namespace sluice::source {

inline constexpr std::string_view kBackfillWatermarkPrefix = "sluice:backfill";

class ChangeHandler {
 public:
  virtual ~ChangeHandler() = default;

  virtual void OnBegin(const std::shared_ptr<const model::TransactionInfo>& txn) = 0;
  virtual void OnChange(model::Change change) = 0;
  // end_lsn: the LSN just past the commit record; acknowledging it tells the
  // server this transaction need not be sent again.
  virtual void OnCommit(Lsn commit_lsn, Lsn end_lsn) = 0;
  // A keepalive or position report when no transaction is open: everything
  // before `lsn` has been sent to us.
  virtual void OnIdle(Lsn lsn) = 0;

  // Backpressure: the source calls this before reading more. Returns false if
  // memory is still full after `timeout`; the source then only keeps the
  // connection alive (status updates) and asks again.
  virtual bool WaitForCapacity(std::chrono::milliseconds timeout) = 0;

  // Before streaming: the slot's confirmed flush position, from which the
  // server will send transactions again.
  virtual void OnSlotPosition(Lsn confirmed_flush) {}

  // The LSN the source may report as flushed in standby status updates.
  virtual Lsn AcknowledgedLsn() const = 0;

  // A per-table health warning, e.g. an unchanged TOAST value that could not
  // be filled from the old row (REPLICA IDENTITY is not FULL). `table` is
  // "schema.name". The source calls it at most once per relation, from its
  // own thread. Default: ignored.
  virtual void OnWarning(const std::string& table, const std::string& message) {}

  // A backfill watermark: a transactional logical message with prefix
  // kBackfillWatermarkPrefix, inside the transaction that emitted it (between
  // OnBegin and OnCommit). `content` is its JSON text (docs/backfill.md).
  // Default: ignored.
  virtual void OnBackfillWatermark(std::string_view content) {}

  // The replication connection was lost and a new one is about to start from
  // AcknowledgedLsn(). A transaction that got OnBegin but no OnCommit is
  // abandoned: the server sends it again, from its Begin, on the new
  // connection, so its changes already passed to OnChange will arrive a second
  // time (drop them, or accept the duplicates under at-least-once). Committed
  // but unacknowledged transactions are re-sent too. Default: nothing.
  virtual void OnReconnect() {}
};

}  // namespace sluice::source
