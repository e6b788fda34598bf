// ScriptedTransport: an http::Transport for unit tests that never sends
// anything. Every transport sharing one HttpScript takes its replies from it
// in order and records each request, so a test scripts an exchange and then
// asserts what was asked.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "http/transport.h"

namespace sluice::testing_support {

// Replies handed out in order to every transport sharing the script.
class HttpScript {
 public:
  void Reply(int status, std::string body, http::Headers headers = {}) {
    http::Response r;
    r.status = status;
    r.headers = std::move(headers);
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
    if (replies_.empty())
      return Error(ErrorCode::kNetwork, "scripted transport: unscripted request");
    auto reply = std::move(replies_.front());
    replies_.pop_front();
    return reply;
  }
  std::vector<http::Request> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  size_t unused_replies() const {
    std::lock_guard<std::mutex> lock(mu_);
    return replies_.size();
  }

 private:
  mutable std::mutex mu_;
  std::deque<Result<http::Response>> replies_;
  std::vector<http::Request> requests_;
};

class ScriptedTransport final : public http::Transport {
 public:
  explicit ScriptedTransport(std::shared_ptr<HttpScript> script) : script_(std::move(script)) {}
  Result<http::Response> Send(const http::Request& request) override {
    return script_->Next(request);
  }

 private:
  std::shared_ptr<HttpScript> script_;
};

}  // namespace sluice::testing_support
