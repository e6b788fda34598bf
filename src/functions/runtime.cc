#include "functions/runtime.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <unordered_map>

#include "base/encoding.h"
#include "base/log.h"
#include "functions/lua_value.h"
#include "functions/sandbox_lib.h"

namespace sluice::functions {
namespace {

using internal::EncodeJson;
using internal::EncodeLimits;
using internal::EncodeStatus;
using internal::PushJson;

// The count hook fires every kHookGranularity instructions and charges the
// budget; all coroutines of a call share that budget.
constexpr int kHookGranularity = 1000;

char kBaseKey;  // registry: the sandbox's base environment (read-only view)

enum class FunctionType { kFilter, kTransform, kRouting, kPath };

const char* EntryPoint(FunctionType t) {
  switch (t) {
    case FunctionType::kFilter: return "filter";
    case FunctionType::kTransform: return "transform";
    case FunctionType::kRouting: return "route";
    case FunctionType::kPath: return "";
  }
  return "";
}

std::optional<FunctionType> ParseType(const std::string& type) {
  if (type == "filter") return FunctionType::kFilter;
  if (type == "transform") return FunctionType::kTransform;
  if (type == "routing") return FunctionType::kRouting;
  if (type == "path") return FunctionType::kPath;
  return std::nullopt;
}

// A literal, not a std::string: RunChunk passes it to luaL_error, whose
// longjmp would skip a temporary's destructor.
const char* Signature(FunctionType t) {
  switch (t) {
    case FunctionType::kFilter:
      return "function filter(action, record, changes, metadata)\n"
             "  return record.status ~= \"draft\"\n"
             "end";
    case FunctionType::kTransform:
      return "function transform(action, record, changes, metadata)\n"
             "  return { id = record.id, action = action }\n"
             "end";
    case FunctionType::kRouting:
      return "function route(action, record, changes, metadata)\n"
             "  return { stream_arn = sluice.stream_arn(record.type .. \"-events\") }\n"
             "end";
    case FunctionType::kPath: return "";
  }
  return "";
}

bool LooksLikeElixir(const std::string& code) {
  if (code.find("%{") != std::string::npos || code.find("|>") != std::string::npos ||
      code.find("defmodule") != std::string::npos) {
    return true;
  }
  // `def name(args) do` at the start of a line.
  size_t pos = 0;
  while ((pos = code.find("def ", pos)) != std::string::npos) {
    bool line_start =
        pos == 0 || code[pos - 1] == '\n' || code[pos - 1] == ' ' || code[pos - 1] == '\t';
    size_t eol = code.find('\n', pos);
    std::string line = code.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (line_start && line.size() >= 3 && line.compare(line.size() - 3, 3, " do") == 0) return true;
    pos += 4;
  }
  return false;
}

struct Compiled {
  FunctionType type;
  std::string name;
  std::string label;  // "function 'x' (filter)"
  std::string path;
  int func_ref = LUA_NOREF;
};

}  // namespace

struct FunctionRuntime::Impl {
  std::vector<config::FunctionSettings> settings;
  RuntimeOptions options;
  std::optional<config::StreamArn> default_stream;

  lua_State* L = nullptr;
  size_t mem_used = 0;
  size_t mem_limit = 0;
  std::unordered_map<std::string, Compiled> functions;

  // Per call.
  int64_t budget_left = 0;
  bool budget_exhausted = false;
  const Compiled* current = nullptr;

  ~Impl() { Close(); }
  void Close() {
    if (L != nullptr) lua_close(L);
    L = nullptr;
    functions.clear();
  }

  Status Build();
  Status CompileOne(const config::FunctionSettings& fs);
  Result<const Compiled*> Find(const std::string& name, FunctionType want) const;

  enum class Kind { kFilter, kRoute, kTransform };
  struct CallCtx {
    CallCtx(Impl* i, const Compiled* f, std::string_view j, Kind k)
        : impl(i), fn(f), json(j), kind(k) {}
    Impl* impl;
    const Compiled* fn;
    std::string_view json;
    Kind kind;
    bool keep = false;
    bool route_nil = false;
    std::string out;  // transform data, or the route's stream_arn
    std::string error;
    bool out_of_memory = false;  // a C++ allocation failed during the call
  };
  Status Call(CallCtx* ctx);
  void ArmHook();
  void DisarmHook() { lua_sethook(L, nullptr, 0, 0); }
};

namespace {

FunctionRuntime::Impl* ImplOf(lua_State* L) {
  return *static_cast<FunctionRuntime::Impl**>(lua_getextraspace(L));
}

void* Alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* impl = static_cast<FunctionRuntime::Impl*>(ud);
  size_t old = ptr != nullptr ? osize : 0;
  if (nsize == 0) {
    impl->mem_used -= old;
    std::free(ptr);
    return nullptr;
  }
  if (nsize > old && impl->mem_used + (nsize - old) > impl->mem_limit) return nullptr;
  void* p = std::realloc(ptr, nsize);
  if (p == nullptr) return nullptr;
  impl->mem_used = impl->mem_used - old + nsize;
  return p;
}

void Hook(lua_State* L, lua_Debug* ar);

// Marks the budget spent and raises the budget error; the position (on the
// stack) is prepended. From now on every instruction of this thread fails
// too, so pcall() in the script cannot swallow the error and carry on.
int RaiseBudgetError(lua_State* L) {
  FunctionRuntime::Impl* impl = ImplOf(L);
  impl->budget_exhausted = true;
  lua_sethook(L, Hook, LUA_MASKCOUNT, 1);
  // In a coroutine: the main thread (which may catch the coroutine's error)
  // must fail at its next instruction too.
  if (impl->L != L) lua_sethook(impl->L, Hook, LUA_MASKCOUNT, 1);
  lua_pushfstring(L, "exceeded the instruction budget of %I instructions",
                  static_cast<lua_Integer>(impl->options.limits.instructions_per_call));
  lua_concat(L, 2);
  return lua_error(L);
}

void Hook(lua_State* L, lua_Debug* ar) {
  FunctionRuntime::Impl* impl = ImplOf(L);
  int step = lua_gethookcount(L);
  impl->budget_left -= step;
  if (impl->budget_left > 0 && !impl->budget_exhausted) {
    // A coroutine left at a count of 1 by an earlier, exhausted call.
    if (step != kHookGranularity) lua_sethook(L, Hook, LUA_MASKCOUNT, kHookGranularity);
    return;
  }
  lua_getinfo(L, "Sl", ar);
  if (ar->currentline > 0) {
    lua_pushfstring(L, "%s:%d: ", ar->short_src, ar->currentline);
  } else {
    lua_pushliteral(L, "");
  }
  RaiseBudgetError(L);
}

// ---- sandbox library ---------------------------------------------------------

int ReadOnlyNewIndex(lua_State* L) {
  const char* key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
  return luaL_error(L, "cannot assign '%s': library tables are read-only", key);
}
int GlobalNewIndex(lua_State* L) {
  const char* key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
  return luaL_error(L,
                    "cannot assign global '%s' while handling a message (globals are read-only; "
                    "use a local)",
                    key);
}
// next() over the real table (upvalue 1) of a read-only proxy; called as
// iter(proxy, key), so the real table never reaches the script.
int ProxyNext(lua_State* L) {
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 2);
  if (lua_next(L, 3) != 0) return 2;
  lua_pushnil(L);
  return 1;
}
// __pairs of a read-only proxy: (iterator, proxy, nil).
int ProxyPairs(lua_State* L) {
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "__index");
  lua_pushcclosure(L, ProxyNext, 1);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

// Replaces the table on top with a read-only proxy of it.
void MakeReadOnly(lua_State* L) {
  lua_newtable(L);  // proxy
  lua_newtable(L);  // its metatable
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ReadOnlyNewIndex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, ProxyPairs);
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_remove(L, -2);
}

int SafeToNumber(lua_State* L) {
  size_t len = 0;
  if (internal::ToDecimal(L, 1, &len) != nullptr) {
    if (lua_stringtonumber(L, internal::ToDecimal(L, 1, &len)) == 0) lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

int SafeCollectGarbage(lua_State* L) {
  const char* opt = luaL_optstring(L, 1, "collect");
  if (std::strcmp(opt, "count") != 0) {
    return luaL_error(L, "collectgarbage(\"%s\") is not available in sluice functions", opt);
  }
  lua_pushnumber(L, lua_gc(L, LUA_GCCOUNT, 0) + lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0);
  return 1;
}

int LogPrint(lua_State* L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, nullptr);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  FunctionRuntime::Impl* impl = ImplOf(L);
  try {
    SLUICE_LOG_DEBUG("function '{}' printed: {}", impl->current ? impl->current->name : "?",
                     lua_tostring(L, -1));
  } catch (const std::exception&) {
    // Logging is best effort; no C++ exception may cross Lua's C frames.
  }
  return 0;
}

// The helpers below keep C++ strings in NewOwnedString userdata: a Lua
// error (a longjmp) skips C++ destructors, and the collector frees those.
// C++ exceptions are caught before any Lua API call that could raise.

int JsonEncode(lua_State* L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  FunctionRuntime::Impl* impl = ImplOf(L);
  std::string* out = internal::NewOwnedString(L);
  std::string* error = internal::NewOwnedString(L);
  EncodeLimits limits{&impl->budget_left, impl->options.limits.instructions_per_call,
                      impl->mem_limit};
  switch (EncodeJson(L, 1, limits, out, error)) {
    case EncodeStatus::kOk: lua_pushlstring(L, out->data(), out->size()); return 1;
    case EncodeStatus::kOverBudget: internal::ChargeBudget(L, 1); break;  // raises
    case EncodeStatus::kInvalid:
    case EncodeStatus::kTooLarge: break;
  }
  return luaL_error(L, "sluice.json_encode: %s", error->c_str());
}

int JsonDecode(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  std::string* error = internal::NewOwnedString(L);
  bool ok = false;
  try {
    ok = PushJson(L, std::string_view(s, len), error);
  } catch (const std::exception&) {
    error->clear();
  }
  if (ok) return 1;
  return luaL_error(L, "sluice.json_decode: %s", error->empty() ? "out of memory" : error->c_str());
}

int B64Encode(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  std::string* out = internal::NewOwnedString(L);
  bool ok = true;
  try {
    Base64Append(std::string_view(s, len), out);
  } catch (const std::exception&) {
    ok = false;
  }
  if (!ok) return luaL_error(L, "sluice.base64_encode: out of memory");
  lua_pushlstring(L, out->data(), out->size());
  return 1;
}

int B64Decode(lua_State* L) {
  size_t len = 0;
  const char* s = luaL_checklstring(L, 1, &len);
  std::string* out = internal::NewOwnedString(L);
  enum { kOk, kInvalid, kNoMemory } result = kOk;
  try {
    std::optional<std::string> decoded = Base64Decode(std::string_view(s, len));
    if (decoded) {
      *out = std::move(*decoded);
    } else {
      result = kInvalid;
    }
  } catch (const std::exception&) {
    result = kNoMemory;
  }
  if (result == kInvalid) {
    return luaL_error(L, "sluice.base64_decode: the argument is not valid base64");
  }
  if (result == kNoMemory) return luaL_error(L, "sluice.base64_decode: out of memory");
  lua_pushlstring(L, out->data(), out->size());
  return 1;
}

int MarkAs(lua_State* L, bool array) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  if (array) {
    internal::PushArrayMarker(L);
  } else {
    internal::PushObjectMarker(L);
  }
  lua_setmetatable(L, 1);
  return 1;
}
int MarkArray(lua_State* L) { return MarkAs(L, true); }
int MarkObject(lua_State* L) { return MarkAs(L, false); }

int MakeDecimal(lua_State* L) {
  size_t len = 0;
  if (internal::ToDecimal(L, 1, &len) != nullptr) {
    lua_settop(L, 1);
    return 1;
  }
  if (lua_type(L, 1) == LUA_TNUMBER) {
    lua_settop(L, 1);
    lua_pushvalue(L, 1);
    lua_tostring(L, -1);  // converts the copy
  }
  const char* text = luaL_checklstring(L, lua_gettop(L), &len);
  if (!internal::IsJsonNumber(std::string_view(text, len))) {
    return luaL_error(L, "sluice.decimal: '%s' is not a number", text);
  }
  internal::PushDecimal(L, std::string_view(text, len));
  return 1;
}

int MakeStreamArn(lua_State* L) {
  FunctionRuntime::Impl* impl = ImplOf(L);
  const char* name = luaL_checkstring(L, 1);
  const config::StreamArn* def = impl->default_stream ? &*impl->default_stream : nullptr;
  const char* region = luaL_optstring(L, 2, def ? def->region.c_str() : nullptr);
  const char* account = luaL_optstring(L, 3, def ? def->account.c_str() : nullptr);
  const char* partition = def ? def->partition.c_str() : "aws";
  if (region == nullptr || account == nullptr) {
    return luaL_error(L,
                      "sluice.stream_arn: no default region/account (the sink has no stream "
                      "ARN); pass them: sluice.stream_arn(name, region, account)");
  }
  lua_pushfstring(L, "arn:%s:kinesis:%s:%s:stream/%s", partition, region, account, name);
  const char* arn = lua_tostring(L, -1);
  std::string* why = internal::NewOwnedString(L);
  bool ok = false;
  try {
    ok = config::StreamArn::Parse(arn, why).has_value();
  } catch (const std::exception&) {
    why->clear();
  }
  if (!ok)
    return luaL_error(L, "sluice.stream_arn: %s", why->empty() ? "out of memory" : why->c_str());
  lua_pop(L, 1);
  return 1;
}

// Builds the state's libraries and the read-only base environment.
int SetupSandbox(lua_State* L) {
  const struct {
    const char* name;
    lua_CFunction open;
  } libs[] = {{"_G", luaopen_base},
              {"string", luaopen_string},
              {"table", luaopen_table},
              {"math", luaopen_math},
              {"utf8", luaopen_utf8},
              {"os", luaopen_os},
              {"coroutine", luaopen_coroutine}};
  for (const auto& lib : libs) {
    luaL_requiref(L, lib.name, lib.open, 0);
    lua_pop(L, 1);
  }
  internal::RegisterValueTypes(L);

  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  int loaded = lua_gettop(L);
  lua_getfield(L, loaded, "_G");
  int g = lua_gettop(L);

  // The string table the string metatable points to loses dump; the
  // metatable itself is hidden from getmetatable("").
  lua_getfield(L, loaded, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);

  lua_newtable(L);  // base environment
  int base = lua_gettop(L);
  for (const char* fn :
       {"assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select", "tostring",
        "type", "rawequal", "rawlen", "rawget", "setmetatable", "getmetatable", "_VERSION"}) {
    lua_getfield(L, g, fn);
    lua_setfield(L, base, fn);
  }
  lua_getfield(L, g, "tonumber");
  lua_pushcclosure(L, SafeToNumber, 1);
  lua_setfield(L, base, "tonumber");
  lua_pushcfunction(L, SafeCollectGarbage);
  lua_setfield(L, base, "collectgarbage");
  lua_pushcfunction(L, LogPrint);
  lua_setfield(L, base, "print");

  lua_getfield(L, loaded, "string");
  lua_getfield(L, loaded, "table");
  internal::InstallSafeLibrary(L, base, -2, -1);
  lua_pop(L, 2);

  for (const char* lib : {"string", "table", "math", "utf8", "coroutine"}) {
    lua_getfield(L, loaded, lib);
    MakeReadOnly(L);
    lua_setfield(L, base, lib);
  }
  lua_newtable(L);
  lua_getfield(L, loaded, "os");
  for (const char* fn : {"time", "date", "clock", "difftime"}) {
    lua_getfield(L, -1, fn);
    lua_setfield(L, -3, fn);
  }
  lua_pop(L, 1);
  MakeReadOnly(L);
  lua_setfield(L, base, "os");

  const luaL_Reg helpers[] = {
      {"json_encode", JsonEncode},  {"json_decode", JsonDecode},   {"base64_encode", B64Encode},
      {"base64_decode", B64Decode}, {"array", MarkArray},          {"object", MarkObject},
      {"decimal", MakeDecimal},     {"stream_arn", MakeStreamArn}, {nullptr, nullptr}};
  luaL_newlib(L, helpers);
  internal::PushNull(L);
  lua_setfield(L, -2, "null");
  MakeReadOnly(L);
  lua_setfield(L, base, "sluice");

  lua_pushvalue(L, base);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kBaseKey);

  // Nothing reaches the full global table; drop it anyway.
  lua_newtable(L);
  lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_pushnil(L);
  lua_setfield(L, loaded, "_G");
  return 0;
}

struct CompileCtx {
  const config::FunctionSettings* settings;
  FunctionType type;
  int func_ref = LUA_NOREF;
};

// Stack: 1 = the loaded chunk. Runs it in a fresh environment, checks the
// entry point and freezes the environment.
int RunChunk(lua_State* L) {
  auto* ctx = static_cast<CompileCtx*>(lua_touserdata(L, 2));
  lua_settop(L, 1);
  lua_newtable(L);  // 2: env
  lua_newtable(L);  // 3: its metatable while the chunk runs
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kBaseKey);
  lua_setfield(L, 3, "__index");
  lua_pushboolean(L, 0);  // hides the shared base environment
  lua_setfield(L, 3, "__metatable");
  lua_setmetatable(L, 2);
  lua_pushvalue(L, 2);
  lua_setupvalue(L, 1, 1);
  lua_pushvalue(L, 1);
  lua_call(L, 0, 0);
  internal::ChargeBudget(L, 0);  // a budget spent in a caught coroutine

  const char* entry = EntryPoint(ctx->type);
  lua_getfield(L, 2, entry);
  if (lua_type(L, -1) != LUA_TFUNCTION) {
    return luaL_error(L, "the code must define a global function `%s`; for example:\n%s", entry,
                      Signature(ctx->type));
  }
  ctx->func_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  // Freeze: move the script's globals over a copy of the base into a new
  // table that the (now empty) environment reads through.
  lua_newtable(L);  // 3: frozen globals
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kBaseKey);
  lua_pushnil(L);
  while (lua_next(L, 4) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, 3);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, 3);
  }
  lua_pushnil(L);
  while (lua_next(L, 2) != 0) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, 2);  // clearing existing fields during traversal is allowed
  }
  lua_newtable(L);
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, GlobalNewIndex);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, 2);
  return 0;
}

// Converts the function's result (on top) into ctx. Raises no Lua error.
void ConvertResult(lua_State* L, FunctionRuntime::Impl::CallCtx* ctx) {
  using Kind = FunctionRuntime::Impl::Kind;
  FunctionRuntime::Impl* impl = ctx->impl;
  switch (ctx->kind) {
    case Kind::kFilter:
      if (!lua_isboolean(L, -1)) {
        ctx->error = std::string("filter must return true or false, got ") + luaL_typename(L, -1);
        return;
      }
      ctx->keep = lua_toboolean(L, -1);
      return;
    case Kind::kRoute: {
      if (lua_isnil(L, -1)) {
        ctx->route_nil = true;
        return;
      }
      if (!lua_istable(L, -1)) {
        ctx->error = std::string("route must return {stream_arn = \"...\"} or nil, got a ") +
                     luaL_typename(L, -1);
        return;
      }
      lua_pushliteral(L, "stream_arn");
      lua_rawget(L, -2);
      if (lua_type(L, -1) != LUA_TSTRING) {
        ctx->error = std::string("route returned a table whose stream_arn is ") +
                     luaL_typename(L, -1) + ", not a string";
        return;
      }
      size_t len = 0;
      const char* s = lua_tolstring(L, -1, &len);
      ctx->out.assign(s, len);
      return;
    }
    case Kind::kTransform: {
      if (lua_isnil(L, -1)) {
        ctx->error = "transform returned nil (return sluice.null for a JSON null)";
        return;
      }
      EncodeLimits limits{&impl->budget_left, impl->options.limits.instructions_per_call,
                          impl->mem_limit};
      switch (EncodeJson(L, -1, limits, &ctx->out, &ctx->error)) {
        case EncodeStatus::kOk: return;
        case EncodeStatus::kInvalid:
          ctx->error = "transform returned a value that is not JSON: " + ctx->error;
          return;
        case EncodeStatus::kOverBudget: impl->budget_exhausted = true; [[fallthrough]];
        case EncodeStatus::kTooLarge: ctx->error = "transform result: " + ctx->error; return;
      }
      return;
    }
  }
}

// Pushes the message fields and calls the function; converts the result.
// C++ exceptions stop here (ctx->out_of_memory): none may cross Lua's frames.
int CallTrampoline(lua_State* L) {
  auto* ctx = static_cast<FunctionRuntime::Impl::CallCtx*>(lua_touserdata(L, 1));
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->fn->func_ref);  // 1
  bool pushed = false;
  try {
    pushed = PushJson(L, ctx->json, &ctx->error);  // 2
    if (pushed && lua_type(L, 2) != LUA_TTABLE) {
      ctx->error = "the message is not a JSON object";
      pushed = false;
    }
  } catch (const std::exception&) {
    ctx->out_of_memory = true;
  }
  if (!pushed) return 0;
  for (const char* field : {"action", "record", "changes", "metadata"}) {
    lua_getfield(L, 2, field);
  }
  lua_remove(L, 2);
  lua_call(L, 4, 1);
  // A budget spent in a coroutine whose error was caught still fails the call.
  internal::ChargeBudget(L, 0);
  ImplOf(L)->DisarmHook();
  try {
    ConvertResult(L, ctx);
  } catch (const std::exception&) {
    ctx->out_of_memory = true;
  }
  return 0;
}

}  // namespace

namespace internal {

void ChargeBudget(lua_State* L, int64_t instructions) {
  FunctionRuntime::Impl* impl = ImplOf(L);
  // Saturating: callers may charge up to math.maxinteger.
  impl->budget_left = instructions >= impl->budget_left ? 0 : impl->budget_left - instructions;
  if (impl->budget_left > 0 && !impl->budget_exhausted) return;
  luaL_where(L, 1);  // the Lua code that called the C function
  RaiseBudgetError(L);
}

bool BudgetExhausted(lua_State* L) { return ImplOf(L)->budget_exhausted; }

size_t MemoryLimit(lua_State* L) { return ImplOf(L)->mem_limit; }

}  // namespace internal

void FunctionRuntime::Impl::ArmHook() {
  budget_left = options.limits.instructions_per_call;
  budget_exhausted = false;
  lua_sethook(L, Hook, LUA_MASKCOUNT, kHookGranularity);
}

Status FunctionRuntime::Impl::Build() {
  Close();
  mem_used = 0;
  mem_limit = options.limits.memory_bytes;
  L = lua_newstate(Alloc, this);
  if (L == nullptr) return Error(ErrorCode::kInternal, "cannot create a Lua state");
  *static_cast<Impl**>(lua_getextraspace(L)) = this;
  lua_pushcfunction(L, SetupSandbox);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    std::string msg = lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown error";
    return Error(ErrorCode::kInternal, "cannot set up the Lua sandbox: " + msg);
  }
  for (const auto& fs : settings) SLUICE_RETURN_IF_ERROR(CompileOne(fs));
  lua_gc(L, LUA_GCCOLLECT);
  return OkStatus();
}

Status FunctionRuntime::Impl::CompileOne(const config::FunctionSettings& fs) {
  std::optional<FunctionType> type = ParseType(fs.type);
  std::string label = "function '" + fs.name + "' (" + fs.type + ")";
  if (!type) {
    return Error(ErrorCode::kConfig,
                 label + ": unknown type; use filter, transform, routing or path");
  }
  Compiled c{*type, fs.name, label, fs.path, LUA_NOREF};
  if (*type == FunctionType::kPath) {
    Status st = ValidatePath(fs.path);
    if (!st.ok()) return st.error().WithContext(label);
    functions[fs.name] = std::move(c);
    return OkStatus();
  }
  std::string chunkname = "=" + (fs.file.empty() ? fs.name : fs.file);
  int top = lua_gettop(L);
  int rc = luaL_loadbufferx(L, fs.code.data(), fs.code.size(), chunkname.c_str(), "t");
  if (rc != LUA_OK) {
    std::string msg = lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot load";
    lua_settop(L, top);
    if (LooksLikeElixir(fs.code)) {
      msg = "this looks like Elixir, but sluice functions are Lua 5.4. Write it as:\n" +
            std::string(Signature(*type)) + "\n(Lua said: " + msg + ")";
    }
    return Error(ErrorCode::kConfig, label + ": " + msg);
  }
  CompileCtx ctx{&fs, *type};
  lua_pushcfunction(L, RunChunk);
  lua_insert(L, -2);
  lua_pushlightuserdata(L, &ctx);
  current = &c;
  ArmHook();
  rc = lua_pcall(L, 2, 0, 0);
  DisarmHook();
  current = nullptr;
  if (rc != LUA_OK) {
    std::string msg = rc == LUA_ERRMEM      ? "exceeded the memory limit while loading"
                      : lua_tostring(L, -1) ? lua_tostring(L, -1)
                                            : "error object is not a string";
    lua_settop(L, top);
    return Error(ErrorCode::kConfig, label + ": " + msg);
  }
  c.func_ref = ctx.func_ref;
  functions[fs.name] = std::move(c);
  return OkStatus();
}

Result<const Compiled*> FunctionRuntime::Impl::Find(const std::string& name,
                                                    FunctionType want) const {
  auto it = functions.find(name);
  if (it == functions.end()) {
    return Error(ErrorCode::kNotFound, "no function named '" + name + "'");
  }
  const Compiled& c = it->second;
  bool ok = c.type == want || (want == FunctionType::kTransform && c.type == FunctionType::kPath);
  if (!ok) {
    return Error(ErrorCode::kInvalidArgument,
                 c.label + " is used as a " + EntryPoint(want) + " function");
  }
  return &c;
}

Status FunctionRuntime::Impl::Call(CallCtx* ctx) {
  if (L == nullptr) SLUICE_RETURN_IF_ERROR(Build());
  // Copied: a memory error rebuilds the state and its function table, which
  // frees *ctx->fn.
  const std::string label = ctx->fn->label;
  lua_settop(L, 0);
  lua_pushcfunction(L, CallTrampoline);
  lua_pushlightuserdata(L, ctx);
  current = ctx->fn;
  ArmHook();
  int rc = lua_pcall(L, 1, 0, 0);
  DisarmHook();
  current = nullptr;
  std::string msg;
  if (rc == LUA_ERRMEM) {
    msg = "exceeded the memory limit of " + std::to_string(options.limits.memory_bytes >> 20) +
          " MiB";
  } else if (ctx->out_of_memory) {
    msg = "out of memory";
  } else if (rc != LUA_OK) {
    msg = lua_type(L, -1) == LUA_TSTRING
              ? lua_tostring(L, -1)
              : std::string("error object is a ") + luaL_typename(L, -1) + " value";
  } else if (!ctx->error.empty()) {
    msg = ctx->error;
  }
  if (L != nullptr) lua_settop(L, 0);
  if (rc == LUA_ERRMEM) {
    // A memory error can strike anywhere; start from a clean state.
    Status st = Build();
    if (!st.ok()) Close();
  }
  if (msg.empty()) return OkStatus();
  return Error(ErrorCode::kInvalidArgument, label + ": " + msg);
}

FunctionRuntime::FunctionRuntime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FunctionRuntime::~FunctionRuntime() = default;

Result<std::unique_ptr<FunctionRuntime>> FunctionRuntime::Create(
    const std::vector<config::FunctionSettings>& functions, const RuntimeOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->settings = functions;
  impl->options = options;
  impl->default_stream = options.default_stream;
  SLUICE_RETURN_IF_ERROR(impl->Build());
  return std::unique_ptr<FunctionRuntime>(new FunctionRuntime(std::move(impl)));
}

Result<bool> FunctionRuntime::Filter(const std::string& name, std::string_view message_json) {
  SLUICE_ASSIGN_OR_RETURN(const Compiled* fn, impl_->Find(name, FunctionType::kFilter));
  Impl::CallCtx ctx{impl_.get(), fn, message_json, Impl::Kind::kFilter};
  SLUICE_RETURN_IF_ERROR(impl_->Call(&ctx));
  return ctx.keep;
}

Result<std::optional<config::StreamArn>> FunctionRuntime::Route(const std::string& name,
                                                                std::string_view message_json) {
  SLUICE_ASSIGN_OR_RETURN(const Compiled* fn, impl_->Find(name, FunctionType::kRouting));
  Impl::CallCtx ctx{impl_.get(), fn, message_json, Impl::Kind::kRoute};
  SLUICE_RETURN_IF_ERROR(impl_->Call(&ctx));
  if (ctx.route_nil) return std::optional<config::StreamArn>();
  std::string why;
  std::optional<config::StreamArn> arn = config::StreamArn::Parse(ctx.out, &why);
  if (!arn) {
    return Error(ErrorCode::kInvalidArgument,
                 fn->label + ": returned stream_arn \"" + ctx.out + "\": " + why);
  }
  return arn;
}

Result<std::string> FunctionRuntime::Transform(const std::string& name,
                                               std::string_view message_json) {
  SLUICE_ASSIGN_OR_RETURN(const Compiled* fn, impl_->Find(name, FunctionType::kTransform));
  if (fn->type == FunctionType::kPath) {
    Result<std::string> r = ApplyPath(fn->path, message_json);
    if (!r.ok()) return r.error().WithContext(fn->label);
    return r;
  }
  Impl::CallCtx ctx{impl_.get(), fn, message_json, Impl::Kind::kTransform};
  SLUICE_RETURN_IF_ERROR(impl_->Call(&ctx));
  return std::move(ctx.out);
}

Result<Applied> FunctionRuntime::Apply(const config::SinkSettings& sink,
                                       std::string_view message_json) {
  if (!sink.destination.stream.arn.empty()) impl_->default_stream = sink.destination.stream;
  Applied applied;
  if (!sink.filter.empty()) {
    SLUICE_ASSIGN_OR_RETURN(bool keep, Filter(sink.filter, message_json));
    if (!keep) {
      applied.dropped = true;
      return applied;
    }
  }
  if (!sink.routing.empty()) {
    SLUICE_ASSIGN_OR_RETURN(applied.stream, Route(sink.routing, message_json));
  }
  if (!sink.transform.empty()) {
    SLUICE_ASSIGN_OR_RETURN(applied.data, Transform(sink.transform, message_json));
  } else {
    applied.data.assign(message_json);
  }
  return applied;
}

size_t FunctionRuntime::MemoryUsed() const { return impl_->mem_used; }

}  // namespace sluice::functions
