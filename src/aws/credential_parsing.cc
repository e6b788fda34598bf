#include "aws/credential_parsing.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>
#include <initializer_list>

namespace sluice::aws {
namespace {

bool ReadInt(std::string_view text, size_t pos, size_t len, int* out) {
  if (pos + len > text.size()) return false;
  for (size_t i = pos; i < pos + len; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  std::from_chars(text.data() + pos, text.data() + pos + len, *out);
  return true;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string DecodeXmlEntities(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    const size_t semi = text.find(';', i);
    if (semi == std::string_view::npos) {
      out += text.substr(i);
      break;
    }
    const std::string_view entity = text.substr(i + 1, semi - i - 1);
    if (entity == "amp") {
      out += '&';
    } else if (entity == "lt") {
      out += '<';
    } else if (entity == "gt") {
      out += '>';
    } else if (entity == "quot") {
      out += '"';
    } else if (entity == "apos") {
      out += '\'';
    } else if (entity.size() > 1 && entity[0] == '#') {
      unsigned code = 0;
      const bool hex = entity[1] == 'x' || entity[1] == 'X';
      const auto digits = entity.substr(hex ? 2 : 1);
      auto [p, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), code, hex ? 16 : 10);
      if (ec != std::errc() || p != digits.data() + digits.size() || code > 0x10FFFF) {
        out += text.substr(i, semi - i + 1);
      } else if (code < 0x80) {
        out += static_cast<char>(code);
      } else if (code < 0x800) {
        out += static_cast<char>(0xC0 | (code >> 6));
        out += static_cast<char>(0x80 | (code & 0x3F));
      } else if (code < 0x10000) {
        out += static_cast<char>(0xE0 | (code >> 12));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (code >> 18));
        out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code & 0x3F));
      }
    } else {
      out += text.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

}  // namespace

std::optional<WallTime> ParseIso8601(std::string_view t) {
  // YYYY-MM-DDThh:mm:ss
  int year, month, day, hour, minute, second;
  if (t.size() < 19 || !ReadInt(t, 0, 4, &year) || t[4] != '-' || !ReadInt(t, 5, 2, &month) ||
      t[7] != '-' || !ReadInt(t, 8, 2, &day) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
      !ReadInt(t, 11, 2, &hour) || t[13] != ':' || !ReadInt(t, 14, 2, &minute) || t[16] != ':' ||
      !ReadInt(t, 17, 2, &second)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{unsigned(month)},
                                        std::chrono::day{unsigned(day)}};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    ++i;
    const size_t start = i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    if (i == start) return std::nullopt;
  }
  int offset_minutes = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    int oh, om;
    if (!ReadInt(t, i + 1, 2, &oh) || i + 3 >= t.size() || t[i + 3] != ':' ||
        !ReadInt(t, i + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (t[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;  // a time without an offset is ambiguous
  }
  if (i != t.size()) return std::nullopt;
  return WallTime{std::chrono::sys_days{ymd}} + std::chrono::hours{hour} +
         std::chrono::minutes{minute - offset_minutes} + std::chrono::seconds{second};
}

std::string FormatIso8601(WallTime time) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(time);
  const auto days = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd{days};
  const std::chrono::hh_mm_ss hms{secs - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()));
  return buf;
}

Result<Credentials> ParseJsonCredentials(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError()) {
    return Error(ErrorCode::kProtocol, std::string("credentials response is not JSON: ") +
                                           rapidjson::GetParseError_En(doc.GetParseError()) +
                                           " at offset " + std::to_string(doc.GetErrorOffset()));
  }
  if (!doc.IsObject())
    return Error(ErrorCode::kProtocol, "credentials response is not a JSON object");
  auto text = [&](const char* name) -> std::optional<std::string> {
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || !it->value.IsString()) return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  if (auto code = text("Code"); code && *code != "Success") {
    std::string message = "credentials response has Code " + *code;
    if (auto m = text("Message")) message += ": " + *m;
    return Error(ErrorCode::kAuth, message);
  }
  Credentials c;
  auto id = text("AccessKeyId");
  auto secret = text("SecretAccessKey");
  if (!id || id->empty())
    return Error(ErrorCode::kProtocol, "credentials response has no AccessKeyId");
  if (!secret || secret->empty()) {
    return Error(ErrorCode::kProtocol, "credentials response has no SecretAccessKey");
  }
  c.access_key_id = *id;
  c.secret_access_key = Secret(*secret);
  if (auto token = text("Token")) c.session_token = Secret(*token);
  if (doc.HasMember("Expiration")) {
    auto expiration = text("Expiration");
    auto when = expiration ? ParseIso8601(*expiration) : std::nullopt;
    if (!when) {
      return Error(ErrorCode::kProtocol,
                   "credentials response has a malformed Expiration" +
                       (expiration ? " \"" + expiration->substr(0, 40) + "\"" : std::string()));
    }
    c.expiration = *when;
  }
  return c;
}

std::optional<std::string> XmlElementText(std::string_view xml, std::string_view name) {
  const std::string open = "<" + std::string(name) + ">";
  const std::string close = "</" + std::string(name) + ">";
  const size_t start = xml.find(open);
  if (start == std::string_view::npos) return std::nullopt;
  const size_t content = start + open.size();
  const size_t end = xml.find(close, content);
  if (end == std::string_view::npos) return std::nullopt;
  return DecodeXmlEntities(Trim(xml.substr(content, end - content)));
}

Result<Credentials> ParseAssumeRoleResponse(std::string_view body) {
  auto block = XmlElementText(body, "Credentials");
  if (!block) {
    return Error(ErrorCode::kProtocol,
                 "AssumeRoleWithWebIdentity response has no Credentials element");
  }
  // Read inside the raw Credentials element (entities decoded per field).
  const size_t start = body.find("<Credentials>");
  const std::string_view raw = body.substr(start);
  Credentials c;
  for (const char* field : {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}) {
    if (!XmlElementText(raw, field) || XmlElementText(raw, field)->empty()) {
      return Error(ErrorCode::kProtocol,
                   std::string("AssumeRoleWithWebIdentity response has no ") + field);
    }
  }
  c.access_key_id = *XmlElementText(raw, "AccessKeyId");
  c.secret_access_key = Secret(*XmlElementText(raw, "SecretAccessKey"));
  c.session_token = Secret(*XmlElementText(raw, "SessionToken"));
  const std::string expiration = *XmlElementText(raw, "Expiration");
  auto when = ParseIso8601(expiration);
  if (!when) {
    return Error(ErrorCode::kProtocol,
                 "AssumeRoleWithWebIdentity response has a malformed Expiration \"" +
                     expiration.substr(0, 40) + "\"");
  }
  c.expiration = *when;
  return c;
}

namespace {

constexpr size_t kMaxErrorFieldBytes = 200;

// One line of at most kMaxErrorFieldBytes bytes.
std::string ErrorField(std::string_view text) {
  std::string s = Trim(text.substr(0, kMaxErrorFieldBytes));
  for (auto& c : s) {
    if (std::iscntrl(static_cast<unsigned char>(c))) c = ' ';
  }
  return s;
}

std::string CodeAndMessage(const std::optional<std::string>& code,
                           const std::optional<std::string>& message) {
  std::string out = code ? ErrorField(*code) : std::string();
  if (message && !ErrorField(*message).empty()) {
    out += (out.empty() ? "" : ": ") + ErrorField(*message);
  }
  return out;
}

}  // namespace

std::string DescribeErrorBody(std::string_view body) {
  if (Trim(body).empty()) return "empty response body";
  // XML (STS's <ErrorResponse><Error><Code>...).
  auto code = XmlElementText(body, "Code");
  auto message = XmlElementText(body, "Message");
  if (code || message) {
    std::string described = CodeAndMessage(code, message);
    if (!described.empty()) return described;
  }
  // JSON ({"Code": ..., "Message": ...}; "code"/"message" and "__type" too).
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    auto text = [&](std::initializer_list<const char*> names) -> std::optional<std::string> {
      for (const char* name : names) {
        auto it = doc.FindMember(name);
        if (it != doc.MemberEnd() && it->value.IsString()) {
          return std::string(it->value.GetString(), it->value.GetStringLength());
        }
      }
      return std::nullopt;
    };
    std::string described =
        CodeAndMessage(text({"Code", "code", "__type"}), text({"Message", "message"}));
    if (!described.empty()) return described;
  }
  return "unparseable body of " + std::to_string(body.size()) + " bytes";
}

IniSections ParseIni(std::string_view text) {
  IniSections sections;
  std::map<std::string, std::string>* current = nullptr;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    const bool indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    const std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#' || trimmed[0] == ';') continue;
    if (trimmed.front() == '[') {
      const size_t close = trimmed.find(']');
      if (close == std::string::npos) {
        current = nullptr;
        continue;
      }
      current = &sections[Trim(std::string_view(trimmed).substr(1, close - 1))];
      continue;
    }
    if (current == nullptr || indented) continue;
    const size_t eq = trimmed.find('=');
    if (eq == std::string::npos) continue;
    (*current)[Lower(Trim(std::string_view(trimmed).substr(0, eq)))] =
        Trim(std::string_view(trimmed).substr(eq + 1));
  }
  return sections;
}

std::string UrlScheme(std::string_view url) {
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos) return {};
  return Lower(std::string(url.substr(0, colon)));
}

namespace {

// The authority of an absolute URL ("user@host:port"), or nullopt.
std::optional<std::string_view> UrlAuthority(std::string_view url) {
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view authority = url.substr(colon + 3);
  return authority.substr(0, authority.find_first_of("/?#"));
}

}  // namespace

std::string UrlHost(std::string_view url) {
  auto found = UrlAuthority(url);
  if (!found) return {};
  std::string_view authority = *found;
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return {};
    return Lower(std::string(authority.substr(1, close - 1)));
  }
  return Lower(std::string(authority.substr(0, authority.find(':'))));
}

bool UrlHasUserInfo(std::string_view url) {
  auto authority = UrlAuthority(url);
  return authority && authority->find('@') != std::string_view::npos;
}

std::string RedactUrl(std::string_view url) {
  std::string_view kept = url.substr(0, url.find_first_of("?#"));
  const size_t colon = kept.find("://");
  if (colon == std::string_view::npos) return std::string(kept);
  const size_t start = colon + 3;
  const size_t end = std::min(kept.find('/', start), kept.size());
  const size_t at = kept.substr(start, end - start).rfind('@');
  if (at == std::string_view::npos) return std::string(kept);
  return std::string(kept.substr(0, start)) + std::string(kept.substr(start + at + 1));
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8 in dotted-quad form.
  int octets[4];
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    const size_t end = i < 3 ? host.find('.', pos) : host.size();
    if (end == std::string_view::npos || end == pos || end - pos > 3) return false;
    if (!ReadInt(host, pos, end - pos, &octets[i]) || octets[i] > 255) return false;
    pos = end + 1;
  }
  return octets[0] == 127;
}

std::string FormEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

}  // namespace sluice::aws
