// SigV4 request signing: a pure function of the request, the credentials and
// the time. No clock or I/O inside, so AWS's own test suite checks it exactly.
//
// What is signed: every header already on the request (names case-insensitive,
// values trimmed with runs of spaces/tabs/line breaks collapsed, repeated
// names joined with ","), except the hop-by-hop and agent headers the AWS SDKs
// never sign (Authorization, User-Agent, Connection, Expect, Proxy-*, ...);
// plus Host (from the URL when absent), X-Amz-Date (always `now`) and
// X-Amz-Security-Token (when the credentials carry a session token).
//
// The URL is taken as sent on the wire: its path and query are already
// percent-encoded. The canonical URI encodes the path once more (AWS's
// "double encoding" for every service but S3); query keys and values are
// decoded, then encoded with AWS's strict RFC 3986 rules.
//
// The functions are total: any request gives a signature (a URL without a
// scheme is read as a bare path). They are thread-safe and do not log.
#pragma once

#include <string>
#include <string_view>

#include "aws/credentials.h"
#include "base/clock.h"
#include "http/transport.h"

namespace sluice::aws {

struct SigningScope {
  std::string region;   // us-east-1
  std::string service;  // kinesis, sts
};

struct SignatureParts {
  std::string amz_date;  // 20150830T123600Z, the X-Amz-Date value
  std::string canonical_request;
  std::string signed_headers;  // host;x-amz-date
  std::string string_to_sign;
  std::string signature;      // lower-case hex
  std::string authorization;  // full Authorization header value
};

// Where X-Amz-Security-Token goes. AWS services other than a few legacy ones
// (and Kinesis among them) require it signed.
enum class SessionTokenPlacement {
  kSigned,             // added before signing and listed in SignedHeaders
  kAddedAfterSigning,  // added to the request only after the signature
};

struct SignOptions {
  // Add x-amz-content-sha256 (S3 style; the JS SDK adds it for every
  // service). Kinesis/STS do not need it. A header already present is kept
  // and its value is used as the payload hash.
  bool add_content_sha256_header = false;
  // true: normalize the path (drop "." and empty segments, resolve "..") and
  // URI-encode it (all services but S3; the AWS suite assumes this).
  // false: the path is used as given (S3: already encoded once).
  bool normalize_path = true;
  SessionTokenPlacement session_token = SessionTokenPlacement::kSigned;
};

// Computes the signature for `request` as SignRequest would send it: the
// request's own headers plus Host (when absent), X-Amz-Date and, per
// options, X-Amz-Security-Token and X-Amz-Content-Sha256. Any Authorization,
// X-Amz-Date and (when the credentials carry one) X-Amz-Security-Token already
// present are ignored: they are replaced. Does not modify the request.
SignatureParts ComputeSignature(const http::Request& request, const Credentials& credentials,
                                const SigningScope& scope, WallTime now,
                                const SignOptions& options = {});

// Sets X-Amz-Date, X-Amz-Security-Token (when the credentials carry one),
// X-Amz-Content-Sha256 (when asked), Host (when absent) and Authorization on
// the request, replacing earlier values in place, so a retried request can be
// signed again. Returns the parts for logging and tests.
SignatureParts SignRequest(http::Request* request, const Credentials& credentials,
                           const SigningScope& scope, WallTime now,
                           const SignOptions& options = {});

// "20150830T123600Z" (UTC, whole seconds, rounded down).
std::string FormatAmzDate(WallTime time);

// The Host header value for an absolute URL: host[:port], the port omitted
// when it is the scheme's default (80 for http, 443 for https).
std::string HostFromUrl(std::string_view url);

}  // namespace sluice::aws
