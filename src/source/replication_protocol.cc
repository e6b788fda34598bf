#include "source/replication_protocol.h"

#include <fmt/format.h>

#include "source/pgoutput.h"

namespace sluice::source {
namespace {

uint64_t ReadU64(std::string_view b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

void AppendU64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

}  // namespace

Result<CopyMessage> ParseCopyData(std::string_view bytes) {
  if (bytes.empty()) {
    return Error(ErrorCode::kProtocol, "replication CopyData: empty message at offset 0");
  }
  switch (bytes[0]) {
    case 'w': {
      constexpr size_t kHeader = 1 + 8 + 8 + 8;
      if (bytes.size() < kHeader) {
        return Error(ErrorCode::kProtocol,
                     fmt::format("replication XLogData ('w'): header truncated at offset {}: "
                                 "need {} bytes, got {}",
                                 bytes.size(), kHeader, bytes.size()));
      }
      XLogData x;
      x.wal_start = Lsn(ReadU64(bytes, 1));
      x.wal_end = Lsn(ReadU64(bytes, 9));
      x.send_time_us = pgoutput::PostgresToUnixMicros(static_cast<int64_t>(ReadU64(bytes, 17)));
      x.payload = bytes.substr(kHeader);
      return CopyMessage(x);
    }
    case 'k': {
      constexpr size_t kSize = 1 + 8 + 8 + 1;
      if (bytes.size() != kSize) {
        return Error(ErrorCode::kProtocol,
                     fmt::format("replication primary keepalive ('k'): expected {} bytes, got {}",
                                 kSize, bytes.size()));
      }
      PrimaryKeepalive k;
      k.wal_end = Lsn(ReadU64(bytes, 1));
      k.send_time_us = pgoutput::PostgresToUnixMicros(static_cast<int64_t>(ReadU64(bytes, 9)));
      k.reply_requested = bytes[17] != 0;
      return CopyMessage(k);
    }
    default:
      return Error(ErrorCode::kProtocol,
                   fmt::format("replication CopyData: unknown message type byte 0x{:02x} at "
                               "offset 0",
                               static_cast<uint8_t>(bytes[0])));
  }
}

std::string StandbyStatusUpdate(Lsn write, Lsn flush, Lsn apply, int64_t now_unix_us,
                                bool reply_requested) {
  std::string out;
  out.reserve(34);
  out.push_back('r');
  AppendU64(write.value(), &out);
  AppendU64(flush.value(), &out);
  AppendU64(apply.value(), &out);
  AppendU64(static_cast<uint64_t>(pgoutput::UnixToPostgresMicros(now_unix_us)), &out);
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

}  // namespace sluice::source
