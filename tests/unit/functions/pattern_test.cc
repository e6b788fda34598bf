// The sandbox's own pattern matcher (budget-charged) against Lua's: the same
// Lua code runs in a plain Lua state, with the real string library, and as a
// transform in the sandbox; every result and error must be the same.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <lua.hpp>
#include <string>

#include "runtime_test_util.h"

namespace sluice::functions {
namespace {

// Returns one line per (case, function) with the results or the error.
constexpr const char* kCorpus = R"LUA(
local out = {}
local function show(...)
  local parts = {}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    parts[#parts + 1] = type(v) == 'string' and string.format('%q', v) or tostring(v)
  end
  return table.concat(parts, ',')
end
local function clean(e) return (tostring(e):gsub('^[^:]*:%d+: ', '')) end
local function try(f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then return 'error ' .. clean(r[2]) end
  return show(table.unpack(r, 2, r.n))
end
local cases = {
  {'hello world', 'o'}, {'hello world', 'o', 6}, {'hello world', 'l+'}, {'hello world', '^h'},
  {'hello', '^e'}, {'hello', 'l*'}, {'hello', 'l-'}, {'hello', 'l?'}, {'hello', ''}, {'', ''},
  {'', 'a*'}, {'hello world', '(%w+) (%w+)'}, {'key = value', '^(%w+)%s*=%s*(.-)$'},
  {'  trim me  ', '^%s*(.-)%s*$'}, {'THE (quick) fox', '%((%a+)%)'}, {'f(a(b)c)d', '%b()'},
  {'THE (quick) fox', '%f[%a]%a+'}, {'x = 10, y = 20', '(%w+)%s*=%s*(%d+)'},
  {'abcabc', '(a)(b)(c)%1'}, {'abab', '(ab)%1'}, {'hello', '()ll()'}, {'a.b.c', '.', 1, true},
  {'a.b.c', '%.'}, {'a+b', '+', 1, true}, {'[test]', '[%[%]]'}, {'abc123', '[^%d]+'},
  {'abc123', '[a-c]+'}, {'abc-123', '[%w-]+'}, {'hello', '[]'}, {'hello', '%'}, {'hello', '(l'},
  {'hello', 'l)'}, {'hello', '%1'}, {'hello', '%bx'}, {'hello', '%f'}, {'hello', '[a'},
  {'hello world from lua', '%s'}, {'hello', 'o', -1}, {'hello', 'h', -10}, {'hello', 'h', 10},
  {'hello', '', 6}, {'hello', '', 7}, {'one;two;;three', '([^;]*)'}, {'abc', '.-'},
  {'aaa', 'a-b'}, {'a$b', '$b'}, {'ab', 'b$'}, {'a\0b', '\0'}, {'a\0b', '%z'},
  {'2024-01-02T03:04:05Z', '(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)'}, {'CamelCaseString', '%u%l+'},
  {'  x', '^%s+'}, {'hello', '^(h)(e)(l)(l)(o)$'}, {'abc', '((a)(b))'}, {'a,b,,c', ',?'},
  {'xyz', '%w%w%w%w'}, {'%d', '%%d'}, {'f(x) = x^2', '%^'}, {'Hello', '%A'},
  {'Hello World', '%u'}, {'a1 b2', '%a%d'}, {'tab\there', '%c'}, {'x+y', '%p'},
  {'ff00 zz', '%x+'}, {'A b', '%L'}, {'a.b', '[.]'}, {'a]b', '[]]'}, {'a^b', '[%^]'},
  {'a^b', '[^^]'}, {'a-b', '[a-]'}, {'a-b', '[-a]'}, {'THE END', '%f[%w]%w+%f[%W]'},
  {'[[x]]', '%[(%b[])%]'}, {'aaa', '()a*()'}, {('x'):rep(40), ('(.)'):rep(33)},
  {('a'):rep(10), ('a?'):rep(250)}, {'hello', 'h', 1, true}, {'hello', 'l', 2, false},
  {'x', '%f[x]'}, {'x', 'x%f[%z]'}, {'abc', 'b', 0}, {'hello', '[h-]+'},
}
for i, c in ipairs(cases) do
  local s, p, init, plain = c[1], c[2], c[3], c[4]
  out[#out + 1] = i .. ' find ' .. try(string.find, s, p, init, plain)
  out[#out + 1] = i .. ' match ' .. try(string.match, s, p, init)
  local got = {}
  local ok, err = pcall(function()
    for a, b in string.gmatch(s, p, init) do
      got[#got + 1] = show(a, b)
      if #got > 50 then break end
    end
  end)
  out[#out + 1] = i .. ' gmatch ' .. table.concat(got, ';') .. (ok and '' or ' error ' .. clean(err))
  out[#out + 1] = i .. ' gsub ' .. try(string.gsub, s, p, '<%0>')
  out[#out + 1] = i .. ' gsub1 ' .. try(string.gsub, s, p, '[%1]', 2)
  out[#out + 1] = i .. ' gsub9 ' .. try(string.gsub, s, p, '%9')
  out[#out + 1] = i .. ' gsubx ' .. try(string.gsub, s, p, '%x')
  out[#out + 1] = i .. ' gsubf ' .. try(string.gsub, s, p, function(a, b)
    if b then return a .. '|' .. tostring(b) end
    if a == 'l' then return false end
    return nil
  end)
  out[#out + 1] = i .. ' gsubt ' .. try(string.gsub, s, p, {hello = 'HI', o = 0, l = false, a = {}})
end
out[#out + 1] = 'badrepl ' .. try(string.gsub, 'x', 'x', true)
return table.concat(out, '\n')
)LUA";

std::string RunInPlainLua(const std::string& body) {
  lua_State* L = luaL_newstate();
  luaL_openlibs(L);
  std::string result;
  if (luaL_dostring(L, ("return (function()\n" + body + "\nend)()").c_str()) != LUA_OK) {
    result = std::string("error: ") + lua_tostring(L, -1);
  } else {
    result = lua_tostring(L, -1);
  }
  lua_close(L);
  return result;
}

TEST(Patterns, SameResultsAndErrorsAsLua) {
  std::string expected = RunInPlainLua(kCorpus);
  ASSERT_EQ(expected.rfind("error: ", 0), std::string::npos) << expected;
  auto r = RunTransform(kCorpus);
  ASSERT_TRUE(r.ok()) << r.error().message();
  rapidjson::Document doc;
  doc.Parse(r->c_str());
  ASSERT_TRUE(doc.IsString()) << *r;
  std::string got(doc.GetString(), doc.GetStringLength());
  // Line by line, so a difference shows which case differs.
  size_t e = 0, g = 0;
  while (e < expected.size() || g < got.size()) {
    size_t e_end = expected.find('\n', e);
    size_t g_end = got.find('\n', g);
    if (e_end == std::string::npos) e_end = expected.size();
    if (g_end == std::string::npos) g_end = got.size();
    EXPECT_EQ(got.substr(g, g_end - g), expected.substr(e, e_end - e));
    e = e_end + 1;
    g = g_end + 1;
  }
}

TEST(Patterns, OrdinaryPatternsStayWithinTheDefaultBudget) {
  // A 100 KB text trimmed and split: linear work, well inside the budget.
  EXPECT_EQ(TransformOk("local s = '  ' .. ('word '):rep(20000) .. '  '\n"
                        "local t = s:match('^%s*(.-)%s*$')\nlocal n = 0\n"
                        "for w in t:gmatch('%a+') do n = n + 1 end\n"
                        "return sluice.array{#t, n, select(2, t:gsub('word', 'w'))}"),
            "[99999,20000,20000]");
}

}  // namespace
}  // namespace sluice::functions
