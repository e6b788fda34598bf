// SigV4 request signing: a pure function of the request, the credentials and
// the time. No clock or I/O inside, so AWS's own test suite checks it exactly.
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
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // lower-case hex
  std::string authorization;  // full Authorization header value
};

struct SignOptions {
  // Add x-amz-content-sha256 (S3 style). Kinesis/STS do not need it.
  bool add_content_sha256_header = false;
  // Normalize the URI path (all services but S3). The AWS suite assumes true.
  bool normalize_path = true;
};

// Computes the signature for `request` as it stands (headers already present
// are signed, names case-insensitively; Host is taken from the headers if
// present, else from the URL). Does not modify the request.
SignatureParts ComputeSignature(const http::Request& request, const Credentials& credentials,
                                const SigningScope& scope, WallTime now,
                                const SignOptions& options = {});

// Adds X-Amz-Date, X-Amz-Security-Token (when the credentials carry one),
// Host (when absent) and Authorization to the request.
void SignRequest(http::Request* request, const Credentials& credentials, const SigningScope& scope,
                 WallTime now, const SignOptions& options = {});

}  // namespace sluice::aws
