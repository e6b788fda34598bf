// RecordMaker: what a message becomes at one delivery attempt (SPEC §4, §6).
//
// Why a seam: encoding and the sink's functions (filter → routing →
// transform) run at every attempt, not when a change is read, so a function
// changed by a restart or reload applies to messages already waiting. The
// delivery engine does not know Lua; the app supplies a maker that runs the
// functions, tests supply fakes.
//
// Thread safety: none. Each sender thread makes its own RecordMaker from the
// factory (function runtimes are single-threaded).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "config/settings.h"
#include "model/change.h"
#include "model/encoder.h"

namespace sluice::delivery {

struct Record {
  bool filtered = false;                    // a filter function dropped it: resolved, not sent
  std::optional<config::StreamArn> stream;  // a routing function's choice; nullopt: the sink's
  std::string data;                         // the record's Data
};

class RecordMaker {
 public:
  virtual ~RecordMaker() = default;
  // Fills *record (reusing its buffers). An error fails this attempt of the
  // message (it backs off and is retried like a failed put); its message says
  // which function failed and why.
  virtual Status Make(const model::Change& change, Record* record) = 0;
};

using RecordMakerFactory = std::function<Result<std::unique_ptr<RecordMaker>>()>;

// A maker that only encodes (a sink without functions).
RecordMakerFactory EncodingRecordMakers(model::EncodeOptions options);

}  // namespace sluice::delivery
