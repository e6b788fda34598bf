#include "functions/sandbox_lib.h"

#include <climits>
#include <cstring>
#include <new>
#include <string>

namespace sluice::functions::internal {
namespace {

constexpr const char* kOwnedStringMeta = "sluice.owned_string";

// Calls the replaced function (upvalue 1) with all arguments.
int CallOriginal(lua_State* L, int nresults) {
  int nargs = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, nargs, nresults);
  return lua_gettop(L);
}

// ---- metatables ---------------------------------------------------------------

// Lua runs __gc finalizers with hooks off, and the __close handlers of a
// coroutine that died from a budget error too (its hooks stay off), so
// either could loop forever. setmetatable is the only way a script can set a
// metatable, so refusing them here keeps them out entirely.
int SafeSetMetatable(lua_State* L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (t == LUA_TTABLE) {
    for (const char* key : {"__gc", "__close"}) {
      lua_pushstring(L, key);
      bool present = lua_rawget(L, 2) != LUA_TNIL;
      lua_pop(L, 1);
      if (present) {
        return luaL_error(L,
                          "%s metamethods are not allowed in sluice functions (Lua would run "
                          "them outside the instruction budget)",
                          key);
      }
    }
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) {
    return luaL_error(L, "cannot change a protected metatable");
  }
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

// ---- xpcall -------------------------------------------------------------------

// Lua calls xpcall's message handler at the point of the error; when that
// error is the budget error raised by the count hook, hooks are off, so the
// handler would run unbounded. Here f runs under pcall without a handler, and
// the handler is then called as an ordinary (budgeted) function with the
// error object. Once the budget is spent the error is raised again instead.
// The handler sees the stack already unwound, which only matters for
// debug.traceback, absent here.
//
// Stack: 1 f, 2 handler, 3 true, 4.. results or the error object.
constexpr lua_KContext kAfterCall = 0;
constexpr lua_KContext kAfterHandler = 1;

int XpcallContinue(lua_State* L, int status, lua_KContext ctx) {
  bool failed = status != LUA_OK && status != LUA_YIELD;
  // A spent budget: raise its error again (it is on top), no handler.
  if (failed && BudgetExhausted(L)) return lua_error(L);
  if (ctx == kAfterCall) {
    if (!failed) return lua_gettop(L) - 2;  // true, results
    // Stack: f, handler, true, error. Call handler(error).
    lua_pushvalue(L, 2);
    lua_insert(L, 4);
    int st = lua_pcallk(L, 1, 1, 0, kAfterHandler, XpcallContinue);
    return XpcallContinue(L, st, kAfterHandler);
  }
  // After the handler: its result, or its own error object, is on top.
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;  // false, handler result
}

int SafeXpcall(lua_State* L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushboolean(L, 1);  // first result if no errors
  lua_pushvalue(L, 1);    // the function
  lua_rotate(L, 3, 2);    // move them below the function's arguments
  int status = lua_pcallk(L, n - 2, LUA_MULTRET, 0, kAfterCall, XpcallContinue);
  return XpcallContinue(L, status, kAfterCall);
}

// ---- string.rep ---------------------------------------------------------------

// Reimplemented (as are the table functions below, except sort) rather than
// wrapped, so that errors keep naming the script's line. The result must fit
// the memory limit, and each repetition costs one instruction (so ""
// repeated math.maxinteger times is refused too).
int SafeRep(lua_State* L) {
  size_t l = 0, lsep = 0;
  const char* s = luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  const char* sep = luaL_optlstring(L, 3, "", &lsep);
  if (n <= 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  unsigned __int128 total = static_cast<unsigned __int128>(l) * static_cast<uint64_t>(n) +
                            static_cast<unsigned __int128>(lsep) * static_cast<uint64_t>(n - 1);
  size_t limit = MemoryLimit(L);
  if (total > limit) {
    return luaL_error(L, "string.rep: the result would be larger than the memory limit of %d MiB",
                      static_cast<int>(limit >> 20));
  }
  ChargeBudget(L, n);
  size_t totallen = static_cast<size_t>(total);
  luaL_Buffer b;
  char* p = luaL_buffinitsize(L, &b, totallen);
  for (lua_Integer i = 1; i < n; i++) {
    std::memcpy(p, s, l);
    p += l;
    if (lsep > 0) {
      std::memcpy(p, sep, lsep);
      p += lsep;
    }
  }
  std::memcpy(p, s, l);
  luaL_pushresultsize(&b, totallen);
  return 1;
}

// ---- table ----------------------------------------------------------------------

// The number of elements in i..j (0 when empty), saturated.
int64_t RangeCount(lua_Integer i, lua_Integer j) {
  if (i > j) return 0;
  lua_Unsigned n = static_cast<lua_Unsigned>(j) - static_cast<lua_Unsigned>(i) + 1u;
  return n == 0 || n > static_cast<lua_Unsigned>(LUA_MAXINTEGER) ? LUA_MAXINTEGER
                                                                 : static_cast<int64_t>(n);
}

// table.insert, remove and move are reimplemented (same checks and messages
// as Lua's) so that the length is read once, the moved range charged before
// the loop, and a __len that lies cannot stretch the work.
int SafeInsert(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer e = luaL_len(L, 1);
  if (e == LUA_MAXINTEGER) return luaL_error(L, "wrap around in 'insert'");
  e = e + 1;  // first empty element
  lua_Integer pos = e;
  switch (lua_gettop(L)) {
    case 2: break;
    case 3: {
      pos = luaL_checkinteger(L, 2);
      luaL_argcheck(L, static_cast<lua_Unsigned>(pos) - 1u < static_cast<lua_Unsigned>(e), 2,
                    "position out of bounds");
      ChargeBudget(L, RangeCount(pos, e - 1));  // the elements shifted up
      for (lua_Integer i = e; i > pos; i--) {
        lua_geti(L, 1, i - 1);
        lua_seti(L, 1, i);
      }
      break;
    }
    default: return luaL_error(L, "wrong number of arguments to 'insert'");
  }
  lua_seti(L, 1, pos);
  return 0;
}

int SafeRemove(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer size = luaL_len(L, 1);
  lua_Integer pos = luaL_optinteger(L, 2, size);
  if (pos != size) {
    luaL_argcheck(L, static_cast<lua_Unsigned>(pos) - 1u <= static_cast<lua_Unsigned>(size), 2,
                  "position out of bounds");
  }
  if (pos < size) ChargeBudget(L, RangeCount(pos, size - 1));
  lua_geti(L, 1, pos);  // result = t[pos]
  for (; pos < size; pos++) {
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);
  }
  lua_pushnil(L);
  lua_seti(L, 1, pos);
  return 1;
}

int SafeMove(lua_State* L) {
  lua_Integer f = luaL_checkinteger(L, 2);
  lua_Integer e = luaL_checkinteger(L, 3);
  lua_Integer t = luaL_checkinteger(L, 4);
  int tt = !lua_isnoneornil(L, 5) ? 5 : 1;  // destination table
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, tt, LUA_TTABLE);
  if (e >= f) {
    luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
    lua_Integer n = e - f + 1;
    luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
    ChargeBudget(L, n);
    if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
      for (lua_Integer i = 0; i < n; i++) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    } else {
      for (lua_Integer i = n - 1; i >= 0; i--) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    }
  }
  lua_pushvalue(L, tt);
  return 1;
}

// table.concat and table.unpack: the range is resolved once (one __len call)
// and charged before the loop.
int SafeConcat(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  size_t lsep = 0;
  const char* sep = luaL_optlstring(L, 2, "", &lsep);
  lua_Integer i = luaL_optinteger(L, 3, 1);
  lua_Integer last = lua_isnoneornil(L, 4) ? luaL_len(L, 1) : luaL_checkinteger(L, 4);
  ChargeBudget(L, RangeCount(i, last));
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (; i <= last; i++) {
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1)) {
      return luaL_error(L, "invalid value (at index %I) in table for 'concat'",
                        static_cast<LUAI_UACINT>(i));
    }
    luaL_addvalue(&b);
    if (i == last) break;  // also avoids overflow at math.maxinteger
    luaL_addlstring(&b, sep, lsep);
  }
  luaL_pushresult(&b);
  return 1;
}

int SafeUnpack(lua_State* L) {
  lua_Integer i = luaL_optinteger(L, 2, 1);
  lua_Integer e = lua_isnoneornil(L, 3) ? luaL_len(L, 1) : luaL_checkinteger(L, 3);
  if (i > e) return 0;
  lua_Unsigned n = static_cast<lua_Unsigned>(e) - static_cast<lua_Unsigned>(i);
  if (n >= static_cast<unsigned int>(INT_MAX) || !lua_checkstack(L, static_cast<int>(++n))) {
    return luaL_error(L, "too many results to unpack");
  }
  ChargeBudget(L, static_cast<int64_t>(n));
  for (; i < e; i++) lua_geti(L, 1, i);
  lua_geti(L, 1, e);
  return static_cast<int>(n);
}

// A C comparison function runs no VM instructions: charge each call.
int ChargedCompare(lua_State* L) {
  ChargeBudget(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

// table.sort: n·⌈log2 n⌉ is charged up front. Lua's sort reads the length and
// the elements itself, so tables whose length or elements come from
// metamethods are refused (their cost could not be bounded).
int SafeSort(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_getmetatable(L, 1)) {
    for (const char* key : {"__len", "__index", "__newindex"}) {
      lua_pushstring(L, key);
      bool present = lua_rawget(L, -2) != LUA_TNIL;
      lua_pop(L, 1);
      if (present) {
        return luaL_error(L,
                          "table.sort: tables with a %s metamethod cannot be sorted in sluice "
                          "functions",
                          key);
      }
    }
    lua_pop(L, 1);
  }
  lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, 1));
  int64_t log2 = 1;
  while (log2 < 63 && (int64_t{1} << log2) < n) ++log2;
  ChargeBudget(L, n > LUA_MAXINTEGER / log2 ? LUA_MAXINTEGER : n * log2);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (lua_iscfunction(L, 2)) {
      lua_pushvalue(L, 2);
      lua_pushcclosure(L, ChargedCompare, 1);
      lua_replace(L, 2);
    }
  }
  lua_settop(L, 2);
  CallOriginal(L, 0);
  return 0;
}

// Replaces field `name` of the table at `table` with `fn`, the original as
// its upvalue (when `wrap_original`).
void Replace(lua_State* L, int table, const char* name, lua_CFunction fn, bool wrap_original) {
  if (wrap_original) {
    lua_getfield(L, table, name);
    lua_pushcclosure(L, fn, 1);
  } else {
    lua_pushcfunction(L, fn);
  }
  lua_setfield(L, table, name);
}

int DestroyOwnedString(lua_State* L) {
  auto* s = static_cast<std::string*>(luaL_checkudata(L, 1, kOwnedStringMeta));
  s->~basic_string();
  return 0;
}

}  // namespace

std::string* NewOwnedString(lua_State* L) {
  void* mem = lua_newuserdatauv(L, sizeof(std::string), 0);
  auto* s = new (mem) std::string();  // no allocation: cannot throw
  luaL_setmetatable(L, kOwnedStringMeta);
  return s;
}

void InstallSafeLibrary(lua_State* L, int base, int string_lib, int table_lib) {
  base = lua_absindex(L, base);
  string_lib = lua_absindex(L, string_lib);
  table_lib = lua_absindex(L, table_lib);

  luaL_newmetatable(L, kOwnedStringMeta);
  lua_pushcfunction(L, DestroyOwnedString);
  lua_setfield(L, -2, "__gc");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  Replace(L, base, "setmetatable", SafeSetMetatable, false);
  Replace(L, base, "xpcall", SafeXpcall, false);

  Replace(L, string_lib, "rep", SafeRep, false);
  Replace(L, string_lib, "find", PatternFind, false);
  Replace(L, string_lib, "match", PatternMatch, false);
  Replace(L, string_lib, "gmatch", PatternGmatch, false);
  Replace(L, string_lib, "gsub", PatternGsub, false);

  Replace(L, table_lib, "insert", SafeInsert, false);
  Replace(L, table_lib, "remove", SafeRemove, false);
  Replace(L, table_lib, "move", SafeMove, false);
  Replace(L, table_lib, "concat", SafeConcat, false);
  Replace(L, table_lib, "unpack", SafeUnpack, false);
  Replace(L, table_lib, "sort", SafeSort, true);
}

}  // namespace sluice::functions::internal
