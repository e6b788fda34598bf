// JSON ↔ Lua value mapping (internal to functions/; see docs/functions.md).
//
//   object → table with the object marker     array → table with the array marker
//   null   → sluice.null (a unique userdata)  string → Lua string (bytes)
//   number → integer if it fits int64; float if its text is the shortest
//            form of a double; else a sluice.decimal keeping the exact text.
//
// Encoding back: the markers decide arrays vs objects; an unmarked table is an
// array when its keys are exactly 1..n, an object when all keys are strings,
// `{}` when empty, and an error (naming the path) otherwise.
#pragma once

#include <cstdint>
#include <lua.hpp>
#include <string>
#include <string_view>

namespace sluice::functions::internal {

// Creates the null sentinel, the array/object marker metatables and the
// decimal metatable in the registry. Call once per lua_State.
void RegisterValueTypes(lua_State* L);

// Pushes the marker metatables / sentinel.
void PushArrayMarker(lua_State* L);
void PushObjectMarker(lua_State* L);
void PushNull(lua_State* L);
// Pushes a decimal holding `text` (which must be a valid JSON number).
void PushDecimal(lua_State* L, std::string_view text);
// The decimal's text, or nullptr when the value is not a decimal.
const char* ToDecimal(lua_State* L, int index, size_t* len);
// True if `text` is a JSON number.
bool IsJsonNumber(std::string_view text);

// Parses `json` and pushes its value. On malformed JSON pushes nothing and
// returns false with *error set. May raise a Lua memory error: call only in
// protected mode.
bool PushJson(lua_State* L, std::string_view json, std::string* error);

// Limits of one encoding. Each encoded value (scalar, array or object) costs
// one instruction from *budget; the output may not grow past max_bytes.
struct EncodeLimits {
  int64_t* budget = nullptr;  // nullptr: no budget
  int64_t budget_total = 0;   // the whole budget, for the error message
  size_t max_bytes = SIZE_MAX;
};

enum class EncodeStatus {
  kOk,
  kInvalid,     // a value has no JSON form; *error names the path
  kOverBudget,  // *budget ran out (it is left at or below zero)
  kTooLarge,    // the output would pass max_bytes
};

// Appends the JSON of the value at `index` to *out. On failure *error says why
// (an invalid value is named by its path, "$.record.tags[2]: ..."). Neither
// raises a Lua error nor throws: a C++ allocation failure is kTooLarge.
EncodeStatus EncodeJson(lua_State* L, int index, const EncodeLimits& limits, std::string* out,
                        std::string* error);

}  // namespace sluice::functions::internal
