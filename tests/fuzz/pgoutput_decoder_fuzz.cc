// libFuzzer target: arbitrary bytes through the pgoutput decoder and the change
// assembler. The input is split into messages at each "\n--\n" separator so the
// fuzzer can build sequences (Relation, Begin, Insert, ...) that reach the
// assembler's state machine; each part is also parsed as replication CopyData.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "source/change_assembler.h"
#include "source/replication_protocol.h"

namespace {

class NullHandler : public sluice::source::ChangeHandler {
 public:
  void OnBegin(const std::shared_ptr<const sluice::model::TransactionInfo>&) override {}
  void OnChange(sluice::model::Change change) override {
    // Touch every field so sanitizers check the tuple's offsets.
    for (size_t i = 0; i < change.new_tuple.size(); ++i) sink_ += change.new_tuple.text(i).size();
    if (change.old_tuple) {
      for (size_t i = 0; i < change.old_tuple->size(); ++i) {
        sink_ += change.old_tuple->text(i).size();
      }
    }
    sink_ += change.relation->columns.size();
  }
  void OnCommit(sluice::Lsn, sluice::Lsn) override {}
  void OnIdle(sluice::Lsn) override {}
  bool WaitForCapacity(std::chrono::milliseconds) override { return true; }
  sluice::Lsn AcknowledgedLsn() const override { return sluice::Lsn(); }

 private:
  size_t sink_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // ignored-annotation warnings would flood
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  NullHandler handler;
  sluice::source::ChangeAssembler assembler(handler);
  constexpr std::string_view kSeparator = "\n--\n";
  while (true) {
    const size_t cut = input.find(kSeparator);
    std::string_view part = input.substr(0, cut);
    (void)sluice::source::ParseCopyData(part);
    (void)assembler.Process(part);
    if (cut == std::string_view::npos) break;
    input.remove_prefix(cut + kSeparator.size());
  }
  return 0;
}
