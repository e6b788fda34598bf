// Sandbox escapes that used to hang a runtime or outlive its limits: every
// one must now end within the budget with its own error.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "functions/runtime.h"
#include "runtime_test_util.h"

namespace sluice::functions {
namespace {

// A small budget keeps every runaway below short.
Limits SmallBudget() {
  Limits limits;
  limits.instructions_per_call = 100'000;
  return limits;
}

const std::string kBudgetError = "exceeded the instruction budget of 100000 instructions";

Result<std::string> RunSmall(const std::string& body) { return RunTransform(body, SmallBudget()); }

// Compiles `code` (top-level code plus a transform) with the small budget.
Result<std::unique_ptr<FunctionRuntime>> Compile(const std::string& code) {
  RuntimeOptions options;
  options.limits = SmallBudget();
  return FunctionRuntime::Create({Fn("t", "transform", code)}, options);
}

// ---- 1. finalizers ------------------------------------------------------------

TEST(SandboxGc, GcMetamethodIsRejectedAtTopLevel) {
  auto r = Compile(
      "X = setmetatable({}, {__gc = function() while true do end end})\n"
      "function transform() return 1 end");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(
                "function 't' (transform): t:1: __gc metamethods are not allowed in sluice "
                "functions"),
            std::string::npos)
      << r.error().message();
}

TEST(SandboxGc, GcKeyWithAnyValueIsRejectedInACall) {
  ExpectError(RunSmall("local x = setmetatable({}, {__gc = false})\nreturn 1"),
              "t:2: __gc metamethods are not allowed in sluice functions");
  ExpectError(RunSmall("local mt = setmetatable({}, {__index = {__gc = print}})\n"
                       "return setmetatable({}, {__gc = 0}) and 1"),
              "t:3: __gc metamethods are not allowed in sluice functions");
}

TEST(SandboxGc, GcAddedAfterSetmetatableIsNeverCalled) {
  // Lua marks an object for finalization only when its metatable has __gc at
  // setmetatable time; adding it later must not make the runtime hang when
  // the table is collected (at the full collection after loading, at close).
  auto r = Compile(
      "local mt = {}\nX = setmetatable({}, mt)\nmt.__gc = function() while true do end end\n"
      "X = nil\nfunction transform() return 1 end");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*(*r)->Transform("t", kMessage), "1");
}

TEST(SandboxGc, CloseMetamethodIsRejected) {
  // A coroutine that dies from the budget error keeps its hooks off, and
  // coroutine.wrap then runs its pending __close handlers unbounded.
  ExpectError(RunSmall("local co = coroutine.wrap(function()\n"
                       "  local x <close> = setmetatable({}, {__close = function() while true "
                       "do end end})\n"
                       "  while true do end\nend)\nco()"),
              "t:3: __close metamethods are not allowed in sluice functions");
}

TEST(SandboxGc, OrdinaryMetatablesStillWork) {
  EXPECT_EQ(TransformOk("local v = setmetatable({}, {__index = function(_, k) return k .. '!' "
                        "end})\nreturn v.x"),
            R"("x!")");
  EXPECT_EQ(TransformOk("local t = setmetatable({}, {}); return getmetatable(setmetatable(t, "
                        "nil)) == nil"),
            "true");
}

// ---- 2. xpcall and pcall ---------------------------------------------------------

TEST(SandboxXpcall, HandlerThatLoopsCannotOutliveTheBudget) {
  ExpectError(RunSmall("return xpcall(function() while true do end end,\n"
                       "              function() while true do end end)"),
              kBudgetError);
}

TEST(SandboxXpcall, HandlerOfAnOrdinaryErrorRunsBudgeted) {
  ExpectError(RunSmall("return xpcall(function() error('boom') end,\n"
                       "              function() while true do end end)"),
              "t:3: " + kBudgetError);
}

TEST(SandboxXpcall, KeepsItsResults) {
  EXPECT_EQ(TransformOk("return sluice.array{xpcall(function() error('boom') end,\n"
                        "  function(e) return 'handled ' .. e end)}"),
            R"([false,"handled t:2: boom"])");
  EXPECT_EQ(TransformOk("return sluice.array{xpcall(function(a, b) return a + b, 'x' end, print, "
                        "2, 3)}"),
            R"([true,5,"x"])");
  EXPECT_EQ(TransformOk("return sluice.array{xpcall(error, function(e) error('again', 0) end, "
                        "'first', 0)}"),
            R"([false,"again"])");
  EXPECT_EQ(TransformOk("local co = coroutine.wrap(function()\n"
                        "  return xpcall(function() coroutine.yield(1) return 2 end, print)\n"
                        "end)\nreturn sluice.array{co(), co()}"),
            R"([1,true,2])");
}

TEST(SandboxXpcall, PcallAndErrorCannotSwallowASpentBudget) {
  // pcall returns, and the next instruction fails.
  ExpectError(RunSmall("local ok, e = pcall(function() while true do end end)\nreturn e"),
              "t:3: " + kBudgetError);
  ExpectError(RunSmall("local ok, e = xpcall(function() while true do end end, function(e) "
                       "return e end)\nreturn 'survived'"),
              kBudgetError);
  ExpectError(RunSmall("for i = 1, 1e9 do pcall(error, 'x') end"), kBudgetError);
  ExpectError(RunSmall("pcall(function() while true do end end)\n"
                       "local ok = pcall(error, 'x')\nreturn ok"),
              kBudgetError);
}

TEST(SandboxXpcall, BudgetSpentInACaughtCoroutineFailsTheCall) {
  ExpectError(RunSmall("pcall(coroutine.wrap(function() while true do end end))\n"
                       "return 'survived'"),
              kBudgetError);
  ExpectError(RunSmall("local co = coroutine.create(function() while true do end end)\n"
                       "local ok = coroutine.resume(co)\nreturn 'survived'"),
              kBudgetError);
}

// ---- 3. C library loops --------------------------------------------------------

TEST(SandboxCLoops, StringRepIsChargedAndCapped) {
  ExpectError(RunSmall("return string.rep('', math.maxinteger)"), "t:2: " + kBudgetError);
  ExpectError(RunSmall("return ('x'):rep(math.maxinteger, ',')"),
              "t:2: string.rep: the result would be larger than the memory limit of 32 MiB");
  ExpectError(RunSmall("return ('x'):rep(1 << 40)"), "larger than the memory limit of 32 MiB");
  EXPECT_EQ(TransformOk("return sluice.array{('ab'):rep(3, ','), ('x'):rep(0), (''):rep(5), "
                        "('x'):rep(-1)}"),
            R"(["ab,ab,ab","","",""])");
}

TEST(SandboxCLoops, TableMoveInsertRemoveAreCharged) {
  ExpectError(RunSmall("return table.move({}, 1, math.maxinteger - 1, 1)"), "t:2: " + kBudgetError);
  ExpectError(RunSmall("local t = setmetatable({}, {__len = function() return math.maxinteger - 1 "
                       "end})\ntable.insert(t, 1, 'x')"),
              "t:3: " + kBudgetError);
  ExpectError(RunSmall("local t = setmetatable({}, {__len = function() return math.maxinteger - 1 "
                       "end})\ntable.remove(t, 1)"),
              "t:3: " + kBudgetError);
  ExpectError(RunSmall("table.insert({}, 5, 'x')"),
              "t:2: bad argument #2 to 'insert' (position out of bounds)");
  ExpectError(RunSmall("table.move({}, math.mininteger, 1, 1)"),
              "bad argument #3 to 'move' (too many elements to move)");
}

TEST(SandboxCLoops, TableConcatUnpackSortAreCharged) {
  // A C function as __index runs no VM instruction per element.
  ExpectError(RunSmall("local t = setmetatable({}, {__index = table.concat})\n"
                       "return table.concat(t, '', 1, math.maxinteger)"),
              "t:3: " + kBudgetError);
  ExpectError(RunSmall("return table.unpack({}, 1, 5e5)"), "t:2: " + kBudgetError);
  ExpectError(RunSmall("return table.unpack({}, 1, math.maxinteger)"),
              "t:2: too many results to unpack");
  ExpectError(RunSmall("local t = setmetatable({}, {__len = function() return 2^31 - 2 end,\n"
                       "  __index = rawlen, __newindex = rawequal})\ntable.sort(t)"),
              "t:4: table.sort: tables with a __len metamethod cannot be sorted");
  // n·log2(n) = 65,000 per sort of 5000 elements: the second one is over.
  ExpectError(RunSmall("local t = {}\nfor i = 1, 5000 do t[i] = -i end\n"
                       "table.sort(t)\ntable.sort(t)"),
              "t:5: " + kBudgetError);
  ExpectError(RunSmall("return table.concat({1, {}, 3})"),
              "t:2: invalid value (at index 2) in table for 'concat'");
}

TEST(SandboxCLoops, TableFunctionsKeepTheirResults) {
  EXPECT_EQ(TransformOk("local t = {1, 2, 3}\ntable.insert(t, 'e'); table.insert(t, 1, 'b')\n"
                        "local r = table.remove(t, 2); local last = table.remove(t)\n"
                        "table.move(t, 1, 2, 4)\n"
                        "local s = {5, 3, 9, 1}; table.sort(s); table.sort(s, function(a, b) "
                        "return a > b end)\n"
                        "return sluice.array{table.concat(t, ','), r, last, table.concat(s, ' "
                        "'), select('#', table.unpack(s)), table.concat({}, 'x'), "
                        "table.concat({1, 'a', 2.5}, '-', 2, 3)}"),
            R"(["b,2,3,b,2",1,"e","9 5 3 1",4,"","a-2.5"])");
}

TEST(SandboxCLoops, PathologicalPatternsAreCharged) {
  const std::string subject = "local s = ('a'):rep(3000)\n";
  ExpectError(RunSmall(subject + "return s:find('.-.-.-.-.-.-.-b')"), "t:3: " + kBudgetError);
  ExpectError(RunSmall(subject + "return s:match('(.*)(.*)(.*)(.*)b')"), "t:3: " + kBudgetError);
  ExpectError(RunSmall(subject + "return s:gsub('a*a*a*a*b', 'x')"), "t:3: " + kBudgetError);
  ExpectError(RunSmall(subject + "for m in s:gmatch('.-.-.-b') do end"), "t:3: " + kBudgetError);
  // Plain find is charged per candidate position too (quadratic here).
  ExpectError(RunSmall("local s = ('a'):rep(1000):rep(100)\n"
                       "return s:find(('a'):rep(500):rep(100) .. 'b', 1, true)"),
              "t:3: " + kBudgetError);
  ExpectError(RunSmall("local s = ('('):rep(3000)\nreturn s:find('%b()')"), "t:3: " + kBudgetError);
}

// ---- 4. JSON encoding ------------------------------------------------------------

TEST(SandboxJson, SharedSubtreesAreChargedPerValue) {
  const std::string tree = "local t = {'x'}\nfor i = 1, 24 do t = {t, t} end\n";
  ExpectError(RunSmall(tree + "return t"),
              "function 't' (transform): transform result: exceeded the instruction budget of "
              "100000 instructions while encoding JSON");
  ExpectError(RunSmall(tree + "return sluice.json_encode(t)"), "t:4: " + kBudgetError);
}

TEST(SandboxJson, OutputIsCappedAtTheMemoryLimit) {
  Limits limits;
  limits.memory_bytes = 8u << 20;
  auto big = RunTransform("local s = ('x'):rep(3072):rep(1024)\nreturn {s, s, s}", limits);
  ExpectError(big, "transform result: the JSON is larger than the memory limit of 8 MiB");
  auto encoded = RunTransform(
      "local s = ('x'):rep(3072):rep(1024)\nreturn #sluice.json_encode({s, s, s})", limits);
  ExpectError(encoded,
              "t:3: sluice.json_encode: the JSON is larger than the memory limit of 8 MiB");
}

// ---- 5. library tables through pairs ----------------------------------------------

TEST(SandboxPairs, PairsDoesNotHandOutTheRealLibraryTable) {
  for (const char* lib : {"string", "table", "sluice", "math", "os", "utf8", "coroutine"}) {
    SCOPED_TRACE(lib);
    std::string name(lib);
    ExpectError(RunTransform("local _, s = pairs(" + name + ")\ns.upper = 1"),
                "t:3: cannot assign 'upper': library tables are read-only");
    // The iteration state is the read-only proxy itself.
    EXPECT_EQ(TransformOk("local f, s = pairs(" + name + ")\nreturn rawequal(s, " + name + ")"),
              "true");
  }
}

TEST(SandboxPairs, IterationStillListsTheLibrary) {
  EXPECT_EQ(TransformOk("local n, seen = 0, {}\nfor k, v in pairs(string) do n = n + 1; seen[k] = "
                        "type(v) end\nlocal f, s = pairs(sluice)\n"
                        "return sluice.array{seen.upper, seen.dump == nil, n > 10, "
                        "rawequal(s, sluice), select(2, f(s, nil)) ~= nil}"),
            R"(["function",true,true,true,true])");
}

TEST(SandboxPairs, MutationThroughAnyPathLeavesTheLibraryIntact) {
  auto rt = MakeRuntime(
      {Fn("mutate", "transform",
          "function transform()\n"
          "  local errors = sluice.array()\n"
          "  for _, lib in ipairs{string, table, sluice} do\n"
          "    local f, s, k = pairs(lib)\n"
          "    errors[#errors + 1] = pcall(function() s.upper = function() return 'x' end end)\n"
          "    errors[#errors + 1] = pcall(function() local _, v = f(s, k); lib[_] = nil end)\n"
          "    errors[#errors + 1] = pcall(setmetatable, s, {})\n"
          "  end\n"
          "  return errors\n"
          "end"),
       Fn("use", "transform",
          "function transform() return sluice.array{('a'):upper(), string.upper('b'), "
          "table.concat({'c'}), type(sluice.json_encode)} end")});
  EXPECT_EQ(*rt->Transform("mutate", kMessage),
            "[false,false,false,false,false,false,false,false,false]");
  EXPECT_EQ(*rt->Transform("use", kMessage), R"(["A","B","c","function"])");
}

TEST(SandboxPairs, TopLevelCodeCannotReachTheSharedBase) {
  auto r = Compile("getmetatable(_ENV).__index.tostring = nil\nfunction transform() end");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("t:1: attempt to index a boolean value"), std::string::npos)
      << r.error().message();
}

// ---- 6. sluice.stream_arn at top level -------------------------------------------

config::SinkSettings Sink(const std::string& arn, const std::string& transform) {
  config::SinkSettings sink;
  sink.destination.stream = *config::StreamArn::Parse(arn, nullptr);
  sink.transform = transform;
  return sink;
}

TEST(DefaultStream, PrefersASinkThatUsesFunctions) {
  config::Settings settings;
  EXPECT_FALSE(DefaultStreamFor(settings).has_value());
  settings.sinks.push_back(Sink("arn:aws:kinesis:us-east-1:111111111111:stream/plain", ""));
  EXPECT_EQ(DefaultStreamFor(settings)->stream_name, "plain");
  settings.sinks.push_back(Sink("arn:aws:kinesis:eu-west-1:222222222222:stream/fn", "t"));
  EXPECT_EQ(DefaultStreamFor(settings)->stream_name, "fn");
}

TEST(DefaultStream, TopLevelStreamArnCompilesWithTheSinkStream) {
  config::Settings settings;
  settings.sinks.push_back(Sink("arn:aws:kinesis:eu-west-1:222222222222:stream/fn", "t"));
  settings.functions.push_back(Fn(
      "t", "transform", "ARN = sluice.stream_arn('orders')\nfunction transform() return ARN end"));
  RuntimeOptions options;
  options.default_stream = DefaultStreamFor(settings);
  auto rt = FunctionRuntime::Create(settings.functions, options);
  ASSERT_TRUE(rt.ok()) << rt.error().message();
  EXPECT_EQ(*(*rt)->Transform("t", kMessage),
            R"("arn:aws:kinesis:eu-west-1:222222222222:stream/orders")");
  std::vector<std::string> findings;
  EXPECT_TRUE(CheckFunctions(settings, &findings).ok());
  EXPECT_TRUE(findings.empty()) << findings[0];
}

// ---- isolation ------------------------------------------------------------------

TEST(Isolation, ARunawayInOneRuntimeDoesNotAffectAnother) {
  auto spin =
      MakeRuntime({Fn("spin", "filter", "function filter() while true do end end")}, SmallBudget());
  // Needs most of its own budget: it fails if any of it was spent elsewhere.
  auto busy = MakeRuntime({Fn("busy", "filter",
                              "function filter() local n = 0\nfor i = 1, 20000 do n = n + i end\n"
                              "return n > 0 end")},
                          SmallBudget());
  auto r = spin->Filter("spin", kMessage);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(kBudgetError), std::string::npos) << r.error().message();
  auto ok = busy->Filter("busy", kMessage);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_TRUE(*ok);
  // And the runaway runtime itself recovers for its next call.
  auto again = spin->Filter("spin", kMessage);
  EXPECT_NE(again.error().message().find(kBudgetError), std::string::npos);
  EXPECT_TRUE(*busy->Filter("busy", kMessage));
}

}  // namespace
}  // namespace sluice::functions
