#include "api/control.h"

namespace sluice::api {

const char* MessageStateName(MessageState state) {
  switch (state) {
    case MessageState::kPending: return "pending";
    case MessageState::kInFlight: return "in_flight";
    case MessageState::kBackingOff: return "backing_off";
    case MessageState::kFailed: return "failed";
    case MessageState::kDelivered: return "delivered";
  }
  return "pending";
}

std::optional<MessageState> ParseMessageState(std::string_view text) {
  for (MessageState s : {MessageState::kPending, MessageState::kInFlight, MessageState::kBackingOff,
                         MessageState::kFailed, MessageState::kDelivered}) {
    if (text == MessageStateName(s)) return s;
  }
  return std::nullopt;
}

const char* SinkHealthName(SinkHealth health) {
  switch (health) {
    case SinkHealth::kHealthy: return "healthy";
    case SinkHealth::kDegraded: return "degraded";
    case SinkHealth::kFailing: return "failing";
    case SinkHealth::kPaused: return "paused";
  }
  return "healthy";
}

const char* BackfillStateName(BackfillState state) {
  switch (state) {
    case BackfillState::kRunning: return "running";
    case BackfillState::kDone: return "done";
    case BackfillState::kCancelled: return "cancelled";
    case BackfillState::kFailed: return "failed";
  }
  return "running";
}

}  // namespace sluice::api
