// Guards for tests that reach the AWS credential chain: nothing a test runs
// may contact AWS or the real metadata addresses (169.254.169.254,
// 169.254.170.2, 169.254.170.23, fd00:ec2::...).
//
// LoopbackOnlyTransport wraps a real transport and refuses, without sending,
// any request whose host is not loopback, recording it; tests assert that
// nothing was refused. ScriptedTransport (unit tests) never sends anything: it
// answers from a script and records every request.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "aws/credential_parsing.h"
#include "http/transport.h"

namespace sluice::testing_support {

// What every test that talks HTTP through the chain must satisfy.
inline bool IsLoopbackUrl(const std::string& url) { return aws::IsLoopbackHost(aws::UrlHost(url)); }

// URLs refused by LoopbackOnlyTransport instances sharing this log.
class RefusedLog {
 public:
  void Add(std::string url) {
    std::lock_guard<std::mutex> lock(mu_);
    urls_.push_back(std::move(url));
  }
  std::vector<std::string> urls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return urls_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> urls_;
};

class LoopbackOnlyTransport final : public http::Transport {
 public:
  LoopbackOnlyTransport(std::unique_ptr<http::Transport> inner, std::shared_ptr<RefusedLog> refused)
      : inner_(std::move(inner)), refused_(std::move(refused)) {}
  Result<http::Response> Send(const http::Request& request) override {
    if (!IsLoopbackUrl(request.url)) {
      refused_->Add(request.url);
      return Error(ErrorCode::kNetwork, "test guard: refused non-loopback URL " + request.url);
    }
    return inner_->Send(request);
  }

 private:
  std::unique_ptr<http::Transport> inner_;
  std::shared_ptr<RefusedLog> refused_;
};

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

// A value of the request's header (name case-insensitive), or empty.
inline std::string RequestHeader(const http::Request& request, std::string lower_name) {
  for (const auto& [name, value] : request.headers) {
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == lower_name) return value;
  }
  return {};
}

}  // namespace sluice::testing_support
