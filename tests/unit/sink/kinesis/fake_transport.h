// Fakes for the Kinesis client's seams: a transport that replays scripted
// replies and records what was sent, a fixed clock, and a credentials provider
// that counts Invalidate() calls.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "aws/credentials.h"
#include "base/clock.h"
#include "http/transport.h"
#include "sink/kinesis/client.h"
#include "support/scripted_transport.h"

namespace sluice::kinesis::testing {

// Shared by all transports a factory makes: replies are handed out in order;
// replies carry Kinesis's JSON content type.
class Script : public testing_support::HttpScript {
 public:
  void Reply(int status, std::string body) {
    HttpScript::Reply(status, std::move(body), {{"content-type", "application/x-amz-json-1.1"}});
  }
};

using FakeTransport = testing_support::ScriptedTransport;

class FixedClock final : public Clock {
 public:
  explicit FixedClock(WallTime wall) : wall_(wall) {}
  SteadyTime Now() const override { return SteadyTime{}; }
  WallTime WallNow() const override { return wall_; }

 private:
  WallTime wall_;
};

class CountingCredentials final : public aws::CredentialsProvider {
 public:
  explicit CountingCredentials(Result<aws::Credentials> credentials)
      : credentials_(std::move(credentials)) {}
  Result<aws::Credentials> Get() override { return credentials_; }
  void Invalidate(const std::string& access_key_id) override {
    ++invalidations;
    invalidated.push_back(access_key_id);
  }
  std::string Name() const override { return "test provider"; }

  int invalidations = 0;
  std::vector<std::string> invalidated;  // the access key ids named

 private:
  Result<aws::Credentials> credentials_;
};

inline std::string HeaderValue(const http::Request& request, const std::string& lower_name) {
  for (const auto& [name, value] : request.headers) {
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == lower_name) return value;
  }
  return {};
}

inline bool HasHeader(const http::Request& request, const std::string& lower_name) {
  for (const auto& [name, value] : request.headers) {
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == lower_name) return true;
  }
  return false;
}

}  // namespace sluice::kinesis::testing
