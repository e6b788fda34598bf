// ChangeHandler: where the source hands decoded, committed changes.
//
// The source calls these from its own thread, in WAL order. pgoutput v1 sends
// a transaction only after it committed, so OnChange may be delivered before
// OnCommit arrives; the commit LSN is already known from Begin.
#pragma once

#include <chrono>
#include <memory>

#include "base/lsn.h"
#include "model/change.h"

namespace sluice::source {

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

  // The LSN the source may report as flushed in standby status updates.
  virtual Lsn AcknowledgedLsn() const = 0;
};

}  // namespace sluice::source
