#include "api/token.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sluice::api {
namespace {

namespace fs = std::filesystem;

bool Printable(std::string_view text) {
  for (char c : text) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return !text.empty();
}

Result<Secret> ReadTokenFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error(ErrorCode::kIo,
                 "cannot read the API token file " + path.string() + ": " + std::strerror(errno));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!Printable(text)) {
    return Error(ErrorCode::kIo, "the API token file " + path.string() +
                                     " must hold one line of printable ASCII (no spaces); "
                                     "delete it to have sluice make a new one");
  }
  return Secret(std::move(text));
}

Result<Secret> CreateTokenFile(const fs::path& dir, const fs::path& path) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Error(ErrorCode::kIo, "cannot create data_dir " + dir.string() + ": " + ec.message());
  }
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return Error(ErrorCode::kInternal, "cannot draw random bytes for the API token");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 15]);
  }
  OPENSSL_cleanse(bytes, sizeof bytes);
  const fs::path tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Error(ErrorCode::kIo,
                 "cannot write the API token file " + tmp.string() + ": " + std::strerror(errno));
  }
  const std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) saved = errno;
    ::unlink(tmp.c_str());
    return Error(ErrorCode::kIo,
                 "cannot write the API token file " + path.string() + ": " + std::strerror(saved));
  }
  return Secret(std::move(token));
}

}  // namespace

Result<ResolvedToken> ResolveApiToken(const config::Settings& settings, bool create) {
  ResolvedToken out;
  if (!settings.api.token.empty()) {
    out.token = settings.api.token;
    out.source = "config api.token";
    return out;
  }
  if (const char* env = std::getenv(kTokenEnvVar); env != nullptr && *env != '\0') {
    if (!Printable(env)) {
      return Error(ErrorCode::kConfig, std::string("environment ") + kTokenEnvVar +
                                           " must be printable ASCII without spaces");
    }
    out.token = Secret(env);
    out.source = std::string("environment ") + kTokenEnvVar;
    return out;
  }
  const fs::path dir(settings.data_dir);
  const fs::path path = dir / kTokenFileName;
  out.source = path.string();
  std::error_code ec;
  if (fs::exists(path, ec)) {
    SLUICE_ASSIGN_OR_RETURN(out.token, ReadTokenFile(path));
    return out;
  }
  if (!create) {
    return Error(ErrorCode::kNotFound,
                 "no API token: api.token is not set, " + std::string(kTokenEnvVar) +
                     " is empty and " + path.string() +
                     " does not exist (sluice run creates it at first start)");
  }
  SLUICE_ASSIGN_OR_RETURN(out.token, CreateTokenFile(dir, path));
  out.created = true;
  return out;
}

bool TokenMatches(const Secret& expected, std::string_view presented) {
  const std::string& want = expected.Reveal();
  if (want.empty() || presented.size() != want.size()) return false;
  return CRYPTO_memcmp(want.data(), presented.data(), want.size()) == 0;
}

}  // namespace sluice::api
