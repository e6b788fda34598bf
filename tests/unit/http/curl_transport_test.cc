// CurlTransport against a cpp-httplib server on 127.0.0.1 (an ephemeral port
// chosen by the kernel, so parallel test runs cannot collide).
#include "http/curl_transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <thread>

namespace sluice::http {
namespace {

class LocalServer {
 public:
  LocalServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    // The socket already listens; connections queue until the loop accepts.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~LocalServer() {
    // stop() is a no-op until the accept loop has started.
    while (!server_.is_running()) std::this_thread::yield();
    server_.stop();
    thread_.join();
  }
  httplib::Server& server() { return server_; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A bound socket that is not listening: connecting to it is refused, and no
// other process can take the port while the test holds it.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RefusingPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(CurlTransport, SendsMethodHeadersAndBodyAsGivenAndLowercasesResponseHeaders) {
  LocalServer local;
  httplib::Request seen;
  local.server().Post("/echo", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req;
    res.status = 201;
    res.set_header("X-Amzn-RequestId", "abc-123");
    res.set_content("reply:" + req.body, "application/x-amz-json-1.1");
  });
  CurlTransport transport;
  Request request;
  request.method = "POST";
  request.url = local.Url("/echo");
  request.headers = {{"Content-Type", "application/x-amz-json-1.1"},
                     {"X-Amz-Target", "Kinesis_20131202.PutRecords"}};
  request.body = std::string(5000, 'b');  // large enough that curl would send Expect: 100-continue
  auto response = transport.Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "reply:" + request.body);
  EXPECT_EQ(response->Header("x-amzn-requestid"), "abc-123");
  EXPECT_EQ(response->Header("content-type"), "application/x-amz-json-1.1");
  for (const auto& [name, value] : response->headers) {
    for (char c : name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << name;
  }

  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.body, request.body);
  EXPECT_EQ(seen.get_header_value("Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(seen.get_header_value("X-Amz-Target"), "Kinesis_20131202.PutRecords");
  EXPECT_FALSE(seen.has_header("Expect"));
  EXPECT_FALSE(seen.has_header("Accept"));
}

TEST(CurlTransport, ServerErrorStatusIsAResponseNotAnError) {
  LocalServer local;
  local.server().Post("/", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_content(R"({"__type":"ServiceUnavailable"})", "application/json");
  });
  CurlTransport transport;
  Request request;
  request.url = local.Url("/");
  auto response = transport.Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message();
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, R"({"__type":"ServiceUnavailable"})");
}

TEST(CurlTransport, ReusesItsConnectionAcrossRequests) {
  LocalServer local;
  std::vector<int> client_ports;
  local.server().Post("/", [&](const httplib::Request& req, httplib::Response& res) {
    client_ports.push_back(req.remote_port);
    res.set_content("ok", "text/plain");
  });
  CurlTransport transport;
  Request request;
  request.url = local.Url("/");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(transport.Send(request).ok());
  ASSERT_EQ(client_ports.size(), 3u);
  EXPECT_EQ(client_ports[0], client_ports[1]);
  EXPECT_EQ(client_ports[1], client_ports[2]);
}

TEST(CurlTransport, PutWithEmptyBodyAndGetWork) {
  // The shapes of the IMDSv2 token and metadata calls.
  LocalServer local;
  std::string put_length;
  local.server().Put("/latest/api/token", [&](const httplib::Request& req, httplib::Response& res) {
    put_length = req.get_header_value("Content-Length");
    res.set_content("token-" + req.get_header_value("X-aws-ec2-metadata-token-ttl-seconds"),
                    "text/plain");
  });
  local.server().Get(
      "/latest/meta-data/", [&](const httplib::Request& req, httplib::Response& res) {
        res.set_content("got " + req.get_header_value("X-aws-ec2-metadata-token"), "text/plain");
      });
  CurlTransport transport;
  Request put;
  put.method = "PUT";
  put.url = local.Url("/latest/api/token");
  put.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  auto token = transport.Send(put);
  ASSERT_TRUE(token.ok()) << token.error().message();
  EXPECT_EQ(token->body, "token-21600");
  EXPECT_EQ(put_length, "0");

  Request get;
  get.method = "GET";
  get.url = local.Url("/latest/meta-data/");
  get.headers = {{"X-aws-ec2-metadata-token", token->body}};
  auto meta = transport.Send(get);
  ASSERT_TRUE(meta.ok()) << meta.error().message();
  EXPECT_EQ(meta->body, "got token-21600");
}

TEST(CurlTransport, ConnectionRefusedIsNetworkErrorNamingHostAndPort) {
  RefusingPort refusing;
  CurlTransport transport;
  Request request;
  request.url = "http://127.0.0.1:" + std::to_string(refusing.port()) + "/";
  auto response = transport.Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code(), ErrorCode::kNetwork);
  EXPECT_NE(
      response.error().message().find("POST 127.0.0.1:" + std::to_string(refusing.port()) + ": "),
      std::string::npos)
      << response.error().message();
  EXPECT_NE(response.error().message().find("connect"), std::string::npos)
      << response.error().message();
}

TEST(CurlTransport, SlowServerIsTimeoutError) {
  LocalServer local;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  local.server().Post("/", [released](const httplib::Request&, httplib::Response& res) {
    released.wait();
    res.set_content("late", "text/plain");
  });
  CurlTransport transport;
  Request request;
  request.url = local.Url("/");
  request.timeout = std::chrono::milliseconds(200);
  auto response = transport.Send(request);
  release.set_value();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code(), ErrorCode::kTimeout);
  EXPECT_NE(response.error().message().find("127.0.0.1:"), std::string::npos);
}

TEST(CurlTransport, IgnoresProxyEnvironment) {
  LocalServer local;
  local.server().Post("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("direct", "text/plain");
  });
  RefusingPort proxy;
  const std::string proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port());
  for (const char* var : {"http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"})
    setenv(var, proxy_url.c_str(), 1);
  unsetenv("NO_PROXY");
  unsetenv("no_proxy");
  CurlTransport transport;
  Request request;
  request.url = local.Url("/");
  auto response = transport.Send(request);
  for (const char* var : {"http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"})
    unsetenv(var);
  ASSERT_TRUE(response.ok()) << response.error().message();
  EXPECT_EQ(response->body, "direct");
}

TEST(CurlTransport, RejectsUrlsThatAreNotHttp) {
  CurlTransport transport;
  for (const char* url : {"ftp://127.0.0.1/file", "file:///etc/passwd", "not a url", ""}) {
    Request request;
    request.url = url;
    auto response = transport.Send(request);
    ASSERT_FALSE(response.ok()) << url;
    EXPECT_EQ(response.error().code(), ErrorCode::kInvalidArgument) << url;
  }
}

}  // namespace
}  // namespace sluice::http
