// capture_pgoutput: records the raw pgoutput messages of a replication slot as
// hex, one message per line, for golden decoder tests.
//
//   capture_pgoutput <host> <port> <dbname> <user> <slot> <publication> <out.hex>
//
// Streams the slot with proto_version '1', messages 'true' and stops at the
// first non-transactional logical message whose prefix is "golden:end" (not
// written). Each line is the payload of one XLogData frame in lowercase hex,
// followed by "  # <message type>". Uses raw libpq so the golden bytes do not
// depend on sluice's own replication shell.
#include <libpq-fe.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "source/pgoutput.h"
#include "source/replication_protocol.h"

namespace {

bool IsEndMarker(std::string_view payload) {
  auto m = sluice::source::pgoutput::Decode(payload);
  if (!m.ok()) return false;
  auto* lm = std::get_if<sluice::source::pgoutput::LogicalMessage>(&m.value());
  return lm && !lm->transactional && lm->prefix == "golden:end";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s host port dbname user slot publication out.hex\n", argv[0]);
    return 2;
  }
  // The same session options as sluice's replication connection: they fix
  // the text form of timestamps, intervals, floats and bytea.
  const char* keys[] = {"host", "port", "dbname", "user", "replication", "options", nullptr};
  const char* values[] = {argv[1], argv[2], argv[3], argv[4], "database",
                          "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 "
                          "-c extra_float_digits=3 -c bytea_output=hex",
                          nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 0);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "connect: %s", PQerrorMessage(conn));
    return 1;
  }
  std::string cmd = std::string("START_REPLICATION SLOT \"") + argv[5] +
                    "\" LOGICAL 0/0 (proto_version '1', publication_names '\"" + argv[6] +
                    "\"', messages 'true')";
  PGresult* res = PQexec(conn, cmd.c_str());
  if (PQresultStatus(res) != PGRES_COPY_BOTH) {
    std::fprintf(stderr, "START_REPLICATION: %s", PQerrorMessage(conn));
    return 1;
  }
  PQclear(res);
  std::ofstream out(argv[7]);
  out << "# pgoutput proto_version 1 messages captured by tools/capture_pgoutput from the\n"
         "# .sql file of the same name; one XLogData payload per line, hex.\n";
  for (;;) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn, &buf, 0);
    if (n < 0) {
      std::fprintf(stderr, "stream ended: %s", PQerrorMessage(conn));
      return 1;
    }
    std::string_view bytes(buf, static_cast<size_t>(n));
    auto msg = sluice::source::ParseCopyData(bytes);
    if (!msg.ok()) {
      std::fprintf(stderr, "%s\n", msg.error().message().c_str());
      return 1;
    }
    if (auto* x = std::get_if<sluice::source::XLogData>(&msg.value())) {
      if (IsEndMarker(x->payload)) {
        PQfreemem(buf);
        break;
      }
      out << sluice::HexLower(x->payload) << "  # "
          << sluice::source::pgoutput::MessageTypeName(x->payload.empty() ? '\0' : x->payload[0])
          << "\n";
    }
    PQfreemem(buf);
  }
  out.close();
  PQfinish(conn);
  return 0;
}
