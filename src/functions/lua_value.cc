#include "functions/lua_value.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <string>

#include "base/json_text.h"

namespace sluice::functions::internal {
namespace {

// Registry keys (their addresses are unique light userdata).
char kNullKey;
char kArrayKey;
char kObjectKey;
char kDecimalKey;

constexpr int kMaxDepth = 100;

// ---- decimals ---------------------------------------------------------------

// A number text split as  sign · 0.digits · 10^exponent  with no leading or
// trailing zeros in digits (zero has empty digits).
struct DecimalParts {
  bool negative = false;
  std::string digits;
  long exponent = 0;
};

DecimalParts SplitDecimal(std::string_view text) {
  DecimalParts p;
  size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) p.negative = text[i++] == '-';
  long point = -1;
  long count = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      point = count;
    } else if (c >= '0' && c <= '9') {
      p.digits.push_back(c);
      ++count;
    } else {
      break;
    }
  }
  long exp10 = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    std::string_view rest = text.substr(i + 1);
    if (!rest.empty() && rest[0] == '+') rest.remove_prefix(1);
    std::from_chars(rest.data(), rest.data() + rest.size(), exp10);
  }
  if (point < 0) point = count;
  size_t lead = 0;
  while (lead < p.digits.size() && p.digits[lead] == '0') ++lead;
  p.exponent = point - static_cast<long>(lead) + exp10;
  p.digits.erase(0, lead);
  while (!p.digits.empty() && p.digits.back() == '0') p.digits.pop_back();
  if (p.digits.empty()) p.negative = false;
  return p;
}

// -1, 0, 1 comparing two number texts exactly.
int CompareDecimalText(std::string_view a, std::string_view b) {
  DecimalParts x = SplitDecimal(a);
  DecimalParts y = SplitDecimal(b);
  int sign_x = x.digits.empty() ? 0 : (x.negative ? -1 : 1);
  int sign_y = y.digits.empty() ? 0 : (y.negative ? -1 : 1);
  if (sign_x != sign_y) return sign_x < sign_y ? -1 : 1;
  if (sign_x == 0) return 0;
  int magnitude = 0;
  if (x.exponent != y.exponent) {
    magnitude = x.exponent < y.exponent ? -1 : 1;
  } else {
    int c = x.digits.compare(y.digits);
    magnitude = c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return sign_x < 0 ? -magnitude : magnitude;
}

// The value at `index` as number text (decimal, integer or float); false for
// other values and for NaN/inf (which *inf_sign reports as ±1).
bool NumberText(lua_State* L, int index, std::string* out, int* inf_sign) {
  *inf_sign = 0;
  size_t len = 0;
  if (const char* text = ToDecimal(L, index, &len)) {
    out->assign(text, len);
    return true;
  }
  if (lua_isinteger(L, index)) {
    *out = std::to_string(lua_tointeger(L, index));
    return true;
  }
  if (lua_type(L, index) == LUA_TNUMBER) {
    double d = lua_tonumber(L, index);
    if (std::isinf(d)) *inf_sign = d > 0 ? 1 : -1;
    if (!std::isfinite(d)) return false;
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), d);
    out->assign(buf, r.ptr);
    return true;
  }
  return false;
}

constexpr int kNotComparable = 2;
constexpr int kOutOfMemory = 3;

// -1, 0, 1, kNotComparable or kOutOfMemory. Raises no Lua error, so its
// strings are always destroyed before the caller raises one.
int CompareForMetamethod(lua_State* L) {
  try {
    std::string a, b;
    int inf_a = 0, inf_b = 0;
    bool ok_a = NumberText(L, 1, &a, &inf_a);
    bool ok_b = NumberText(L, 2, &b, &inf_b);
    if (ok_a && ok_b) return CompareDecimalText(a, b);
    if (inf_a != 0 && ok_b) return inf_a;
    if (inf_b != 0 && ok_a) return -inf_b;
    return kNotComparable;
  } catch (const std::exception&) {
    return kOutOfMemory;
  }
}

int CheckedCompare(lua_State* L) {
  int c = CompareForMetamethod(L);
  if (c == kNotComparable) luaL_error(L, "attempt to compare a decimal with a non-number");
  if (c == kOutOfMemory) luaL_error(L, "out of memory comparing decimals");
  return c;
}

int DecimalLt(lua_State* L) {
  lua_pushboolean(L, CheckedCompare(L) < 0);
  return 1;
}
int DecimalLe(lua_State* L) {
  lua_pushboolean(L, CheckedCompare(L) <= 0);
  return 1;
}
int DecimalEq(lua_State* L) {
  int c = CompareForMetamethod(L);
  if (c == kOutOfMemory) luaL_error(L, "out of memory comparing decimals");
  lua_pushboolean(L, c == 0);
  return 1;
}
int DecimalToString(lua_State* L) {
  size_t len = 0;
  const char* text = ToDecimal(L, 1, &len);
  lua_pushlstring(L, text, len);
  return 1;
}
int DecimalConcat(lua_State* L) {
  for (int i = 1; i <= 2; ++i) {
    size_t len = 0;
    if (const char* text = ToDecimal(L, i, &len)) {
      lua_pushlstring(L, text, len);
    } else if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER) {
      lua_pushvalue(L, i);
    } else {
      return luaL_error(L, "attempt to concatenate a decimal with a %s value", luaL_typename(L, i));
    }
  }
  lua_concat(L, 2);
  return 1;
}
// Arithmetic converts to a Lua number (float or integer) first.
void PushAsNumber(lua_State* L, int index) {
  size_t len = 0;
  if (const char* text = ToDecimal(L, index, &len)) {
    if (lua_stringtonumber(L, text) == 0) lua_pushnil(L);
  } else {
    lua_pushvalue(L, index);
  }
}
template <int Op>
int DecimalArith(lua_State* L) {
  PushAsNumber(L, 1);
  if (Op != LUA_OPUNM) PushAsNumber(L, 2);
  lua_arith(L, Op);
  return 1;
}

int NullToString(lua_State* L) {
  lua_pushliteral(L, "null");
  return 1;
}

// ---- JSON → Lua -------------------------------------------------------------

class LuaBuilder {
 public:
  LuaBuilder(lua_State* L, int array_mt, int object_mt, int null_index)
      : L_(L), array_mt_(array_mt), object_mt_(object_mt), null_(null_index) {}

  bool Null() {
    lua_pushvalue(L_, null_);
    return Added();
  }
  bool Bool(bool b) {
    lua_pushboolean(L_, b);
    return Added();
  }
  bool Int(int) { return false; }  // numbers arrive as RawNumber
  bool Uint(unsigned) { return false; }
  bool Int64(int64_t) { return false; }
  bool Uint64(uint64_t) { return false; }
  bool Double(double) { return false; }
  bool RawNumber(const char* str, rapidjson::SizeType len, bool) {
    std::string_view text(str, len);
    if (text.find_first_of(".eE") == std::string_view::npos) {
      int64_t v = 0;
      auto r = std::from_chars(text.data(), text.data() + text.size(), v);
      if (r.ec == std::errc() && r.ptr == text.data() + text.size()) {
        lua_pushinteger(L_, v);
        return Added();
      }
    } else {
      double d = 0;
      auto r = std::from_chars(text.data(), text.data() + text.size(), d);
      if (r.ec == std::errc() && r.ptr == text.data() + text.size() && std::isfinite(d)) {
        char buf[64];
        auto w = std::to_chars(buf, buf + sizeof(buf), d);
        if (std::string_view(buf, w.ptr - buf) == text) {
          lua_pushnumber(L_, d);
          return Added();
        }
      }
    }
    PushDecimal(L_, text);
    return Added();
  }
  bool String(const char* str, rapidjson::SizeType len, bool) {
    lua_pushlstring(L_, str, len);
    return Added();
  }
  bool Key(const char* str, rapidjson::SizeType len, bool) {
    lua_pushlstring(L_, str, len);
    return true;
  }
  bool StartObject() { return Open(false); }
  bool EndObject(rapidjson::SizeType members) { return Close(members); }
  bool StartArray() { return Open(true); }
  bool EndArray(rapidjson::SizeType elements) { return Close(elements); }
  bool too_deep() const { return too_deep_; }

 private:
  bool Open(bool is_array) {
    if (depth_ >= kMaxDepth || !lua_checkstack(L_, 4)) {
      too_deep_ = true;
      return false;
    }
    // Sized like the table opened at the same place last time on this thread
    // (messages of a sink have the same shape): a table grown one member at
    // a time rehashes at every power of two.
    const int size = opened_ < kSizeHints ? size_hints_[opened_] : 0;
    lua_createtable(L_, is_array ? size : 0, is_array ? 0 : size);
    lua_pushvalue(L_, is_array ? array_mt_ : object_mt_);
    lua_setmetatable(L_, -2);
    frames_[depth_++] = Frame{is_array, 0, opened_++};
    return true;
  }
  bool Close(rapidjson::SizeType members) {
    const Frame& f = frames_[--depth_];
    if (f.ordinal < kSizeHints)
      size_hints_[f.ordinal] = static_cast<uint16_t>(std::min<rapidjson::SizeType>(members, 256));
    return Added();
  }
  // A complete value is on top: store it in its container.
  bool Added() {
    if (depth_ == 0) return true;
    Frame& f = frames_[depth_ - 1];
    if (f.is_array) {
      lua_rawseti(L_, -2, ++f.count);
    } else {
      lua_rawset(L_, -3);
    }
    return true;
  }

  struct Frame {
    bool is_array;
    lua_Integer count;
    int ordinal;  // tables opened before this one in this parse
  };
  static constexpr int kSizeHints = 32;
  static thread_local uint16_t size_hints_[kSizeHints];
  lua_State* L_;
  int array_mt_, object_mt_, null_;
  // A plain array (no destructor), since a Lua memory error may longjmp out.
  Frame frames_[kMaxDepth];
  int depth_ = 0;
  int opened_ = 0;
  bool too_deep_ = false;
};

thread_local uint16_t LuaBuilder::size_hints_[LuaBuilder::kSizeHints] = {};

// ---- Lua → JSON -------------------------------------------------------------

class Encoder {
 public:
  Encoder(lua_State* L, const EncodeLimits& limits, std::string* out, std::string* error)
      : L_(L), limits_(limits), out_(out), error_(error) {
    PushArrayMarker(L);
    array_mt_ = lua_gettop(L);
    PushObjectMarker(L);
    object_mt_ = lua_gettop(L);
    PushNull(L);
    null_ = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kDecimalKey);
    decimal_mt_ = lua_gettop(L);
  }
  ~Encoder() { lua_settop(L_, array_mt_ - 1); }

  EncodeStatus Encode(int index) {
    if (Value(lua_absindex(L_, index), 0)) return EncodeStatus::kOk;
    return status_;
  }

 private:
  bool Fail(const std::string& what) {
    *error_ = (path_.empty() ? std::string("$") : "$" + path_) + ": " + what;
    status_ = EncodeStatus::kInvalid;
    return false;
  }
  bool OverBudget() {
    *error_ = "exceeded the instruction budget of " + std::to_string(limits_.budget_total) +
              " instructions while encoding JSON (each value costs one)";
    status_ = EncodeStatus::kOverBudget;
    return false;
  }
  bool TooLarge() {
    *error_ = "the JSON is larger than the memory limit of " +
              std::to_string(limits_.max_bytes >> 20) + " MiB";
    status_ = EncodeStatus::kTooLarge;
    return false;
  }

  // Charges one value and checks the output size so far (plus `adding`).
  bool Charge(size_t adding) {
    if (limits_.budget != nullptr && --*limits_.budget <= 0) return OverBudget();
    if (out_->size() + adding > limits_.max_bytes) return TooLarge();
    return true;
  }

  bool Value(int index, int depth) {
    if (!Charge(0)) return false;
    switch (lua_type(L_, index)) {
      case LUA_TNIL: out_->append("null"); return true;
      case LUA_TBOOLEAN: out_->append(lua_toboolean(L_, index) ? "true" : "false"); return true;
      case LUA_TNUMBER: return Number(index);
      case LUA_TSTRING: {
        size_t len = 0;
        const char* s = lua_tolstring(L_, index, &len);
        if (!IsValidUtf8({s, len})) return Fail("string is not valid UTF-8");
        if (!Charge(len)) return false;
        AppendJsonString({s, len}, out_);
        return out_->size() <= limits_.max_bytes || TooLarge();
      }
      case LUA_TUSERDATA: {
        if (lua_rawequal(L_, index, null_)) {
          out_->append("null");
          return true;
        }
        if (lua_getmetatable(L_, index)) {
          bool is_decimal = lua_rawequal(L_, -1, decimal_mt_);
          lua_pop(L_, 1);
          if (is_decimal) {
            out_->append(static_cast<const char*>(lua_touserdata(L_, index)));
            return true;
          }
        }
        return Fail("a userdata value cannot be encoded as JSON");
      }
      case LUA_TTABLE: return Table(index, depth);
      default:
        return Fail(std::string("a ") + luaL_typename(L_, index) +
                    " value cannot be encoded as JSON");
    }
  }

  bool Number(int index) {
    if (lua_isinteger(L_, index)) {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof(buf), lua_tointeger(L_, index));
      out_->append(buf, r.ptr);
      return true;
    }
    double d = lua_tonumber(L_, index);
    if (!std::isfinite(d)) return Fail("NaN and infinity cannot be encoded as JSON");
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), d);
    std::string_view text(buf, r.ptr - buf);
    out_->append(text);
    if (text.find_first_of(".e") == std::string_view::npos) out_->append(".0");
    return true;
  }

  enum class Shape { kArray, kObject, kUnknown };

  bool Table(int index, int depth) {
    if (depth >= kMaxDepth) {
      return Fail("nesting deeper than " + std::to_string(kMaxDepth) + " (a table cycle?)");
    }
    if (!lua_checkstack(L_, 6)) return Fail("out of Lua stack");
    Shape shape = Shape::kUnknown;
    if (lua_getmetatable(L_, index)) {
      if (lua_rawequal(L_, -1, array_mt_)) shape = Shape::kArray;
      if (lua_rawequal(L_, -1, object_mt_)) shape = Shape::kObject;
      lua_pop(L_, 1);
    }
    // Scan the keys to decide / check the shape.
    lua_Integer count = 0, max_int = 0;
    bool has_string = false, has_other = false;
    lua_pushnil(L_);
    while (lua_next(L_, index) != 0) {
      lua_pop(L_, 1);
      ++count;
      int kt = lua_type(L_, -1);
      if (kt == LUA_TSTRING) {
        has_string = true;
      } else if (lua_isinteger(L_, -1) && lua_tointeger(L_, -1) >= 1) {
        max_int = std::max(max_int, lua_tointeger(L_, -1));
      } else {
        has_other = true;
      }
    }
    bool sequence = !has_string && !has_other && max_int == count;
    if (shape == Shape::kUnknown) {
      if (count == 0 || (has_string && !has_other && max_int == 0)) {
        shape = Shape::kObject;
      } else if (sequence) {
        shape = Shape::kArray;
      } else {
        return Fail("table mixes string and integer keys (or has gaps); use sluice.array{} or " +
                    std::string("sluice.object{}"));
      }
    }
    if (shape == Shape::kArray) {
      if (!sequence) return Fail("array has keys other than 1..n (a gap or a named key)");
      out_->push_back('[');
      size_t saved = path_.size();
      for (lua_Integer i = 1; i <= count; ++i) {
        if (i > 1) out_->push_back(',');
        path_.append("[").append(std::to_string(i)).append("]");
        lua_rawgeti(L_, index, i);
        if (!Value(lua_gettop(L_), depth + 1)) return false;
        lua_pop(L_, 1);
        path_.resize(saved);
      }
      out_->push_back(']');
      return true;
    }
    if (has_other) return Fail("object has a key that is neither a string nor an integer");
    out_->push_back('{');
    bool first = true;
    size_t saved = path_.size();
    lua_pushnil(L_);
    while (lua_next(L_, index) != 0) {
      if (!first) out_->push_back(',');
      first = false;
      std::string key;
      if (lua_type(L_, -2) == LUA_TSTRING) {
        size_t len = 0;
        const char* k = lua_tolstring(L_, -2, &len);
        key.assign(k, len);
      } else {
        key = std::to_string(lua_tointeger(L_, -2));
      }
      path_.append(".").append(key);
      if (!IsValidUtf8(key)) return Fail("key is not valid UTF-8");
      if (out_->size() + key.size() > limits_.max_bytes) return TooLarge();
      AppendJsonString(key, out_);
      out_->push_back(':');
      if (!Value(lua_gettop(L_), depth + 1)) return false;
      lua_pop(L_, 1);
      path_.resize(saved);
    }
    out_->push_back('}');
    return true;
  }

  lua_State* L_;
  const EncodeLimits& limits_;
  std::string* out_;
  std::string* error_;
  EncodeStatus status_ = EncodeStatus::kInvalid;
  std::string path_;
  int array_mt_ = 0, object_mt_ = 0, null_ = 0, decimal_mt_ = 0;
};

void NewProtectedMetatable(lua_State* L, void* key, const char* name) {
  lua_newtable(L);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__metatable");  // getmetatable() shows the name; setmetatable() refuses
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

}  // namespace

void RegisterValueTypes(lua_State* L) {
  NewProtectedMetatable(L, &kArrayKey, "sluice.array");
  NewProtectedMetatable(L, &kObjectKey, "sluice.object");

  NewProtectedMetatable(L, &kDecimalKey, "sluice.decimal");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kDecimalKey);
  const luaL_Reg decimal_methods[] = {{"__tostring", DecimalToString},
                                      {"__concat", DecimalConcat},
                                      {"__eq", DecimalEq},
                                      {"__lt", DecimalLt},
                                      {"__le", DecimalLe},
                                      {"__add", DecimalArith<LUA_OPADD>},
                                      {"__sub", DecimalArith<LUA_OPSUB>},
                                      {"__mul", DecimalArith<LUA_OPMUL>},
                                      {"__div", DecimalArith<LUA_OPDIV>},
                                      {"__mod", DecimalArith<LUA_OPMOD>},
                                      {"__pow", DecimalArith<LUA_OPPOW>},
                                      {"__idiv", DecimalArith<LUA_OPIDIV>},
                                      {"__unm", DecimalArith<LUA_OPUNM>},
                                      {nullptr, nullptr}};
  luaL_setfuncs(L, decimal_methods, 0);
  lua_pop(L, 1);

  lua_newuserdatauv(L, 0, 0);
  NewProtectedMetatable(L, &kNullKey, "sluice.null");  // reuse as the null's metatable
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kNullKey);
  lua_pushcfunction(L, NullToString);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kNullKey);  // the key now maps to the sentinel itself
}

void PushArrayMarker(lua_State* L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &kArrayKey); }
void PushObjectMarker(lua_State* L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &kObjectKey); }
void PushNull(lua_State* L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &kNullKey); }

void PushDecimal(lua_State* L, std::string_view text) {
  char* p = static_cast<char*>(lua_newuserdatauv(L, text.size() + 1, 0));
  std::memcpy(p, text.data(), text.size());
  p[text.size()] = '\0';
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kDecimalKey);
  lua_setmetatable(L, -2);
}

const char* ToDecimal(lua_State* L, int index, size_t* len) {
  if (lua_type(L, index) != LUA_TUSERDATA || !lua_getmetatable(L, index)) return nullptr;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kDecimalKey);
  bool is_decimal = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!is_decimal) return nullptr;
  const char* text = static_cast<const char*>(lua_touserdata(L, index));
  *len = std::strlen(text);
  return text;
}

bool IsJsonNumber(std::string_view t) {
  size_t i = 0, n = t.size();
  auto digits = [&] {
    size_t start = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < n && t[i] == '-') ++i;
  if (i < n && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < n && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

namespace {
bool IsAscii(std::string_view text) {
  uint64_t any = 0;
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    any |= word;
  }
  for (; i < text.size(); ++i) any |= static_cast<unsigned char>(text[i]);
  return (any & 0x8080808080808080ULL) == 0;
}
}  // namespace

bool PushJson(lua_State* L, std::string_view json, std::string* error) {
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, "JSON");
  PushArrayMarker(L);
  PushObjectMarker(L);
  PushNull(L);
  LuaBuilder builder(L, top + 1, top + 2, top + 3);
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(json.data(), json.size());
  constexpr unsigned kFlags =
      rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseStopWhenDoneFlag;
  // UTF-8 validation runs per character and costs as much as the parse; text
  // without a byte over 0x7F needs none.
  rapidjson::ParseResult r =
      IsAscii(json) ? reader.Parse<kFlags>(ms, builder)
                    : reader.Parse<kFlags | rapidjson::kParseValidateEncodingFlag>(ms, builder);
  if (r.IsError()) {
    if (builder.too_deep()) {
      *error = "JSON nests deeper than " + std::to_string(kMaxDepth);
    } else {
      *error = std::string("invalid JSON at offset ") + std::to_string(r.Offset()) + ": " +
               rapidjson::GetParseError_En(r.Code());
    }
    lua_settop(L, top);
    return false;
  }
  // Trailing content after the value is an error too.
  for (size_t i = ms.Tell(); i < json.size(); ++i) {
    char c = json[i];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      *error = "invalid JSON at offset " + std::to_string(i) + ": trailing characters";
      lua_settop(L, top);
      return false;
    }
  }
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  return true;
}

EncodeStatus EncodeJson(lua_State* L, int index, const EncodeLimits& limits, std::string* out,
                        std::string* error) {
  index = lua_absindex(L, index);
  int top = lua_gettop(L);
  try {
    Encoder encoder(L, limits, out, error);
    return encoder.Encode(index);
  } catch (const std::exception&) {  // std::bad_alloc, std::length_error
    lua_settop(L, top);
    out->clear();
    error->clear();
    error->assign("out of memory");  // fits the cleared capacity: no allocation
    return EncodeStatus::kTooLarge;
  }
}

}  // namespace sluice::functions::internal
