// bench_kinesis: a Kinesis-compatible endpoint for benchmarks that costs
// little CPU, so that a benchmark measures sluice and not the endpoint.
//
//   bench_kinesis --listen 127.0.0.1:PORT [--shards N (default 4)]
//                 [--stats-file PATH] [--max-request-mib N (default 10)]
//
// Plain HTTP on a loopback address only (other hosts are refused); point
// sluice at it with `endpoint_url: http://127.0.0.1:PORT`. Any stream name or
// ARN and any region are accepted and requests are NOT authenticated: the
// SigV4 signature sluice sends is not checked. Nothing is stored.
//
// Kinesis JSON 1.1 (X-Amz-Target: Kinesis_20131202.<Op>):
//   PutRecords             the AWS limits are checked (at most 500 records; per
//                          record decoded data + partition key at most 1 MiB;
//                          per request at most 10 MiB (SPEC §4, as sluice sends), or
//                          --max-request-mib; partition key 1-256 characters; Data valid padded
//                          base64): a violation is answered 400
//                          {"__type":"ValidationException","message":"..."}
//                          naming the limit; otherwise 200, every record
//                          succeeds, shard = FNV-1a(partition key) mod N,
//                          sequence numbers increase per shard.
//   DescribeStreamSummary  ACTIVE, OpenShardCount N, no MaxRecordSizeInKiB
//                          (the 1 MiB default); StreamName/StreamARN echoed.
//   DescribeStream         ACTIVE with N open shards.
//   CreateStream, DeleteStream  accepted (200, nothing changes).
//   anything else          400 UnknownOperationException.
//
// Measurements, since start or the last POST /reset:
//   latency: for every accepted record, its arrival time (CLOCK_REALTIME, µs,
//     when the request body was complete) minus the commit time in its data
//     ("commit_timestamp":"<ISO-8601>Z", or Unix µs, found by a string search
//     in the base64-decoded data; records without one are counted, not timed).
//   order: per partition key the last ("commit_lsn", "commit_idx") seen; a
//     record whose position is lower than the previous one of its key counts
//     as an order violation (equal positions, i.e. redeliveries, do not).
//
// GET /stats answers, and SIGTERM/SIGINT write to --stats-file (then exit 0):
//   {"requests": PutRecords requests (accepted or rejected),
//    "records": accepted records, "bytes": their data (decoded) + partition
//    key bytes, "rejected_requests": PutRecords answered 400,
//    "first_record_unix_us", "last_record_unix_us": arrival of the first and
//    last accepted request (null before any),
//    "latency_us": {"count", "p50", "p90", "p99", "p999", "max", "mean"}
//    (exact, nearest-rank; null values when count is 0),
//    "order_violations",
//    "cpu_user_s", "cpu_sys_s": this process's CPU since it started}
// POST /reset clears all of it except the CPU times and the shards' sequence
// numbers. The stats file is written to PATH.tmp and renamed.
//
// One thread: an epoll loop (http_server.h) with keep-alive and any number of
// connections.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>

#include "bench_kinesis/endpoint.h"
#include "bench_kinesis/http_server.h"

namespace {

bench_kinesis::HttpServer* g_server = nullptr;

void OnStopSignal(int) {
  if (g_server != nullptr) g_server->Stop();
}

bench_kinesis::CpuTimes ProcessCpuTimes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return {seconds(usage.ru_utime), seconds(usage.ru_stime)};
}

[[noreturn]] void Usage(const std::string& problem) {
  std::cerr << "bench_kinesis: " << problem << "\n"
            << "usage: bench_kinesis --listen 127.0.0.1:PORT [--shards N] [--stats-file PATH] "
               "[--max-request-mib N]\n";
  std::exit(64);
}

int ParsePositive(const std::string& flag, const std::string& text, int max) {
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 1 || value > max) {
    Usage(flag + " wants a whole number from 1 to " + std::to_string(max) + ", not '" + text + "'");
  }
  return static_cast<int>(value);
}

bool WriteStatsFile(const std::string& path, const std::string& json) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json << "\n";
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen;
  std::string stats_file;
  bench_kinesis::EndpointOptions options;
  options.cpu_times = &ProcessCpuTimes;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") Usage("a Kinesis endpoint for benchmarks");
    if (i + 1 >= argc) Usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--listen") {
      listen = value;
    } else if (flag == "--shards") {
      options.shards = ParsePositive(flag, value, 10000);
    } else if (flag == "--stats-file") {
      stats_file = value;
    } else if (flag == "--max-request-mib") {
      options.max_request_bytes = size_t(ParsePositive(flag, value, 64)) * 1024 * 1024;
    } else {
      Usage("unknown argument " + flag);
    }
  }
  std::string host;
  int port = 0;
  if (listen.empty()) Usage("--listen 127.0.0.1:PORT is required");
  if (!bench_kinesis::SplitHostPort(listen, &host, &port)) {
    Usage("--listen wants HOST:PORT, not '" + listen + "'");
  }

  bench_kinesis::Endpoint endpoint(options);
  try {
    bench_kinesis::HttpServer server(
        [&endpoint](const bench_kinesis::Request& request, int64_t arrival_unix_us) {
          return endpoint.Handle(request, arrival_unix_us);
        });
    server.Listen(host, port);
    g_server = &server;
    struct sigaction action {};
    action.sa_handler = &OnStopSignal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);
    std::printf("bench_kinesis listening on http://%s:%d (%d shards)\n", host.c_str(),
                server.port(), options.shards);
    std::fflush(stdout);
    server.Run();
    g_server = nullptr;
  } catch (const std::exception& error) {
    std::cerr << "bench_kinesis: " << error.what() << "\n";
    return 1;
  }
  if (!stats_file.empty() && !WriteStatsFile(stats_file, endpoint.StatsJson())) {
    std::cerr << "bench_kinesis: could not write " << stats_file << ": " << std::strerror(errno)
              << "\n";
    return 1;
  }
  return 0;
}
