// What a request names, parsed: path segments, message ids, the message
// listing's query parameters and the bulk actions' body (docs/api.md).
//
// Pure functions. Errors are kInvalidArgument with a message that names the
// parameter and quotes what was sent (cut to a readable length), e.g.
//   limit must be an integer from 1 to 1000, got "0"
// The server answers them with 400 bad_request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/control.h"
#include "base/result.h"

namespace sluice::api {

inline constexpr size_t kDefaultMessageLimit = 50;
inline constexpr size_t kMaxMessageLimit = 1000;
// Cursors are opaque, but ours are short; a longer one is not ours.
inline constexpr size_t kMaxCursorBytes = 256;

// The path of a request target (no query) split at '/' and each segment
// %-decoded: "/api/sinks/a%2Fb" gives {"api", "sinks", "a/b"}. Empty segments
// are kept ("/a//b/" gives {"a", "", "b", ""}). A '%' not followed by two hex
// digits is an error.
Result<std::vector<std::string>> SplitPath(std::string_view path);

// A message id: an unsigned 64-bit decimal integer, digits only (no sign,
// space or exponent).
Result<uint64_t> ParseMessageId(std::string_view text);

// The listing's parameters. An empty value means the same as an absent one
// (so "?state=" lists every held message).
Result<size_t> ParseLimit(std::string_view text);  // 1..1000
Result<std::optional<MessageState>> ParseStateParam(std::string_view text);
Result<std::string> ParseCursor(std::string_view text);  // printable ASCII, bounded

enum class BulkAction { kRedeliver, kDiscard };

// The body of POST .../messages/redeliver|discard: {"state": "failed"}, or
// for discard also {"state": "all"}. An empty body, anything but a JSON
// object with exactly that member, or another state is an error, so a stray
// POST cannot act on every message.
Result<Selection> ParseBulkBody(BulkAction action, std::string_view body);

// A backfill id: like a message id (digits only, unsigned 64-bit).
Result<uint64_t> ParseBackfillId(std::string_view text);

// The body of POST .../backfills: a JSON object with "table" (schema.table,
// required) and optionally "sort_column" and "start_position" (strings; null
// or "" is the same as absent). start_position needs sort_column. Any other
// member, a member given twice or a value of another type is an error naming
// it, so a typo ("sortcolumn") is not silently a backfill by primary key.
Result<BackfillRequest> ParseBackfillBody(std::string_view body);

// `text` in double quotes for an error message: at most 64 bytes of it, with
// '"', '\\' and control characters escaped.
std::string QuoteForMessage(std::string_view text);

// Whether a URL's or Host header's host part names this machine: localhost,
// [::1] or a literal IPv4 address in 127.0.0.0/8 (not any name that merely
// starts with "127."). The server's DNS-rebinding check and the CLI's
// "no token over plain http to another host" rule both use it.
bool IsLoopbackHost(std::string_view host);

}  // namespace sluice::api
