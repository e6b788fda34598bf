// FakeKinesis: a KinesisClient for unit tests at the delivery seam. It
// decodes each PutRecords body like Kinesis would and answers per record from
// a script, recording what was put, how often and in what order.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/encoding.h"
#include "sink/kinesis/client.h"

namespace sluice::testing_support {

struct PutEntry {
  std::string partition_key;
  int64_t commit_idx = -1;  // identifies the message in these tests (-1: not in the Data)
  std::string stream;       // StreamName of the request
  std::string data;         // the record's Data, decoded
};

// Decides the outcome of one record: empty = success, else an error code.
using Script = std::function<std::string(const PutEntry& entry, int attempt)>;

class FakeKinesis final : public sluice::kinesis::KinesisClient {
 public:
  explicit FakeKinesis(Script script) : script_(std::move(script)) {}

  sluice::Result<sluice::kinesis::StreamSummary> DescribeStream(
      const sluice::config::StreamArn&) override {
    sluice::kinesis::StreamSummary s;
    s.status = "ACTIVE";
    s.max_record_bytes = 1024 * 1024;
    return s;
  }

  sluice::kinesis::PutRecordsResult PutRecords(const sluice::config::StreamArn& stream,
                                               const std::string& body, size_t count) override {
    if (before_put_) before_put_();
    rapidjson::Document doc;
    doc.Parse(body.c_str());
    EXPECT_FALSE(doc.HasParseError());
    const auto& records = doc["Records"];
    EXPECT_EQ(records.Size(), count);
    sluice::kinesis::PutRecordsResult result;
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_;
    if (down_ || network_failures_left_ > 0) {
      if (!down_) --network_failures_left_;
      result.failure = sluice::kinesis::RequestFailure::kNetwork;
      result.error_message = "connection reset";
      return result;
    }
    for (const auto& r : records.GetArray()) {
      auto data = Base64Decode(r["Data"].GetString());
      rapidjson::Document msg;
      msg.Parse(data->c_str());
      PutEntry entry;
      entry.partition_key = r["PartitionKey"].GetString();
      if (msg.IsObject() && msg.HasMember("metadata") && msg["metadata"].IsObject() &&
          msg["metadata"].HasMember("commit_idx")) {
        entry.commit_idx = msg["metadata"]["commit_idx"].GetInt64();
      }
      entry.stream = stream.stream_name;
      entry.data = *data;
      int attempt = ++attempts_[entry.commit_idx];
      std::string error = script_(entry, attempt);
      sluice::kinesis::RecordOutcome outcome;
      outcome.ok = error.empty();
      if (outcome.ok) {
        delivered_.push_back(entry);
        ++delivered_count_[entry.commit_idx];
      } else {
        outcome.error_code = error;
        outcome.error_message = "scripted failure";
      }
      result.records.push_back(outcome);
    }
    cv_.notify_all();
    return result;
  }

  void SetDown(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  size_t DeliveredSize() {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_.size();
  }

  // Waits (bounded, as a guard against hangs) until `n` records succeeded.
  bool WaitDelivered(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return delivered_.size() >= n; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  Script script_;
  int network_failures_left_ = 0;
  bool down_ = false;  // every request fails with a network error
  int requests_ = 0;
  // Called before each request is looked at, without the lock (to block one).
  std::function<void()> before_put_;
  std::vector<PutEntry> delivered_;
  std::map<int64_t, int> attempts_;
  std::map<int64_t, int> delivered_count_;
};

}  // namespace sluice::testing_support
