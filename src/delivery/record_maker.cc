#include "delivery/record_maker.h"

namespace sluice::delivery {
namespace {

class EncodingRecordMaker final : public RecordMaker {
 public:
  explicit EncodingRecordMaker(model::EncodeOptions options) : options_(std::move(options)) {}

  Status Make(const model::Change& change, Record* record) override {
    record->filtered = false;
    record->stream.reset();
    record->data.clear();
    model::EncodeMessage(change, options_, &record->data);
    return OkStatus();
  }

 private:
  const model::EncodeOptions options_;
};

}  // namespace

RecordMakerFactory EncodingRecordMakers(model::EncodeOptions options) {
  return [options = std::move(options)]() -> Result<std::unique_ptr<RecordMaker>> {
    return std::unique_ptr<RecordMaker>(std::make_unique<EncodingRecordMaker>(options));
  };
}

}  // namespace sluice::delivery
