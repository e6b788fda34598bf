// Guards for tests that reach the AWS credential chain: nothing a test runs
// may contact AWS or the real metadata addresses (169.254.169.254,
// 169.254.170.2, 169.254.170.23, fd00:ec2::...).
//
// LoopbackOnlyTransport wraps a real transport and refuses, without sending,
// any request whose host is not loopback, recording it; tests assert that
// nothing was refused. Unit tests use ScriptedTransport
// (support/scripted_transport.h), which never sends anything.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "aws/credential_parsing.h"
#include "http/transport.h"
#include "support/scripted_transport.h"

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
