// Path functions: extract a sub-value of the message JSON without Lua.
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <vector>

#include "functions/runtime.h"

namespace sluice::functions {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    out.push_back(path.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

// Streams the parse; forwards the events of the value at the path to a writer
// and stops parsing once that value is complete.
class PathExtractor {
 public:
  explicit PathExtractor(const std::vector<std::string_view>& segments)
      : segments_(segments), writer_(buffer_) {}

  bool Null() {
    return Scalar([&] { return writer_.Null(); });
  }
  bool Bool(bool b) {
    return Scalar([&] { return writer_.Bool(b); });
  }
  bool Int(int) { return false; }
  bool Uint(unsigned) { return false; }
  bool Int64(int64_t) { return false; }
  bool Uint64(uint64_t) { return false; }
  bool Double(double) { return false; }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return Scalar([&] { return writer_.RawValue(s, n, rapidjson::kNumberType); });
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return Scalar([&] { return writer_.String(s, n); });
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (capturing_) return writer_.Key(s, n);
    size_t d = static_cast<size_t>(depth_);
    pending_ = in_object_.back() && matched_ == d - 1 && d - 1 < segments_.size() &&
               segments_[d - 1] == std::string_view(s, n);
    return true;
  }
  bool StartObject() { return Open(false); }
  bool StartArray() { return Open(true); }
  bool EndObject(rapidjson::SizeType) { return Close(false); }
  bool EndArray(rapidjson::SizeType) { return Close(true); }

  bool found() const { return found_; }
  std::string Result() const { return found_ ? buffer_.GetString() : "null"; }

 private:
  template <typename F>
  bool Scalar(F write) {
    if (capturing_) return write();
    if (TakePendingAsTarget()) {
      write();
      found_ = true;
      return false;  // done: stop parsing
    }
    return true;
  }
  // True if the value starting now is the target (consumes pending_).
  bool TakePendingAsTarget() {
    bool hit = pending_ && static_cast<size_t>(depth_) == segments_.size();
    pending_ = false;
    return hit;
  }
  bool Open(bool is_array) {
    if (capturing_) {
      ++depth_;
      return is_array ? writer_.StartArray() : writer_.StartObject();
    }
    bool continues = pending_ && static_cast<size_t>(depth_) < segments_.size() && !is_array;
    if (TakePendingAsTarget()) {
      capturing_ = true;
      capture_depth_ = depth_;
      ++depth_;
      return is_array ? writer_.StartArray() : writer_.StartObject();
    }
    ++depth_;
    in_object_.push_back(!is_array);
    if (continues || (depth_ == 1 && !is_array)) matched_ = depth_ - 1;
    return true;
  }
  bool Close(bool is_array) {
    --depth_;
    if (capturing_) {
      bool ok = is_array ? writer_.EndArray() : writer_.EndObject();
      if (depth_ == capture_depth_) {
        found_ = true;
        return false;
      }
      return ok;
    }
    in_object_.pop_back();
    // Leaving a matched object: its parent matched one segment less.
    if (depth_ > 0 && matched_ >= static_cast<size_t>(depth_)) matched_ = depth_ - 1;
    return true;
  }

  const std::vector<std::string_view>& segments_;
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
  std::vector<bool> in_object_{false};
  int depth_ = 0;
  size_t matched_ = 0;  // segments matched by the open objects
  bool pending_ = false;
  bool capturing_ = false;
  int capture_depth_ = 0;
  bool found_ = false;
};

}  // namespace

Status ValidatePath(std::string_view path) {
  if (path.empty()) return Error(ErrorCode::kConfig, "path is empty");
  std::vector<std::string_view> segments = SplitPath(path);
  std::string_view first = segments[0];
  if (first != "record" && first != "changes" && first != "action" && first != "metadata") {
    return Error(ErrorCode::kConfig, "path \"" + std::string(path) +
                                         "\" must start with record, changes, action or metadata");
  }
  for (std::string_view s : segments) {
    if (s.empty()) {
      return Error(ErrorCode::kConfig, "path \"" + std::string(path) + "\" has an empty segment");
    }
  }
  return OkStatus();
}

Result<std::string> ApplyPath(std::string_view path, std::string_view message_json) {
  SLUICE_RETURN_IF_ERROR(ValidatePath(path));
  std::vector<std::string_view> segments = SplitPath(path);
  PathExtractor extractor(segments);
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(message_json.data(), message_json.size());
  constexpr unsigned kFlags =
      rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseStopWhenDoneFlag;
  rapidjson::ParseResult r = reader.Parse<kFlags>(ms, extractor);
  if (extractor.found()) return extractor.Result();
  if (r.IsError()) {
    return Error(ErrorCode::kInvalidArgument,
                 "message is not valid JSON (offset " + std::to_string(r.Offset()) + ")");
  }
  return std::string("null");
}

}  // namespace sluice::functions
