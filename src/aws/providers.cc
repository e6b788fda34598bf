#include "aws/providers.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "aws/credential_parsing.h"

namespace sluice::aws {
namespace {

constexpr char kEcsHost[] = "http://169.254.170.2";
constexpr char kImdsIpv4[] = "http://169.254.169.254";
constexpr char kImdsIpv6[] = "http://[fd00:ec2::254]";

// A variable's value; empty when unset (the SDKs treat empty as unset).
std::string Var(const config::Environment& env, const char* name) {
  return env.Get(name).value_or("");
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// "~/x" → "$HOME/x".
std::string ExpandHome(const config::Environment& env, const std::string& path) {
  if (path.empty() || path[0] != '~') return path;
  std::string home = Var(env, "HOME");
  if (home.empty()) home = Var(env, "USERPROFILE");
  return home + path.substr(1);
}

// The file's content, or nullopt with *why set (errno text) when unreadable.
std::optional<std::string> ReadFile(const std::string& path, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) {
    *why = "read error";
    return std::nullopt;
  }
  return out.str();
}

Result<http::Response> Send(const TransportFactory& factory, const http::Request& request) {
  std::unique_ptr<http::Transport> transport = factory ? factory() : nullptr;
  if (transport == nullptr) return Error(ErrorCode::kInternal, "no HTTP transport");
  return transport->Send(request);
}

bool Is2xx(int status) { return status >= 200 && status <= 299; }

// `text` with every occurrence of `secret` replaced by "***" (a token the
// request carried, should an endpoint echo it in its error message).
std::string Scrub(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

// The error for a non-2xx answer: kAuth for 4xx (refused), kUnavailable else.
// Of the body only its Code and Message are shown (DescribeErrorBody), with
// `secret` (what the request carried) scrubbed from them.
Error HttpError(const std::string& what, const http::Response& r,
                const std::string& secret = std::string()) {
  return Error(r.status >= 400 && r.status <= 499 ? ErrorCode::kAuth : ErrorCode::kUnavailable,
               what + ": HTTP " + std::to_string(r.status) + ": " +
                   Scrub(DescribeErrorBody(r.body), secret));
}

// True when `text` has a character that has no business in a URL we build or
// check: whitespace, a control character or a backslash (parsers disagree on
// what "http://127.0.0.1\@evil.com/" points at).
bool HasUnsafeUrlCharacter(const std::string& text) {
  for (unsigned char c : text) {
    if (c <= 0x20 || c == 0x7f || c == '\\') return true;
  }
  return false;
}

}  // namespace

// ---- environment -----------------------------------------------------------

Result<Credentials> EnvironmentCredentialsProvider::Get() {
  const std::string id = Var(env_, "AWS_ACCESS_KEY_ID");
  const std::string secret = Var(env_, "AWS_SECRET_ACCESS_KEY");
  if (id.empty() && secret.empty()) {
    return Error(ErrorCode::kNotFound, Name() + ": AWS_ACCESS_KEY_ID is not set");
  }
  if (id.empty() || secret.empty()) {
    return Error(
        ErrorCode::kConfig,
        Name() + (id.empty() ? ": AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                             : ": AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"));
  }
  Credentials c;
  c.access_key_id = id;
  c.secret_access_key = Secret(secret);
  c.session_token = Secret(Var(env_, "AWS_SESSION_TOKEN"));
  return c;
}

// ---- shared files ----------------------------------------------------------

Result<Credentials> ProfileCredentialsProvider::Get() {
  std::string profile = Var(env_, "AWS_PROFILE");
  if (profile.empty()) profile = Var(env_, "AWS_DEFAULT_PROFILE");
  if (profile.empty()) profile = "default";
  std::string credentials_path = Var(env_, "AWS_SHARED_CREDENTIALS_FILE");
  if (credentials_path.empty()) credentials_path = "~/.aws/credentials";
  std::string config_path = Var(env_, "AWS_CONFIG_FILE");
  if (config_path.empty()) config_path = "~/.aws/config";
  credentials_path = ExpandHome(env_, credentials_path);
  config_path = ExpandHome(env_, config_path);

  std::string why_credentials, why_config;
  const auto credentials_text = ReadFile(credentials_path, &why_credentials);
  const auto config_text = ReadFile(config_path, &why_config);
  if (!credentials_text && !config_text) {
    return Error(ErrorCode::kNotFound, Name() + ": cannot read " + credentials_path + " (" +
                                           why_credentials + ") or " + config_path + " (" +
                                           why_config + ")");
  }

  // Config-file keys first, credentials-file keys over them.
  std::map<std::string, std::string> keys;
  std::vector<std::string> found_in;
  if (config_text) {
    const IniSections sections = ParseIni(*config_text);
    for (const std::string& section : profile == "default"
                                          ? std::vector<std::string>{"default", "profile default"}
                                          : std::vector<std::string>{"profile " + profile}) {
      auto it = sections.find(section);
      if (it == sections.end()) continue;
      for (const auto& [k, v] : it->second) keys[k] = v;
      if (found_in.empty() || found_in.back() != config_path) found_in.push_back(config_path);
    }
  }
  if (credentials_text) {
    const IniSections sections = ParseIni(*credentials_text);
    if (auto it = sections.find(profile); it != sections.end()) {
      for (const auto& [k, v] : it->second) keys[k] = v;
      found_in.push_back(credentials_path);
    }
  }
  const std::string where = "profile " + profile;
  if (found_in.empty()) {
    return Error(ErrorCode::kNotFound, Name() + ": " + where + " is in neither " +
                                           credentials_path + " nor " + config_path);
  }
  const std::string id = keys["aws_access_key_id"];
  const std::string secret = keys["aws_secret_access_key"];
  if (id.empty()) {
    for (const char* unsupported : {"role_arn", "credential_process", "sso_session",
                                    "sso_start_url", "web_identity_token_file"}) {
      if (keys.count(unsupported) != 0) {
        return Error(ErrorCode::kConfig, Name() + ": " + where + " uses " + unsupported +
                                             ", which sluice does not support (only static keys)");
      }
    }
    return Error(ErrorCode::kNotFound, Name() + ": " + where + " has no aws_access_key_id");
  }
  if (secret.empty()) {
    return Error(ErrorCode::kConfig,
                 Name() + ": " + where + " has aws_access_key_id but no aws_secret_access_key");
  }
  Credentials c;
  c.access_key_id = id;
  c.secret_access_key = Secret(secret);
  c.session_token = Secret(keys["aws_session_token"]);
  std::string files;
  for (const auto& f : found_in) files += (files.empty() ? "" : ", ") + f;
  std::lock_guard<std::mutex> lock(mu_);
  described_ = Name() + " (" + where + " in " + files + ")";
  return c;
}

std::string ProfileCredentialsProvider::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return described_.empty() ? Name() : described_;
}

// ---- web identity ----------------------------------------------------------

Result<Credentials> WebIdentityCredentialsProvider::Get() {
  const std::string role_arn = Var(env_, "AWS_ROLE_ARN");
  const std::string token_file = Var(env_, "AWS_WEB_IDENTITY_TOKEN_FILE");
  if (role_arn.empty() && token_file.empty()) {
    return Error(ErrorCode::kNotFound,
                 Name() + ": AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE are not set");
  }
  if (role_arn.empty() || token_file.empty()) {
    return Error(ErrorCode::kConfig,
                 Name() + (role_arn.empty()
                               ? ": AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not"
                               : ": AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not"));
  }
  std::string why;
  const auto token = ReadFile(token_file, &why);
  if (!token) {
    return Error(ErrorCode::kIo,
                 Name() + ": cannot read web identity token file " + token_file + ": " + why);
  }
  if (Trim(*token).empty()) {
    return Error(ErrorCode::kConfig,
                 Name() + ": web identity token file " + token_file + " is empty");
  }

  std::string url = Var(env_, "AWS_ENDPOINT_URL_STS");
  if (url.empty()) url = Var(env_, "AWS_ENDPOINT_URL");
  if (url.empty()) {
    std::string region = sts_.region;
    if (region.empty()) region = Var(env_, "AWS_REGION");
    if (region.empty()) region = Var(env_, "AWS_DEFAULT_REGION");
    if (region.empty()) {
      return Error(
          ErrorCode::kConfig,
          Name() + ": no region for STS (the stream ARN has none and AWS_REGION is not set)");
    }
    url = "https://sts." + region + "." +
          (sts_.partition == "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com") + "/";
  } else if (UrlScheme(url).empty()) {
    return Error(ErrorCode::kConfig,
                 Name() + ": STS endpoint \"" + RedactUrl(url) + "\" is not an absolute URL");
  } else if (url.find('/', url.find("://") + 3) == std::string::npos) {
    url += "/";
  }

  std::string session_name = Var(env_, "AWS_ROLE_SESSION_NAME");
  if (session_name.empty()) {
    session_name = "sluice-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                  clock_.WallNow().time_since_epoch())
                                                  .count());
  }

  http::Request request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                     {"Accept", "text/xml"}};
  request.body =
      "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + FormEncode(role_arn) +
      "&RoleSessionName=" + FormEncode(session_name) +
      "&WebIdentityToken=" + FormEncode(Trim(*token));
  request.timeout = kStsTimeout;
  request.connect_timeout = kStsConnectTimeout;

  const std::string what =
      Name() + ": STS AssumeRoleWithWebIdentity for " + role_arn + " at " + RedactUrl(url);
  auto response = Send(transport_factory_, request);
  if (!response.ok()) return response.error().WithContext(what);
  if (!Is2xx(response->status)) return HttpError(what, *response, Trim(*token));
  auto credentials = ParseAssumeRoleResponse(response->body);
  if (!credentials.ok()) return credentials.error().WithContext(what);
  std::lock_guard<std::mutex> lock(mu_);
  role_arn_ = role_arn;
  return credentials;
}

std::string WebIdentityCredentialsProvider::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return role_arn_.empty() ? Name() : Name() + " (role " + role_arn_ + ")";
}

// ---- container -------------------------------------------------------------

namespace {

// The hosts the SDKs accept for an http FULL_URI: the ECS and EKS agents.
bool IsContainerAgentHost(const std::string& host) {
  return IsLoopbackHost(host) || host == "169.254.170.2" || host == "169.254.170.23" ||
         host == "fd00:ec2::23";
}

// The Authorization value, or an empty string when none is configured.
Result<std::string> ContainerAuthorization(const config::Environment& env) {
  std::string token;
  const std::string file = Var(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  if (!file.empty()) {
    std::string why;
    auto text = ReadFile(file, &why);
    if (!text) {
      return Error(ErrorCode::kIo,
                   "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + file + ": " + why);
    }
    token = Trim(*text);
  } else {
    token = Trim(Var(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN"));
  }
  if (token.find_first_of("\r\n") != std::string::npos) {
    return Error(ErrorCode::kConfig, "the container authorization token contains a line break");
  }
  return token;
}

}  // namespace

Result<Credentials> ContainerCredentialsProvider::Get() {
  const std::string relative = Var(env_, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const std::string full = Var(env_, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  std::string url;
  if (!relative.empty()) {
    // Appended to the agent's address as it is: "@evil.com/x" would make the
    // agent's address user info and send the request elsewhere.
    if (relative[0] != '/' || HasUnsafeUrlCharacter(relative)) {
      return Error(ErrorCode::kConfig,
                   Name() +
                       ": AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting "
                       "with \"/\" (without spaces or backslashes)");
    }
    url = std::string(kEcsHost) + relative;
  } else if (!full.empty()) {
    const std::string scheme = UrlScheme(full);
    const std::string host = UrlHost(full);
    if ((scheme != "http" && scheme != "https") || host.empty() || HasUnsafeUrlCharacter(full)) {
      return Error(ErrorCode::kConfig, Name() + ": AWS_CONTAINER_CREDENTIALS_FULL_URI \"" +
                                           RedactUrl(full) + "\" is not an http(s) URL");
    }
    if (UrlHasUserInfo(full)) {
      return Error(ErrorCode::kConfig, Name() + ": AWS_CONTAINER_CREDENTIALS_FULL_URI \"" +
                                           RedactUrl(full) +
                                           "\" has user info (\"...@\"), which is not allowed");
    }
    if (scheme == "http" && !IsContainerAgentHost(host)) {
      return Error(ErrorCode::kConfig,
                   Name() + ": AWS_CONTAINER_CREDENTIALS_FULL_URI host " + host +
                       " is not allowed over http: use https, or a loopback address, "
                       "169.254.170.2, 169.254.170.23 or fd00:ec2::23");
    }
    url = full;
  } else {
    return Error(ErrorCode::kNotFound, Name() +
                                           ": AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                                           "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set");
  }
  auto authorization = ContainerAuthorization(env_);
  if (!authorization.ok()) return authorization.error().WithContext(Name());

  http::Request request;
  request.method = "GET";
  request.url = url;
  request.headers = {{"Accept", "application/json"}};
  if (!authorization->empty()) request.headers.emplace_back("Authorization", *authorization);
  request.timeout = kContainerTimeout;
  request.connect_timeout = kContainerConnectTimeout;

  const std::string what = Name() + ": GET " + RedactUrl(url);
  auto response = Send(transport_factory_, request);
  if (!response.ok()) return response.error().WithContext(what);
  if (!Is2xx(response->status)) return HttpError(what, *response, *authorization);
  auto credentials = ParseJsonCredentials(response->body);
  if (!credentials.ok()) return credentials.error().WithContext(what);
  std::lock_guard<std::mutex> lock(mu_);
  url_ = RedactUrl(url);
  return credentials;
}

std::string ContainerCredentialsProvider::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return url_.empty() ? Name() : Name() + " (" + url_ + ")";
}

// ---- EC2 instance metadata -------------------------------------------------

Result<Credentials> ImdsCredentialsProvider::Get() {
  if (Lower(Trim(Var(env_, "AWS_EC2_METADATA_DISABLED"))) == "true") {
    return Error(ErrorCode::kNotFound, Name() + ": disabled by AWS_EC2_METADATA_DISABLED=true");
  }
  std::string endpoint = Var(env_, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (endpoint.empty()) {
    endpoint = Lower(Var(env_, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")) == "ipv6" ? kImdsIpv6
                                                                                    : kImdsIpv4;
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (UrlScheme(endpoint).empty()) {
    return Error(ErrorCode::kConfig, Name() + ": AWS_EC2_METADATA_SERVICE_ENDPOINT \"" +
                                         RedactUrl(endpoint) + "\" is not an absolute URL");
  }
  const std::string shown = RedactUrl(endpoint);

  http::Request request;
  request.timeout = kImdsTimeout;
  request.connect_timeout = kImdsConnectTimeout;

  request.method = "PUT";
  request.url = endpoint + "/latest/api/token";
  request.headers = {
      {"X-aws-ec2-metadata-token-ttl-seconds", std::to_string(kImdsTokenTtlSeconds)}};
  const std::string token_what = Name() + ": PUT " + shown + "/latest/api/token";
  auto token = Send(transport_factory_, request);
  if (!token.ok()) return token.error().WithContext(token_what);
  if (!Is2xx(token->status)) return HttpError(token_what + " (IMDSv2 session token)", *token);
  const std::string session = Trim(token->body);
  if (session.empty()) return Error(ErrorCode::kProtocol, token_what + " returned an empty token");

  request.method = "GET";
  request.url = endpoint + "/latest/meta-data/iam/security-credentials/";
  request.headers = {{"X-aws-ec2-metadata-token", session}};
  const std::string roles_what =
      Name() + ": GET " + shown + "/latest/meta-data/iam/security-credentials/";
  auto roles = Send(transport_factory_, request);
  if (!roles.ok()) return roles.error().WithContext(roles_what);
  if (roles->status == 404) {
    return Error(ErrorCode::kNotFound, Name() + ": no IAM role is attached to this instance (" +
                                           roles_what.substr(Name().size() + 2) + ": HTTP 404)");
  }
  if (!Is2xx(roles->status)) return HttpError(roles_what, *roles, session);
  const std::string role = Trim(roles->body.substr(0, roles->body.find('\n')));
  if (role.empty() || role.find_first_of("/?#@\\ ") != std::string::npos ||
      HasUnsafeUrlCharacter(role)) {
    return Error(ErrorCode::kProtocol, roles_what + " returned no usable role name");
  }

  request.url += role;
  auto response = Send(transport_factory_, request);
  const std::string what = roles_what + role;
  if (!response.ok()) return response.error().WithContext(what);
  if (!Is2xx(response->status)) return HttpError(what, *response, session);
  auto credentials = ParseJsonCredentials(response->body);
  if (!credentials.ok()) return credentials.error().WithContext(what);
  std::lock_guard<std::mutex> lock(mu_);
  role_ = role;
  return credentials;
}

std::string ImdsCredentialsProvider::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return role_.empty() ? Name() : Name() + " (role " + role_ + ")";
}

}  // namespace sluice::aws
