#include "aws/sigv4.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "base/encoding.h"

namespace sluice::aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";

// Headers the AWS SDKs never sign: hop-by-hop headers a proxy or the HTTP
// library may change, and headers that carry no request meaning. Signing them
// would break the signature when they change in transit.
constexpr std::array<std::string_view, 15> kUnsignableHeaders = {
    "authorization", "cache-control",     "connection", "expect",     "from",
    "keep-alive",    "max-forwards",      "pragma",     "referer",    "te",
    "trailer",       "transfer-encoding", "upgrade",    "user-agent", "x-amzn-trace-id",
};

bool IsUnsignable(std::string_view lower_name) {
  if (lower_name.starts_with("proxy-") || lower_name.starts_with("sec-")) return true;
  return std::find(kUnsignableHeaders.begin(), kUnsignableHeaders.end(), lower_name) !=
         kUnsignableHeaders.end();
}

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerAscii(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  return true;
}

struct UrlParts {
  std::string_view scheme;
  std::string_view authority;
  std::string_view path;
  std::string_view query;
};

// scheme://authority/path?query#fragment; without "://" the whole text is
// path and query.
UrlParts SplitUrl(std::string_view url) {
  UrlParts parts;
  std::string_view rest = url;
  if (size_t sep = url.find("://"); sep != std::string_view::npos) {
    parts.scheme = url.substr(0, sep);
    rest = url.substr(sep + 3);
    size_t end = rest.find_first_of("/?#");
    parts.authority = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  }
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t question = rest.find('?');
  parts.path = rest.substr(0, question);
  if (question != std::string_view::npos) parts.query = rest.substr(question + 1);
  return parts;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

enum class Slash { kKeep, kEncode };

// RFC 3986 encoding as SigV4 wants it: unreserved bytes as they are, every
// other byte as %XX with upper-case hex.
void UriEncodeAppend(std::string_view bytes, Slash slash, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : bytes) {
    if (IsUnreserved(c) || (c == '/' && slash == Slash::kKeep)) {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX; a '%' not followed by two hex digits stays literal.
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = HexValue(text[i + 1]);
      int lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string CanonicalUri(std::string_view path, bool normalize) {
  if (path.empty()) return "/";
  if (!normalize) return std::string(path);
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    UriEncodeAppend(segments[i], Slash::kEncode, &out);
  }
  if (!segments.empty() && path.back() == '/') out.push_back('/');
  return out;
}

std::string CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view param = query.substr(start, end - start);
    start = end + 1;
    if (param.empty()) continue;
    size_t eq = param.find('=');
    std::string key;
    std::string value;
    UriEncodeAppend(PercentDecode(param.substr(0, eq)), Slash::kEncode, &key);
    if (eq != std::string_view::npos)
      UriEncodeAppend(PercentDecode(param.substr(eq + 1)), Slash::kEncode, &value);
    params.emplace_back(std::move(key), std::move(value));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += key;
    out.push_back('=');
    out += value;
  }
  return out;
}

// Trims, and collapses each run of spaces, tabs and line breaks to one space.
std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

const std::string* FindHeader(const http::Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (EqualsIgnoreCase(k, name)) return &v;
  return nullptr;
}

// Sets the first header named `name` (any case) to `value` and drops later
// ones; appends when there is none.
void SetHeader(http::Headers* headers, std::string_view name, std::string value) {
  auto it = std::find_if(headers->begin(), headers->end(),
                         [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
  if (it == headers->end()) {
    headers->emplace_back(std::string(name), std::move(value));
    return;
  }
  it->second = std::move(value);
  auto dup = std::remove_if(std::next(it), headers->end(),
                            [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
  headers->erase(dup, headers->end());
}

bool SignsSessionToken(const Credentials& credentials, const SignOptions& options) {
  return !credentials.session_token.empty() &&
         options.session_token == SessionTokenPlacement::kSigned;
}

std::string PayloadHash(const http::Request& request) {
  if (const std::string* given = FindHeader(request.headers, "x-amz-content-sha256"))
    return CanonicalHeaderValue(*given);
  return Sha256Hex(request.body);
}

std::string SigningKey(const Credentials& credentials, std::string_view date,
                       const SigningScope& scope) {
  // The key depends only on the secret, the day, the region and the service,
  // so each thread keeps the last one it derived (four HMACs saved on every
  // request of a day). The one place the secret key is read (and kept, as a
  // Secret like the credentials' own, to notice a rotation).
  struct Derived {
    Secret secret;  // as the credentials hold it: never printed
    std::string date, region, service, key;
  };
  thread_local Derived last;
  const std::string& secret = credentials.secret_access_key.Reveal();
  if (last.key.empty() || last.secret.Reveal() != secret || last.date != date ||
      last.region != scope.region || last.service != scope.service) {
    std::string key = HmacSha256("AWS4" + secret, date);
    key = HmacSha256(key, scope.region);
    key = HmacSha256(key, scope.service);
    last = {credentials.secret_access_key, std::string(date), scope.region, scope.service,
            HmacSha256(key, kTerminator)};
  }
  return last.key;
}

}  // namespace

std::string FormatAmzDate(WallTime time) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(time);
  const auto day = floor<days>(secs);
  const year_month_day ymd{day};
  const hh_mm_ss hms{secs - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::string HostFromUrl(std::string_view url) {
  const UrlParts parts = SplitUrl(url);
  std::string_view authority = parts.authority;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos)
    authority = authority.substr(at + 1);
  // The port follows the last ':' unless that ':' is inside an IPv6 literal.
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    std::string_view port = authority.substr(colon + 1);
    const std::string scheme = ToLower(parts.scheme);
    if (port.empty() || (scheme == "http" && port == "80") ||
        (scheme == "https" && port == "443")) {
      authority = authority.substr(0, colon);
    }
  }
  return std::string(authority);
}

SignatureParts ComputeSignature(const http::Request& request, const Credentials& credentials,
                                const SigningScope& scope, WallTime now,
                                const SignOptions& options) {
  SignatureParts parts;
  parts.amz_date = FormatAmzDate(now);
  const std::string date = parts.amz_date.substr(0, 8);
  const bool has_token = !credentials.session_token.empty();

  // Lower-case name -> canonical value(s); std::map keeps names sorted.
  std::map<std::string, std::string> canonical;
  for (const auto& [name, value] : request.headers) {
    std::string lower = ToLower(name);
    if (IsUnsignable(lower) || lower == "x-amz-date") continue;
    if (lower == "x-amz-security-token" &&
        (has_token || options.session_token == SessionTokenPlacement::kAddedAfterSigning))
      continue;
    auto [it, inserted] = canonical.try_emplace(std::move(lower));
    if (!inserted) it->second.push_back(',');
    it->second += CanonicalHeaderValue(value);
  }
  if (!canonical.contains("host")) canonical["host"] = HostFromUrl(request.url);
  canonical["x-amz-date"] = parts.amz_date;
  if (SignsSessionToken(credentials, options))
    canonical["x-amz-security-token"] = CanonicalHeaderValue(credentials.session_token.Reveal());
  const std::string payload_hash = PayloadHash(request);
  if (options.add_content_sha256_header && !canonical.contains("x-amz-content-sha256"))
    canonical["x-amz-content-sha256"] = payload_hash;

  const UrlParts url = SplitUrl(request.url);
  std::string& creq = parts.canonical_request;
  creq += request.method;
  creq += '\n';
  creq += CanonicalUri(url.path, options.normalize_path);
  creq += '\n';
  creq += CanonicalQuery(url.query);
  creq += '\n';
  for (const auto& [name, value] : canonical) {
    creq += name;
    creq += ':';
    creq += value;
    creq += '\n';
    if (!parts.signed_headers.empty()) parts.signed_headers.push_back(';');
    parts.signed_headers += name;
  }
  creq += '\n';
  creq += parts.signed_headers;
  creq += '\n';
  creq += payload_hash;

  const std::string credential_scope =
      date + "/" + scope.region + "/" + scope.service + "/" + std::string(kTerminator);
  parts.string_to_sign = std::string(kAlgorithm) + "\n" + parts.amz_date + "\n" + credential_scope +
                         "\n" + Sha256Hex(creq);
  parts.signature =
      HexLower(HmacSha256(SigningKey(credentials, date, scope), parts.string_to_sign));
  parts.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                        credential_scope + ", SignedHeaders=" + parts.signed_headers +
                        ", Signature=" + parts.signature;
  return parts;
}

SignatureParts SignRequest(http::Request* request, const Credentials& credentials,
                           const SigningScope& scope, WallTime now, const SignOptions& options) {
  SignatureParts parts = ComputeSignature(*request, credentials, scope, now, options);
  http::Headers& headers = request->headers;
  if (!FindHeader(headers, "host")) headers.emplace_back("Host", HostFromUrl(request->url));
  SetHeader(&headers, "X-Amz-Date", parts.amz_date);
  if (!credentials.session_token.empty())
    SetHeader(&headers, "X-Amz-Security-Token", credentials.session_token.Reveal());
  if (options.add_content_sha256_header && !FindHeader(headers, "x-amz-content-sha256"))
    headers.emplace_back("X-Amz-Content-Sha256", Sha256Hex(request->body));
  SetHeader(&headers, "Authorization", parts.authorization);
  return parts;
}

}  // namespace sluice::aws
