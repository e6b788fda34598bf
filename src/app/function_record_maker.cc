#include "app/function_record_maker.h"

#include <memory>
#include <utility>

#include "functions/runtime.h"

namespace sluice::app {
namespace {

class FunctionRecordMaker final : public delivery::RecordMaker {
 public:
  FunctionRecordMaker(std::unique_ptr<functions::FunctionRuntime> runtime,
                      const config::SinkSettings& sink, model::EncodeOptions encode)
      : runtime_(std::move(runtime)), sink_(sink), encode_(std::move(encode)) {}

  Status Make(const model::Change& change, delivery::Record* record) override {
    json_.clear();
    model::EncodeMessage(change, encode_, &json_);
    SLUICE_ASSIGN_OR_RETURN(auto applied, runtime_->Apply(sink_, json_));
    record->filtered = applied.dropped;
    record->stream = std::move(applied.stream);
    record->data = std::move(applied.data);
    return OkStatus();
  }

 private:
  std::unique_ptr<functions::FunctionRuntime> runtime_;
  const config::SinkSettings& sink_;
  const model::EncodeOptions encode_;
  std::string json_;  // reused: the message as it would be sent without functions
};

}  // namespace

delivery::RecordMakerFactory SinkRecordMakers(const config::Settings& settings,
                                              const config::SinkSettings& sink,
                                              model::EncodeOptions encode) {
  if (sink.filter.empty() && sink.transform.empty() && sink.routing.empty()) {
    return delivery::EncodingRecordMakers(std::move(encode));
  }
  return [&settings, &sink,
          encode = std::move(encode)]() -> Result<std::unique_ptr<delivery::RecordMaker>> {
    functions::RuntimeOptions options;
    options.default_stream = sink.destination.stream;
    SLUICE_ASSIGN_OR_RETURN(auto runtime,
                            functions::FunctionRuntime::Create(settings.functions, options));
    return std::unique_ptr<delivery::RecordMaker>(
        std::make_unique<FunctionRecordMaker>(std::move(runtime), sink, encode));
  };
}

}  // namespace sluice::app
