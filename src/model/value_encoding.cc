// EncodeValue: one column's Postgres text output → its JSON value (SPEC §2).
//
// The replication session runs with DateStyle=ISO, TimeZone=UTC,
// IntervalStyle=iso_8601, extra_float_digits=3 and bytea_output=hex, so every
// text form parsed here is the one those settings produce. Any text that does
// not parse as expected (BC dates, 'infinity', a malformed array literal, an
// out-of-range interval) is emitted as a JSON string of the text: the value is
// never lost and the output is always valid JSON.

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "model/encoder.h"
#include "model/json_text.h"
#include "model/pg_types.h"

namespace sluice::model {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// "YYYY-MM-DD HH:MM:SS[.ffffff]" (+ "+HH[:MM]" when with_zone) → ISO 8601
// with 'T', exactly six fraction digits, and 'Z' for a zero offset.
// Returns false (appending nothing) for anything else: 'infinity',
// '-infinity', BC dates ("... BC"), offsets with seconds.
bool AppendIsoTimestamp(std::string_view t, bool with_zone, std::string* out) {
  const size_t sp = t.find(' ');
  if (sp == std::string_view::npos || sp < 10) return false;
  std::string_view date = t.substr(0, sp);
  if (!AllDigits(date.substr(0, sp - 6)) || date[sp - 6] != '-' ||
      !AllDigits(date.substr(sp - 5, 2)) || date[sp - 3] != '-' ||
      !AllDigits(date.substr(sp - 2, 2))) {
    return false;
  }
  size_t i = sp + 1;
  if (t.size() < i + 8) return false;
  std::string_view time = t.substr(i, 8);
  if (!IsDigit(time[0]) || !IsDigit(time[1]) || time[2] != ':' || !IsDigit(time[3]) ||
      !IsDigit(time[4]) || time[5] != ':' || !IsDigit(time[6]) || !IsDigit(time[7])) {
    return false;
  }
  i += 8;
  std::string_view fraction;
  if (i < t.size() && t[i] == '.') {
    size_t start = ++i;
    while (i < t.size() && IsDigit(t[i])) ++i;
    fraction = t.substr(start, i - start);
    if (fraction.empty() || fraction.size() > 6) return false;
  }
  std::string_view offset_hours, offset_minutes;
  char offset_sign = 0;
  if (with_zone) {
    if (i + 3 > t.size() || (t[i] != '+' && t[i] != '-')) return false;
    offset_sign = t[i];
    offset_hours = t.substr(i + 1, 2);
    if (!AllDigits(offset_hours)) return false;
    i += 3;
    if (i < t.size() && t[i] == ':') {
      offset_minutes = t.substr(i + 1, 2);
      if (offset_minutes.size() != 2 || !AllDigits(offset_minutes)) return false;
      i += 3;
    }
  }
  if (i != t.size()) return false;

  // Assemble in a local buffer: one append. Dates past year 294276 do not exist.
  char b[64];
  if (date.size() > 20) return false;
  char* o = b;
  *o++ = '"';
  std::memcpy(o, date.data(), date.size());
  o += date.size();
  *o++ = 'T';
  std::memcpy(o, time.data(), 8);
  o += 8;
  *o++ = '.';
  std::memcpy(o, "000000", 6);
  if (!fraction.empty()) std::memcpy(o, fraction.data(), fraction.size());
  o += 6;
  if (with_zone) {
    if (offset_hours == "00" && (offset_minutes.empty() || offset_minutes == "00")) {
      *o++ = 'Z';
    } else {
      *o++ = offset_sign;
      std::memcpy(o, offset_hours.data(), 2);
      o[2] = ':';
      std::memcpy(o + 3, offset_minutes.empty() ? "00" : offset_minutes.data(), 2);
      o += 5;
    }
  }
  *o++ = '"';
  out->append(b, static_cast<size_t>(o - b));
  return true;
}

// ISO 8601 interval as Postgres prints it with IntervalStyle=iso_8601
// ("P1Y2M3DT4H5M6.5S", "P-1Y-2M", "PT0S", "P10M3DT-4H-5M-6.000001S", each
// field signed on its own; a leading '-' negating everything is accepted too)
// → {"months":n,"days":n,"microseconds":n}, Postgres's own representation.
bool AppendInterval(std::string_view t, std::string* out) {
  constexpr __int128 kUsPerSecond = 1'000'000;
  size_t i = 0;
  const size_t n = t.size();
  bool negate_all = false;
  if (i < n && t[i] == '-') {
    negate_all = true;
    ++i;
  }
  if (i >= n || t[i] != 'P') return false;
  ++i;
  bool in_time = false;
  bool any_field = false;
  __int128 months = 0, days = 0, micros = 0;
  while (i < n) {
    if (t[i] == 'T') {
      if (in_time) return false;
      in_time = true;
      ++i;
      continue;
    }
    bool negative = false;
    if (t[i] == '-' || t[i] == '+') {
      negative = t[i] == '-';
      ++i;
    }
    size_t start = i;
    __int128 whole = 0;
    while (i < n && IsDigit(t[i])) {
      if (i - start >= 19) return false;  // beyond any Postgres interval field
      whole = whole * 10 + (t[i] - '0');
      ++i;
    }
    if (i == start) return false;
    int64_t fraction_us = 0;
    bool has_fraction = false;
    if (i < n && t[i] == '.') {
      has_fraction = true;
      ++i;
      size_t fstart = i;
      int64_t scale = 100'000;
      while (i < n && IsDigit(t[i])) {
        if (i - fstart >= 6) return false;  // Postgres keeps microseconds
        fraction_us += (t[i] - '0') * scale;
        scale /= 10;
        ++i;
      }
      if (i == fstart) return false;
    }
    if (i >= n) return false;
    const char unit = t[i++];
    if (has_fraction && !(in_time && unit == 'S')) return false;
    __int128 value = 0;
    if (!in_time) {
      switch (unit) {
        case 'Y': months += (negative ? -whole : whole) * 12; break;
        case 'M': months += negative ? -whole : whole; break;
        case 'W': days += (negative ? -whole : whole) * 7; break;
        case 'D': days += negative ? -whole : whole; break;
        default: return false;
      }
    } else {
      switch (unit) {
        case 'H': value = whole * 3600 * kUsPerSecond; break;
        case 'M': value = whole * 60 * kUsPerSecond; break;
        case 'S': value = whole * kUsPerSecond + fraction_us; break;
        default: return false;
      }
      micros += negative ? -value : value;
    }
    any_field = true;
  }
  if (!any_field) return false;
  if (negate_all) {
    months = -months;
    days = -days;
    micros = -micros;
  }
  constexpr __int128 kMin = INT64_MIN, kMax = INT64_MAX;
  for (__int128 v : {months, days, micros}) {
    if (v < kMin || v > kMax) return false;
  }
  out->append("{\"months\":");
  AppendInt(static_cast<int64_t>(months), out);
  out->append(",\"days\":");
  AppendInt(static_cast<int64_t>(days), out);
  out->append(",\"microseconds\":");
  AppendInt(static_cast<int64_t>(micros), out);
  out->push_back('}');
  return true;
}

// Postgres array literal → JSON array, elements encoded by element type.
// Handles quoting with backslash escapes, unquoted NULL, nesting, and the
// "[lo:hi]={...}" dimension decoration (dropped: JSON arrays start at 0).
class ArrayLiteralParser {
 public:
  ArrayLiteralParser(std::string_view text, const pg::ArrayType& type, std::string* out)
      : t_(text), element_oid_(type.element_oid), delimiter_(type.delimiter), out_(out) {}

  bool Parse() {
    if (!t_.empty() && t_[0] == '[') {
      size_t eq = t_.find('=');
      if (eq == std::string_view::npos || eq == 0 || t_[eq - 1] != ']') return false;
      i_ = eq + 1;
    }
    if (!ParseArray(1)) return false;
    SkipSpace();
    return i_ == t_.size();
  }

 private:
  static constexpr int kMaxDimensions = 6;  // Postgres MAXDIM

  void SkipSpace() {
    while (i_ < t_.size() &&
           (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) {
      ++i_;
    }
  }

  bool ParseArray(int depth) {
    if (depth > kMaxDimensions) return false;
    SkipSpace();
    if (i_ >= t_.size() || t_[i_] != '{') return false;
    ++i_;
    out_->push_back('[');
    SkipSpace();
    if (i_ < t_.size() && t_[i_] == '}') {
      ++i_;
      out_->push_back(']');
      return true;
    }
    while (true) {
      SkipSpace();
      if (i_ >= t_.size()) return false;
      bool ok = t_[i_] == '{'   ? ParseArray(depth + 1)
                : t_[i_] == '"' ? ParseQuoted()
                                : ParseUnquoted();
      if (!ok) return false;
      SkipSpace();
      if (i_ >= t_.size()) return false;
      if (t_[i_] == delimiter_) {
        ++i_;
        out_->push_back(',');
        continue;
      }
      if (t_[i_] == '}') {
        ++i_;
        out_->push_back(']');
        return true;
      }
      return false;
    }
  }

  bool ParseQuoted() {
    size_t start = ++i_;
    bool escaped = false;
    while (i_ < t_.size() && t_[i_] != '"') {
      if (t_[i_] == '\\') {
        escaped = true;
        ++i_;
      }
      ++i_;
    }
    if (i_ >= t_.size()) return false;
    std::string_view raw = t_.substr(start, i_ - start);
    ++i_;  // closing quote
    if (!escaped) {
      EncodeValue(element_oid_, raw, out_);
      return true;
    }
    // Element types are never arrays, so this scratch is not reentered.
    thread_local std::string scratch;
    scratch.clear();
    for (size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] == '\\') ++k;
      scratch.push_back(raw[k]);
    }
    EncodeValue(element_oid_, scratch, out_);
    return true;
  }

  bool ParseUnquoted() {
    size_t start = i_;
    while (i_ < t_.size() && t_[i_] != delimiter_ && t_[i_] != '}') {
      char c = t_[i_];
      if (c == '{' || c == '"' || c == '\\') return false;
      ++i_;
    }
    if (i_ >= t_.size()) return false;
    size_t end = i_;
    while (end > start && (t_[end - 1] == ' ' || t_[end - 1] == '\t')) --end;
    std::string_view raw = t_.substr(start, end - start);
    if (raw.empty()) return false;
    if (raw.size() == 4 && (raw[0] | 0x20) == 'n' && (raw[1] | 0x20) == 'u' &&
        (raw[2] | 0x20) == 'l' && (raw[3] | 0x20) == 'l') {
      out_->append("null");
      return true;
    }
    EncodeValue(element_oid_, raw, out_);
    return true;
  }

  std::string_view t_;
  size_t i_ = 0;
  uint32_t element_oid_;
  char delimiter_;
  std::string* out_;
};

// Runs `encode`; if it fails, drops whatever it appended and writes the text
// as a JSON string instead.
template <typename F>
void EncodeOrString(std::string_view text, std::string* out, F encode) {
  const size_t mark = out->size();
  if (encode()) return;
  out->resize(mark);
  AppendJsonString(text, out);
}

}  // namespace

void EncodeValue(uint32_t type_oid, std::string_view text, std::string* out) {
  switch (type_oid) {
    case pg::kBool:
      if (text == "t") {
        out->append("true");
      } else if (text == "f") {
        out->append("false");
      } else {
        AppendJsonString(text, out);
      }
      return;
    case pg::kInt2:
    case pg::kInt4:
    case pg::kInt8:
    case pg::kOid:
    case pg::kFloat4:
    case pg::kFloat8:
    case pg::kNumeric:
      // NaN, Infinity and -Infinity are not JSON numbers: they become strings.
      if (IsJsonNumber(text)) {
        out->append(text);
      } else {
        AppendJsonString(text, out);
      }
      return;
    case pg::kJson:
    case pg::kJsonb:
      // Postgres validated it on input and prints it back as JSON text.
      if (text.empty()) {
        out->append("null");
      } else {
        out->append(text);
      }
      return;
    case pg::kTimestamptz:
      EncodeOrString(text, out, [&] { return AppendIsoTimestamp(text, true, out); });
      return;
    case pg::kTimestamp:
      EncodeOrString(text, out, [&] { return AppendIsoTimestamp(text, false, out); });
      return;
    case pg::kInterval:
      EncodeOrString(text, out, [&] { return AppendInterval(text, out); });
      return;
    case pg::kText:
    case pg::kVarchar:
    case pg::kBpchar:
    case pg::kUuid:
    case pg::kDate:
    case pg::kTime:
    case pg::kTimetz:
    case pg::kBytea:
      AppendJsonString(text, out);  // common types: skip the array lookup
      return;
    default: break;
  }
  if (const pg::ArrayType* array = pg::FindArrayType(type_oid)) {
    EncodeOrString(text, out, [&] { return ArrayLiteralParser(text, *array, out).Parse(); });
    return;
  }
  // text, varchar, bpchar, uuid, date, time, timetz, bytea, enums and every
  // other type: the text form as a JSON string.
  AppendJsonString(text, out);
}

}  // namespace sluice::model
