// Sandbox replacements for standard library functions (internal to
// functions/; see docs/functions.md, "Sandbox and limits").
//
// Why: the instruction budget is enforced by a count hook, which sees only VM
// instructions. A C library function that loops (string.rep on "", a
// pathological pattern, table.move over a huge range) or that makes Lua run
// code with hooks off (__gc finalizers, __close in a dead coroutine, the
// message handler of xpcall after a budget error) would run unbounded. The
// replacements here charge their C work to the same budget, or refuse the
// construct, so every call ends within its budget.
//
// Every function here may raise a Lua error (a longjmp): none keeps a C++
// object with a destructor alive across a Lua API call that can raise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <lua.hpp>
#include <string>

namespace sluice::functions::internal {

// ---- provided by runtime.cc -------------------------------------------------

// Charges `instructions` of C work to the running call's budget. When the
// budget runs out, raises the budget error ("<where>: exceeded the instruction
// budget of N instructions") and keeps failing until the call ends.
void ChargeBudget(lua_State* L, int64_t instructions);
// True once the running call's budget is spent.
bool BudgetExhausted(lua_State* L);
// The runtime's Lua heap limit in bytes.
size_t MemoryLimit(lua_State* L);

// ---- sandbox_lib.cc ---------------------------------------------------------

// Replaces, in the real `string` and `table` library tables (stack indexes
// `string_lib`, `table_lib`) and in the base environment `base`:
//   setmetatable  refuses metatables with a __gc or __close key
//   xpcall        runs the message handler as a normal, budgeted call, and not
//                 at all once the budget is spent
//   string.rep, find, match, gmatch, gsub           charged (see pattern.cc)
//   table.insert, remove, move, concat, unpack, sort charged per element
// Call once, from SetupSandbox, before the tables are made read-only.
void InstallSafeLibrary(lua_State* L, int base, int string_lib, int table_lib);

// Pushes a userdata that owns an empty std::string and returns the string.
// The collector destroys it, so a Lua error cannot leak it. Raises a Lua
// memory error if the userdata cannot be allocated.
std::string* NewOwnedString(lua_State* L);

// ---- pattern.cc -------------------------------------------------------------

// string.find / match / gmatch / gsub with Lua 5.4's semantics, where every
// matcher step (a character tested, a backtrack, a recursion) is charged to
// the instruction budget, so no pattern can run longer than the budget.
int PatternFind(lua_State* L);
int PatternMatch(lua_State* L);
int PatternGmatch(lua_State* L);
int PatternGsub(lua_State* L);

}  // namespace sluice::functions::internal
