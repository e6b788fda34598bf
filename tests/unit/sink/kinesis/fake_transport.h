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

namespace sluice::kinesis::testing {

// Shared by all transports a factory makes: replies are handed out in order.
class Script {
 public:
  void Reply(int status, std::string body) {
    http::Response r;
    r.status = status;
    r.headers = {{"content-type", "application/x-amz-json-1.1"}};
    r.body = std::move(body);
    std::lock_guard<std::mutex> lock(mu_);
    replies_.emplace_back(std::move(r));
  }
  void Fail(Error error) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_.emplace_back(std::move(error));
  }

  Result<http::Response> Next(const http::Request& request) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    if (replies_.empty()) return Error(ErrorCode::kInternal, "fake transport: unscripted request");
    auto reply = std::move(replies_.front());
    replies_.pop_front();
    return reply;
  }

  std::vector<http::Request> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  mutable std::mutex mu_;
  std::deque<Result<http::Response>> replies_;
  std::vector<http::Request> requests_;
};

class FakeTransport final : public http::Transport {
 public:
  explicit FakeTransport(std::shared_ptr<Script> script) : script_(std::move(script)) {}
  Result<http::Response> Send(const http::Request& request) override {
    return script_->Next(request);
  }

 private:
  std::shared_ptr<Script> script_;
};

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
