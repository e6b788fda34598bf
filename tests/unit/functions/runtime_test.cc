#include "functions/runtime.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime_test_util.h"

namespace sluice::functions {
namespace {

// ---- function types -------------------------------------------------------

TEST(FunctionRuntime, FilterKeepsAndDrops) {
  auto rt = MakeRuntime({Fn("paid", "filter",
                            "function filter(action, record, changes, metadata)\n"
                            "  return record.status == 'paid' and action == 'update'\n"
                            "end"),
                         Fn("never", "filter", "function filter() return false end")});
  EXPECT_TRUE(*rt->Filter("paid", kMessage));
  EXPECT_FALSE(*rt->Filter("never", kMessage));
}

TEST(FunctionRuntime, FilterMustReturnBoolean) {
  auto rt = MakeRuntime({Fn("f", "filter", "function filter() return 1 end")});
  auto r = rt->Filter("f", kMessage);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("function 'f' (filter)"), std::string::npos);
  EXPECT_NE(r.error().message().find("true or false, got number"), std::string::npos);
}

TEST(FunctionRuntime, RouteReturnsValidatedStream) {
  auto rt = MakeRuntime({Fn("r", "routing",
                            "function route(action, record, changes, metadata)\n"
                            "  return { stream_arn = 'arn:aws:kinesis:us-east-1:123456789012:"
                            "stream/' .. record.type .. '-events' }\n"
                            "end"),
                         Fn("helper", "routing",
                            "function route(a, record) return {stream_arn = "
                            "sluice.stream_arn(record.type)} end"),
                         Fn("keep", "routing", "function route() return nil end")});
  auto r = rt->Route("r", kMessage);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->stream_name, "order-events");
  EXPECT_EQ((*r)->region, "us-east-1");
  auto h = rt->Route("helper", kMessage);
  ASSERT_TRUE(h.ok()) << h.error().message();
  EXPECT_EQ((*h)->arn, "arn:aws:kinesis:eu-west-1:123456789012:stream/order");
  auto k = rt->Route("keep", kMessage);
  ASSERT_TRUE(k.ok());
  EXPECT_FALSE(k->has_value());
}

TEST(FunctionRuntime, RouteRejectsBadArnNamingFunctionAndValue) {
  auto rt = MakeRuntime({Fn("bad", "routing", "function route() return {stream_arn='nope'} end"),
                         Fn("typo", "routing", "function route() return {streamArn='x'} end")});
  auto r = rt->Route("bad", kMessage);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("function 'bad' (routing)"), std::string::npos);
  EXPECT_NE(r.error().message().find("\"nope\""), std::string::npos);
  auto t = rt->Route("typo", kMessage);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("stream_arn is nil"), std::string::npos);
}

TEST(FunctionRuntime, TransformReplacesMessage) {
  EXPECT_EQ(TransformOk("return {id = record.id, action = action}").size() > 0, true);
  std::string out = TransformOk("return sluice.array{record.id, action, metadata.table_name}");
  EXPECT_EQ(out, R"([7,"update","orders"])");
  EXPECT_EQ(TransformOk("return record.name"), R"("zoë 🚀")");
  EXPECT_EQ(TransformOk("return sluice.null"), "null");
  ExpectError(RunTransform("return nil"), "returned nil");
}

TEST(FunctionRuntime, PathFunctionUsedAsTransform) {
  config::FunctionSettings p = Fn("only-record", "path", "");
  p.path = "record.doc";
  auto rt = MakeRuntime({p});
  EXPECT_EQ(*rt->Transform("only-record", kMessage), R"({"a":[1,2,{"b":null}]})");
}

TEST(FunctionRuntime, ApplyRunsFilterRoutingTransformInOrder) {
  auto rt = MakeRuntime(
      {Fn("f", "filter", "function filter(a, r) return r.id ~= 8 end"),
       Fn("r", "routing", "function route(a, r) return {stream_arn = sluice.stream_arn('s2')} end"),
       Fn("t", "transform", "function transform(a, r) return {id = r.id} end")});
  config::SinkSettings sink;
  sink.filter = "f";
  sink.routing = "r";
  sink.transform = "t";
  sink.destination.stream =
      *config::StreamArn::Parse("arn:aws-cn:kinesis:cn-north-1:210987654321:stream/main", nullptr);
  auto a = rt->Apply(sink, kMessage);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_FALSE(a->dropped);
  ASSERT_TRUE(a->stream.has_value());
  EXPECT_EQ(a->stream->arn, "arn:aws-cn:kinesis:cn-north-1:210987654321:stream/s2");
  EXPECT_EQ(a->data, R"({"id":7})");

  std::string other(kMessage);
  other.replace(other.find("\"id\":7"), 6, "\"id\":8");
  auto d = rt->Apply(sink, other);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->dropped);

  config::SinkSettings plain;
  auto p = rt->Apply(plain, kMessage);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->data, kMessage);
  EXPECT_FALSE(p->stream.has_value());
}

TEST(FunctionRuntime, WrongTypeOrUnknownNameIsAnError) {
  auto rt = MakeRuntime({Fn("f", "filter", "function filter() return true end")});
  EXPECT_FALSE(rt->Transform("f", kMessage).ok());
  EXPECT_FALSE(rt->Filter("nope", kMessage).ok());
}

// ---- value mapping ---------------------------------------------------------

TEST(ValueMapping, IdentityTransformKeepsEveryValue) {
  std::string out = TransformOk("return record");
  rapidjson::Document in_doc, out_doc;
  in_doc.Parse<rapidjson::kParseFullPrecisionFlag>(kMessage.data(), kMessage.size());
  out_doc.Parse<rapidjson::kParseFullPrecisionFlag>(out.c_str());
  ASSERT_FALSE(out_doc.HasParseError()) << out;
  EXPECT_TRUE(out_doc == in_doc["record"]) << out;
  // Digits are kept verbatim, not reformatted.
  EXPECT_NE(out.find("\"amount\":123456789012345678901234567890"), std::string::npos) << out;
  EXPECT_NE(out.find("\"exact\":1.10"), std::string::npos) << out;
  EXPECT_NE(out.find("\"total\":199.99"), std::string::npos) << out;
  EXPECT_NE(out.find("\"big\":9223372036854775807"), std::string::npos) << out;
  EXPECT_NE(out.find("\"small\":-9223372036854775808"), std::string::npos) << out;
  EXPECT_NE(out.find("\"tags\":[]"), std::string::npos) << out;
  EXPECT_NE(out.find("\"attrs\":{}"), std::string::npos) << out;
  EXPECT_NE(out.find("\"note\":null"), std::string::npos) << out;
}

TEST(ValueMapping, LuaSeesTypedValues) {
  EXPECT_EQ(TransformOk("return sluice.array{math.type(record.id), math.type(record.total), "
                        "math.type(record.big), type(record.amount), record.note == sluice.null, "
                        "type(record.tags), #record.tags, record.doc.a[3].b == sluice.null}"),
            R"(["integer","float","integer","userdata",true,"table",0,true])");
  EXPECT_EQ(TransformOk("return record.big == math.maxinteger and record.small == math.mininteger"),
            "true");
}

TEST(ValueMapping, DecimalBehavesLikeANumber) {
  EXPECT_EQ(TransformOk("return tostring(record.amount)"), R"("123456789012345678901234567890")");
  EXPECT_EQ(TransformOk("return 'n=' .. record.amount"), R"("n=123456789012345678901234567890")");
  EXPECT_EQ(TransformOk("return sluice.array{record.amount > 5, record.amount < 5, "
                        "record.amount > sluice.decimal('123456789012345678901234567889'), "
                        "record.amount == sluice.decimal('123456789012345678901234567890.000'), "
                        "record.exact > 1.1, record.exact <= 1.1, record.exact == 1.1}"),
            "[true,false,true,true,false,true,false]");
  EXPECT_EQ(TransformOk("return math.type(tonumber(record.amount))"), R"("float")");
  EXPECT_EQ(TransformOk("return record.exact * 2"), "2.2");
  ExpectError(RunTransform("return sluice.decimal('12abc')"), "is not a number");
}

TEST(ValueMapping, EncodesLuaValuesBack) {
  EXPECT_EQ(TransformOk("return {}"), "{}");
  EXPECT_EQ(TransformOk("return sluice.array()"), "[]");
  EXPECT_EQ(TransformOk("return sluice.array{}"), "[]");
  EXPECT_EQ(TransformOk("return {1, 2, 3}"), "[1,2,3]");
  EXPECT_EQ(TransformOk("return {a = {}}"), R"({"a":{}})");
  EXPECT_EQ(TransformOk("return sluice.object{[1] = 'x'}"), R"({"1":"x"})");
  EXPECT_EQ(TransformOk("return 1.5"), "1.5");
  EXPECT_EQ(TransformOk("return 2^53"), "9007199254740992.0");
  EXPECT_EQ(TransformOk("return 'tab\\t\"q\"\\1'"), R"("tab\t\"q\"\u0001")");
  // An emptied array from the message keeps its array shape.
  EXPECT_EQ(TransformOk("local t = record.doc.a; t[3] = nil; t[2] = nil; t[1] = nil; return t"),
            "[]");
}

TEST(ValueMapping, UnencodableValuesNameThePath) {
  ExpectError(RunTransform("return {a = {1, 2, x = 3}}"), "$.a: table mixes");
  ExpectError(RunTransform("return {n = 0/0}"), "$.n: NaN");
  ExpectError(RunTransform("return {n = math.huge}"), "$.n: NaN and infinity");
  ExpectError(RunTransform("return {s = '\\xff'}"), "$.s: string is not valid UTF-8");
  ExpectError(RunTransform("return {f = print}"), "$.f: a function value");
  ExpectError(RunTransform("local t = {}; t.self = t; return t"), "nesting deeper");
  ExpectError(RunTransform("return {[1] = 1, [3] = 3}"), "table mixes");
}

TEST(ValueMapping, JsonAndBase64Helpers) {
  EXPECT_EQ(TransformOk("return sluice.json_decode('[[],{},null,1.10]')"), R"([[],{},null,1.10])");
  EXPECT_EQ(TransformOk("return sluice.json_decode('{\"a\":[]}')"), R"({"a":[]})");
  EXPECT_EQ(TransformOk("return sluice.json_encode(sluice.array{1, 'x'})"), R"("[1,\"x\"]")");
  EXPECT_EQ(TransformOk("return sluice.base64_encode('hi!')"), R"("aGkh")");
  EXPECT_EQ(TransformOk("return sluice.base64_decode('aGkh')"), R"("hi!")");
  ExpectError(RunTransform("return sluice.json_decode('{oops')"), "sluice.json_decode");
  // Text with bytes over 0x7F is checked as UTF-8 (ASCII text skips the
  // check): a bad byte in the first 8-byte word, in a later one, in the tail.
  EXPECT_EQ(TransformOk("return sluice.json_decode('[\"caf\xc3\xa9\"]')"), "[\"caf\xc3\xa9\"]");
  ExpectError(RunTransform("return sluice.json_decode('[\"caf\xe9 long enough\"]')"),
              "sluice.json_decode");
  ExpectError(RunTransform("return sluice.json_decode('[\"0123456789abcdef\xe9 later word\"]')"),
              "sluice.json_decode");
  ExpectError(RunTransform("return sluice.json_decode('[\"0123456789abcdef012345\xe9\"]')"),
              "sluice.json_decode");
  ExpectError(RunTransform("return sluice.base64_decode('***')"), "not valid base64");
}

// The JSON-to-Lua builder sizes each table like the table opened at the same
// place in the previous parse on this thread. A parse of another shape (an
// array where an object was, more tables than hints, more members than a
// hint holds) must still give exactly its own values.
TEST(ValueMapping, DecodingSucceedsWhateverShapeCameBefore) {
  EXPECT_EQ(TransformOk("return sluice.json_decode('[{\"x\":1},[1,2],{\"y\":2}]')"),
            R"([{"x":1},[1,2],{"y":2}])");
  EXPECT_EQ(TransformOk("return sluice.json_decode('[[3],{\"k\":\"v\"},[]]')"),
            R"([[3],{"k":"v"},[]])");
  std::string many = "[";
  for (int i = 0; i < 40; ++i)
    many += (i ? ",{\\\"n\\\":" : "{\\\"n\\\":") + std::to_string(i) + "}";
  many += ",[";
  for (int i = 0; i < 300; ++i) many += (i ? "," : "") + std::to_string(i);
  many += "]]";
  std::string expected = many;
  for (size_t at; (at = expected.find("\\\"")) != std::string::npos;) expected.erase(at, 1);
  EXPECT_EQ(TransformOk("return sluice.json_decode('" + many + "')"), expected);
  EXPECT_EQ(TransformOk("return sluice.json_decode('[{\"x\":1},[1,2],{\"y\":2}]')"),
            R"([{"x":1},[1,2],{"y":2}])");
}

// ---- sandbox ---------------------------------------------------------------

struct EscapeCase {
  const char* code;
  const char* error;  // expected in the error message
};

class SandboxEscape : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(SandboxEscape, FailsWithTheExpectedError) {
  // Even a nil result counts as an escape: the expression must raise.
  auto r = RunTransform(std::string("local v = ") + GetParam().code + "\nreturn 'escaped'");
  ASSERT_FALSE(r.ok()) << GetParam().code << " returned " << *r;
  EXPECT_NE(r.error().message().find(std::string("function 't' (transform): ") + GetParam().error),
            std::string::npos)
      << GetParam().code << ": " << r.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    FunctionRuntime, SandboxEscape,
    ::testing::Values(
        EscapeCase{"io.open('/etc/passwd')", "t:2: attempt to index a nil value (global 'io')"},
        EscapeCase{"os.execute('true')", "t:2: attempt to call a nil value (field 'execute')"},
        EscapeCase{"os.getenv('HOME')", "t:2: attempt to call a nil value (field 'getenv')"},
        EscapeCase{"os.remove('/tmp/x')", "t:2: attempt to call a nil value (field 'remove')"},
        EscapeCase{"os.exit(1)", "t:2: attempt to call a nil value (field 'exit')"},
        EscapeCase{"require('os')", "t:2: attempt to call a nil value (global 'require')"},
        EscapeCase{"package.loadlib('libc.so.6', 'system')",
                   "t:2: attempt to index a nil value (global 'package')"},
        EscapeCase{"dofile('/etc/passwd')", "t:2: attempt to call a nil value (global 'dofile')"},
        EscapeCase{"loadfile('/etc/passwd')",
                   "t:2: attempt to call a nil value (global 'loadfile')"},
        EscapeCase{"load('return 1')()", "t:2: attempt to call a nil value (global 'load')"},
        EscapeCase{"string.dump(function() end)",
                   "t:2: attempt to call a nil value (field 'dump')"},
        EscapeCase{"('').dump(function() end)", "t:2: attempt to call a nil value (field 'dump')"},
        EscapeCase{"debug.getregistry()", "t:2: attempt to index a nil value (global 'debug')"},
        EscapeCase{"debug.setmetatable({}, {__gc = print})",
                   "t:2: attempt to index a nil value (global 'debug')"},
        EscapeCase{"getmetatable('').__index.dump", "t:2: attempt to index a boolean value"},
        EscapeCase{"collectgarbage('stop')",
                   "t:2: collectgarbage(\"stop\") is not available in sluice functions"},
        EscapeCase{"collectgarbage('collect')",
                   "t:2: collectgarbage(\"collect\") is not available in sluice functions"},
        EscapeCase{"rawset(_ENV, 'x', 1)", "t:2: attempt to call a nil value (global 'rawset')"},
        EscapeCase{"_G.io", "t:2: attempt to index a nil value (global '_G')"},
        EscapeCase{"setmetatable(string, {})", "t:2: cannot change a protected metatable"},
        EscapeCase{"module('x')", "t:2: attempt to call a nil value (global 'module')"},
        EscapeCase{"(function() string.upper = nil end)()",
                   "t:2: cannot assign 'upper': library tables are read-only"},
        EscapeCase{"(function() sluice.null = 1 end)()",
                   "t:2: cannot assign 'null': library tables are read-only"},
        EscapeCase{"setmetatable(record.tags, {})", "t:2: cannot change a protected metatable"},
        EscapeCase{"rawset(string, 'upper', 1)",
                   "t:2: attempt to call a nil value (global 'rawset')"},
        EscapeCase{"getmetatable(string).__index", "t:2: attempt to index a boolean value"},
        EscapeCase{"getmetatable(_ENV).__index", "t:2: attempt to index a boolean value"},
        EscapeCase{"setmetatable({}, {__gc = function() end})",
                   "t:2: __gc metamethods are not allowed in sluice functions"},
        EscapeCase{"setmetatable({}, {__close = function() end})",
                   "t:2: __close metamethods are not allowed in sluice functions"}));

TEST(Sandbox, GlobalsDoNotLeakBetweenCalls) {
  auto rt = MakeRuntime({Fn("g", "transform",
                            "counter = 0\n"
                            "function transform() counter = counter + 1 return counter end")});
  auto r = rt->Transform("g", kMessage);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("cannot assign global 'counter'"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("g:2:"), std::string::npos) << r.error().message();
}

TEST(Sandbox, TopLevelLocalsAndConstantsWork) {
  auto rt = MakeRuntime({Fn("c", "transform",
                            "local prefix = 'x-'\nNAMES = {order = 'Order'}\n"
                            "function transform(a, r) return prefix .. NAMES[r.type] end")});
  EXPECT_EQ(*rt->Transform("c", kMessage), R"("x-Order")");
  EXPECT_EQ(*rt->Transform("c", kMessage), R"("x-Order")");
}

TEST(Sandbox, AllowedLibrariesWork) {
  EXPECT_EQ(TransformOk("return sluice.array{string.upper('a'), ('b'):rep(2), math.floor(2.5), "
                        "utf8.len('zoë'), table.concat({'x','y'}, '-'), type(os.time()), "
                        "type(collectgarbage('count')), select('#', 1, 2)}"),
            R"(["A","bb",2,3,"x-y","number","number",2])");
  EXPECT_EQ(TransformOk("local ok, e = pcall(error, 'boom'); return ok"), "false");
  EXPECT_EQ(
      TransformOk("local co = coroutine.wrap(function() coroutine.yield(5) end); return co()"),
      "5");
}

TEST(Limits, InfiniteLoopExhaustsBudgetAndNextCallWorks) {
  auto rt = MakeRuntime({Fn("spin", "filter",
                            "function filter(a)\n  if a == 'update' then\n    while true do end\n"
                            "  end\n  return true\nend"),
                         Fn("sneaky", "filter",
                            "function filter()\n  while true do pcall(function() while true do "
                            "end end) end\nend")});
  auto r = rt->Filter("spin", kMessage);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("function 'spin' (filter)"), std::string::npos);
  EXPECT_NE(r.error().message().find("instruction budget"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("spin:3:"), std::string::npos) << r.error().message();
  auto s = rt->Filter("sneaky", kMessage);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("instruction budget"), std::string::npos);
  std::string insert(kMessage);
  insert.replace(insert.find("\"update\""), 8, "\"insert\"");
  auto ok = rt->Filter("spin", insert);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_TRUE(*ok);
}

TEST(Limits, MemoryBombFailsAndNextCallWorks) {
  Limits limits;
  limits.memory_bytes = 8u << 20;
  limits.instructions_per_call = 1'000'000'000;  // the heap, not the budget, must stop it
  auto rt =
      MakeRuntime({Fn("bomb", "transform",
                      "function transform(a)\n  if a == 'update' then\n"
                      "    local t = {}\n    for i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end\n"
                      "  end\n  return a\nend"),
                   Fn("rep", "transform", "function transform() return ('x'):rep(1 << 30) end")},
                  limits);
  auto r = rt->Transform("bomb", kMessage);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("function 'bomb' (transform): exceeded the memory limit of "
                                     "8 MiB"),
            std::string::npos)
      << r.error().message();
  auto rep = rt->Transform("rep", kMessage);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.error().message().find("memory limit of 8 MiB"), std::string::npos)
      << rep.error().message();
  std::string insert(kMessage);
  insert.replace(insert.find("\"update\""), 8, "\"insert\"");
  auto ok = rt->Transform("bomb", insert);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(*ok, R"("insert")");
}

// ---- errors and compilation -----------------------------------------------

TEST(Errors, RuntimeErrorNamesFunctionAndLine) {
  auto r = RunTransform("local x = nil\nreturn x.field");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("function 't' (transform): t:3:"), std::string::npos)
      << r.error().message();
}

TEST(Errors, SyntaxErrorNamesFunctionAndLine) {
  config::FunctionSettings f = Fn("broken", "filter", "function filter()\n  return (\nend");
  f.file = "broken.lua";
  auto r = FunctionRuntime::Create({f}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("function 'broken' (filter): broken.lua:3:"),
            std::string::npos)
      << r.error().message();
}

TEST(Errors, MissingEntryPointShowsSignature) {
  auto r = FunctionRuntime::Create({Fn("r", "routing", "function router() end")}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("must define a global function `route`"), std::string::npos)
      << r.error().message();
}

TEST(Errors, ElixirCodeIsRecognised) {
  auto r = FunctionRuntime::Create(
      {Fn("ex", "routing",
          "def route(action, record, changes, metadata) do\n"
          "  %{stream_arn: \"arn:aws:kinesis:us-east-1:1:stream/#{record[\"type\"]}\"}\nend\n")},
      {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("looks like Elixir"), std::string::npos);
  EXPECT_NE(r.error().message().find("Lua 5.4"), std::string::npos);
  EXPECT_NE(r.error().message().find("function route(action, record, changes, metadata)"),
            std::string::npos);
}

TEST(CheckFunctions, ReportsCompileErrorsAndSyntheticRunProblems) {
  config::Settings settings;
  settings.functions = {
      Fn("good", "filter", "function filter(a, r) return r.id > 0 end"),
      Fn("bad", "filter", "function filter( return true end"),
      Fn("fragile", "transform", "function transform(a, r) return r.missing_column.x end")};
  config::FunctionSettings p = Fn("p", "path", "");
  p.path = "rec";
  settings.functions.push_back(p);
  std::vector<std::string> findings;
  Status st = CheckFunctions(settings, &findings);
  EXPECT_FALSE(st.ok());
  ASSERT_EQ(findings.size(), 3u);
  EXPECT_NE(findings[0].find("error: function 'bad' (filter): bad:1:"), std::string::npos)
      << findings[0];
  EXPECT_NE(findings[1].find("warning:"), std::string::npos) << findings[1];
  EXPECT_NE(findings[1].find("fragile:1:"), std::string::npos) << findings[1];
  EXPECT_NE(findings[2].find("error: function 'p' (path)"), std::string::npos) << findings[2];

  settings.functions = {settings.functions[0]};
  findings.clear();
  EXPECT_TRUE(CheckFunctions(settings, &findings).ok());
  EXPECT_TRUE(findings.empty());
}

}  // namespace
}  // namespace sluice::functions
