// Endpoint: what bench_kinesis answers, without the HTTP plumbing (that is
// http_server.h): the Kinesis operations sluice and the bench scripts call,
// and the measurements (/stats, /reset). Pure: the arrival time of each request
// and the process's CPU times are passed in.
//
// Not thread-safe: one thread (the server's event loop) calls it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench_kinesis/put_records.h"

namespace bench_kinesis {

// One complete HTTP request. `body[body_size]` is '\0' and the endpoint may
// modify the body (PutRecords is parsed in place).
struct Request {
  std::string_view method;
  std::string_view path;    // without the query string
  std::string_view target;  // the X-Amz-Target header, or empty
  char* body = nullptr;
  size_t body_size = 0;
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
};

struct CpuTimes {
  double user_s = 0;
  double sys_s = 0;
};

struct EndpointOptions {
  int shards = 4;
  size_t max_request_bytes = kDefaultMaxRequestBytes;
  // The CPU this process has used so far (getrusage in the program, a fake in tests).
  std::function<CpuTimes()> cpu_times = [] { return CpuTimes{}; };
};

// Nearest-rank percentiles over every latency recorded since the last reset.
struct LatencySummary {
  uint64_t count = 0;
  int32_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  double mean = 0;
};

class Endpoint {
 public:
  explicit Endpoint(EndpointOptions options);

  // Answers one request whose body was complete at `arrival_unix_us`
  // (CLOCK_REALTIME, microseconds): a Kinesis operation (POST with
  // X-Amz-Target Kinesis_20131202.<Op>), GET /stats or POST /reset.
  Response Handle(const Request& request, int64_t arrival_unix_us);

  // The /stats document (see main.cc for its fields).
  std::string StatsJson() const;
  LatencySummary Latency() const;
  uint64_t order_violations() const { return order_violations_; }
  uint64_t records() const { return records_; }

  // Clears the counters, the latencies and the last position per partition
  // key; the shards' sequence numbers keep counting.
  void Reset();

 private:
  struct Position {
    uint64_t lsn = 0;
    uint32_t idx = 0;
  };

  Response PutRecords(const Request& request, int64_t arrival_unix_us);
  Response DescribeStreamSummary(const Request& request) const;
  Response DescribeStream(const Request& request) const;
  void AppendSequenceNumber(int shard, std::string* out);

  EndpointOptions options_;
  std::vector<uint64_t> sequence_;      // per shard: the last sequence number given
  std::vector<std::string> shard_ids_;  // "shardId-000000000000", ...

  uint64_t requests_ = 0;  // PutRecords requests, accepted or not
  uint64_t rejected_requests_ = 0;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;  // accepted data (decoded) + partition key bytes
  std::optional<int64_t> first_record_unix_us_;
  std::optional<int64_t> last_record_unix_us_;
  std::vector<int32_t> latencies_us_;
  int64_t latency_sum_us_ = 0;
  uint64_t order_violations_ = 0;
  // Keyed by a 64-bit hash of the partition key (collisions are negligible
  // for benchmark key counts and would only hide a violation).
  std::unordered_map<uint64_t, Position> last_position_;

  // Reused per request to save allocations.
  std::vector<RecordView> records_scratch_;
  std::string decode_scratch_;
};

}  // namespace bench_kinesis
