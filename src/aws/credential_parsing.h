// Pure helpers shared by the credential providers: reading the documents the
// credential endpoints return (JSON, STS XML, INI profile files), ISO 8601
// times, URL hosts. No I/O; errors never quote a secret value (a credentials
// document is described by what is missing or malformed, not echoed).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "aws/credentials.h"
#include "base/clock.h"
#include "base/result.h"

namespace sluice::aws {

// "2024-01-02T03:04:05Z", with optional fractional seconds and a "Z", "+00:00"
// or "±hh:mm" offset (hh 00-23, mm 00-59). nullopt when malformed.
std::optional<WallTime> ParseIso8601(std::string_view text);

// "2024-01-02T03:04:05Z".
std::string FormatIso8601(WallTime time);

// Reads the JSON credentials document served by the container endpoint and by
// EC2 instance metadata: AccessKeyId, SecretAccessKey, Token (optional),
// Expiration (optional, ISO 8601). IMDS also sends "Code": anything other than
// "Success" is an error naming it. kProtocol errors say what is wrong.
Result<Credentials> ParseJsonCredentials(std::string_view body);

// The text of the first <name>...</name> element in `xml` (entities decoded),
// or nullopt. Enough for STS's Query API responses, which have no attributes on
// the elements read and no repeated names.
std::optional<std::string> XmlElementText(std::string_view xml, std::string_view name);

// Reads an AssumeRoleWithWebIdentity response body (2xx): the Credentials
// element's AccessKeyId, SecretAccessKey, SessionToken and Expiration, all
// required.
Result<Credentials> ParseAssumeRoleResponse(std::string_view body);

// What a non-2xx answer of a credential endpoint or STS says, for errors and
// logs: its Code and Message fields as "Code: Message" (each at most 200
// bytes, on one line), from XML (<Code>, <Message>: STS's ErrorResponse) or a
// JSON object (Code/code/__type, Message/message). Nothing else of the body
// is ever copied (it may echo a token): a body with neither is described as
// "unparseable body of N bytes", an empty one as "empty response body".
std::string DescribeErrorBody(std::string_view body);

// An INI file as the AWS shared files use it: section name → key → value.
// Keys are lower-cased; "#" and ";" start comment lines; indented lines under
// a key (nested settings) are ignored; later duplicates win.
using IniSections = std::map<std::string, std::map<std::string, std::string>>;
IniSections ParseIni(std::string_view text);

// The host of an absolute URL, without port, brackets or user info
// ("[fd00:ec2::23]:80" → "fd00:ec2::23"); empty when there is none.
std::string UrlHost(std::string_view url);
// The scheme of a URL, lower-cased ("http"); empty when there is none.
std::string UrlScheme(std::string_view url);
// True when an absolute URL's authority has user info ("user:pass@host").
bool UrlHasUserInfo(std::string_view url);
// A URL as errors, logs and Describe() may show it: without user info, query
// string or fragment ("http://u:p@h:1/p?token=x" → "http://h:1/p").
std::string RedactUrl(std::string_view url);

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(std::string_view host);

// application/x-www-form-urlencoded value encoding (RFC 3986 unreserved kept).
std::string FormEncode(std::string_view value);

}  // namespace sluice::aws
