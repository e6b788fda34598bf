#include "model/change.h"

namespace sluice::model {

const char* ActionName(Action action) {
  switch (action) {
    case Action::kInsert: return "insert";
    case Action::kUpdate: return "update";
    case Action::kDelete: return "delete";
    case Action::kRead: return "read";
    case Action::kTruncate: return "truncate";
  }
  return "unknown";
}

}  // namespace sluice::model
