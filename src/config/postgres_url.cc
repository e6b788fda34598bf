#include "config/postgres_url.h"

#include <charconv>

namespace sluice::config {
namespace {

constexpr std::string_view kUrlShape =
    "expected postgres://user:password@host:port/database?sslmode=...";

Error UrlError(const std::string& what) { return Error(ErrorCode::kConfig, what); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `part` names the URL component for the error message (never its value).
Result<std::string> PercentDecode(std::string_view text, const char* part) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
    int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return UrlError(std::string("invalid percent-encoding in the ") + part +
                      " (use %XX with two hex digits)");
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace

bool IsValidSslMode(std::string_view mode) {
  return mode == "disable" || mode == "allow" || mode == "prefer" || mode == "require" ||
         mode == "verify-ca" || mode == "verify-full";
}

Result<PostgresUrl> ParsePostgresUrl(std::string_view url) {
  std::string_view rest;
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (url.substr(0, scheme.size()) == scheme) {
      rest = url.substr(scheme.size());
      break;
    }
  }
  if (rest.data() == nullptr) {
    return UrlError("must start with postgres:// or postgresql:// (" + std::string(kUrlShape) +
                    ")");
  }
  PostgresUrl out;

  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest;
  std::string_view path;
  // The userinfo may hold '/' only percent-encoded, so the authority ends at the first '/'.
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    size_t slash = rest.find('/', at);
    authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) path = rest.substr(slash + 1);
  } else if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }

  std::string_view hostport = authority;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    hostport = authority.substr(at + 1);
    std::string_view user = userinfo;
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      auto password = PercentDecode(userinfo.substr(colon + 1), "password");
      if (!password.ok()) return password.error();
      out.password = Secret(std::move(password).value());
    }
    auto username = PercentDecode(user, "user name");
    if (!username.ok()) return username.error();
    out.username = std::move(username).value();
  }

  if (hostport.find(',') != std::string_view::npos) {
    return UrlError("several hosts are not supported; give one host");
  }
  std::string_view host = hostport;
  std::string_view port;
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      return UrlError("an IPv6 host must be closed with ']' (" + std::string(kUrlShape) + ")");
    }
    host = hostport.substr(1, close - 1);
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return UrlError("unexpected text after the IPv6 host");
      port = after.substr(1);
      if (port.empty()) return UrlError("port is empty");
    }
  } else if (size_t colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
    if (port.empty()) return UrlError("port is empty");
  }
  auto decoded_host = PercentDecode(host, "host");
  if (!decoded_host.ok()) return decoded_host.error();
  out.host = std::move(decoded_host).value();

  if (!port.empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
      return UrlError("port must be a number between 1 and 65535");
    }
    out.port = value;
  }

  if (path.find('/') != std::string_view::npos) {
    return UrlError("the path must be a single database name (" + std::string(kUrlShape) + ")");
  }
  auto database = PercentDecode(path, "database name");
  if (!database.ok()) return database.error();
  out.database = std::move(database).value();

  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty()) continue;
    size_t eq = param.find('=');
    std::string_view key = param.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    auto decoded_key = PercentDecode(key, "query parameter name");
    if (!decoded_key.ok()) return decoded_key.error();
    if (decoded_key.value() != "sslmode") {
      return UrlError("unknown query parameter \"" + decoded_key.value() +
                      "\" (supported: sslmode)");
    }
    auto decoded_value = PercentDecode(value, "sslmode");
    if (!decoded_value.ok()) return decoded_value.error();
    if (!IsValidSslMode(decoded_value.value())) {
      return UrlError(
          "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full");
    }
    out.sslmode = std::move(decoded_value).value();
  }
  return out;
}

}  // namespace sluice::config
