// Lua 5.4 patterns (string.find, match, gmatch, gsub) with a step budget.
//
// Why a second matcher: Lua's own lives in C and never returns to the VM
// while it backtracks, so the count hook cannot stop `("a"):rep(3000):find(
// ".-.-.-.-.-.-.-b")`, which needs about 3000^8 steps. This one follows the
// reference semantics (classes, sets, captures, %b, %f, back-references,
// anchors, gmatch's and gsub's handling of empty matches) and charges each
// step to the call's instruction budget: one step per character tested, per
// backtrack and per recursion.
//
// Written C-style on purpose: ChargeBudget and the Lua API can raise (a
// longjmp), so no object here has a destructor.
#include <cctype>
#include <cstring>

#include "functions/sandbox_lib.h"

namespace sluice::functions::internal {
namespace {

constexpr int kMaxCaptures = 32;       // LUA_MAXCAPTURES
constexpr int kMaxMatchDepth = 200;    // MAXCCALLS: recursion depth of match()
constexpr int64_t kChargeEvery = 512;  // steps between budget checks
constexpr ptrdiff_t kCapUnfinished = -1;
constexpr ptrdiff_t kCapPosition = -2;
constexpr char kEsc = '%';
constexpr const char* kSpecials = "^$*+?.([%-";

struct MatchState {
  const char* src_init;
  const char* src_end;
  const char* p_end;
  lua_State* L;
  int matchdepth;
  int level;
  int64_t steps;  // not yet charged
  struct {
    const char* init;
    ptrdiff_t len;
  } capture[kMaxCaptures];
};

inline unsigned char Uchar(char c) { return static_cast<unsigned char>(c); }

void Step(MatchState* ms, int64_t n) {
  ms->steps += n;
  if (ms->steps >= kChargeEvery) {
    int64_t pending = ms->steps;
    ms->steps = 0;
    ChargeBudget(ms->L, pending);
  }
}

void ChargeRest(MatchState* ms) {
  int64_t pending = ms->steps;
  ms->steps = 0;
  if (pending > 0) ChargeBudget(ms->L, pending);
}

const char* Match(MatchState* ms, const char* s, const char* p);

int CheckCapture(MatchState* ms, int l) {
  l -= '1';
  if (l < 0 || l >= ms->level || ms->capture[l].len == kCapUnfinished) {
    return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
  }
  return l;
}

int CaptureToClose(MatchState* ms) {
  int level = ms->level;
  for (level--; level >= 0; level--) {
    if (ms->capture[level].len == kCapUnfinished) return level;
  }
  return luaL_error(ms->L, "invalid pattern capture");
}

const char* ClassEnd(MatchState* ms, const char* p) {
  switch (*p++) {
    case kEsc:
      if (p == ms->p_end) luaL_error(ms->L, "malformed pattern (ends with '%%')");
      return p + 1;
    case '[':
      if (*p == '^') p++;
      do {  // look for a ']'
        if (p == ms->p_end) luaL_error(ms->L, "malformed pattern (missing ']')");
        if (*(p++) == kEsc && p < ms->p_end) p++;  // skip escapes (e.g. '%]')
      } while (*p != ']');
      return p + 1;
    default: return p;
  }
}

bool MatchClass(int c, int cl) {
  bool res;
  switch (std::tolower(cl)) {
    case 'a': res = std::isalpha(c); break;
    case 'c': res = std::iscntrl(c); break;
    case 'd': res = std::isdigit(c); break;
    case 'g': res = std::isgraph(c); break;
    case 'l': res = std::islower(c); break;
    case 'p': res = std::ispunct(c); break;
    case 's': res = std::isspace(c); break;
    case 'u': res = std::isupper(c); break;
    case 'w': res = std::isalnum(c); break;
    case 'x': res = std::isxdigit(c); break;
    case 'z': res = c == 0; break;  // deprecated in Lua, still accepted
    default: return cl == c;
  }
  return std::isupper(cl) ? !res : res;
}

// p points at '[', ec at the closing ']'.
bool MatchBracketClass(int c, const char* p, const char* ec) {
  bool sig = true;
  if (*(p + 1) == '^') {
    sig = false;
    p++;
  }
  while (++p < ec) {
    if (*p == kEsc) {
      p++;
      if (MatchClass(c, Uchar(*p))) return sig;
    } else if (*(p + 1) == '-' && p + 2 < ec) {
      p += 2;
      if (Uchar(*(p - 2)) <= c && c <= Uchar(*p)) return sig;
    } else if (Uchar(*p) == c) {
      return sig;
    }
  }
  return !sig;
}

bool SingleMatch(MatchState* ms, const char* s, const char* p, const char* ep) {
  if (s >= ms->src_end) return false;
  int c = Uchar(*s);
  switch (*p) {
    case '.': return true;
    case kEsc: return MatchClass(c, Uchar(*(p + 1)));
    case '[': return MatchBracketClass(c, p, ep - 1);
    default: return Uchar(*p) == c;
  }
}

const char* MatchBalance(MatchState* ms, const char* s, const char* p) {
  if (p >= ms->p_end - 1) luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= ms->src_end || *s != *p) return nullptr;
  int b = *p;
  int e = *(p + 1);
  int cont = 1;
  while (++s < ms->src_end) {
    Step(ms, 1);
    if (*s == e) {
      if (--cont == 0) return s + 1;
    } else if (*s == b) {
      cont++;
    }
  }
  return nullptr;
}

const char* MaxExpand(MatchState* ms, const char* s, const char* p, const char* ep) {
  ptrdiff_t i = 0;
  while (SingleMatch(ms, s + i, p, ep)) {
    i++;
    Step(ms, 1);
  }
  while (i >= 0) {  // try with the longest run first
    Step(ms, 1);
    const char* res = Match(ms, s + i, ep + 1);
    if (res != nullptr) return res;
    i--;
  }
  return nullptr;
}

const char* MinExpand(MatchState* ms, const char* s, const char* p, const char* ep) {
  for (;;) {
    Step(ms, 1);
    const char* res = Match(ms, s, ep + 1);
    if (res != nullptr) return res;
    if (!SingleMatch(ms, s, p, ep)) return nullptr;
    s++;
  }
}

const char* StartCapture(MatchState* ms, const char* s, const char* p, ptrdiff_t what) {
  int level = ms->level;
  if (level >= kMaxCaptures) luaL_error(ms->L, "too many captures");
  ms->capture[level].init = s;
  ms->capture[level].len = what;
  ms->level = level + 1;
  const char* res = Match(ms, s, p);
  if (res == nullptr) ms->level--;  // undo the capture
  return res;
}

const char* EndCapture(MatchState* ms, const char* s, const char* p) {
  int l = CaptureToClose(ms);
  ms->capture[l].len = s - ms->capture[l].init;
  const char* res = Match(ms, s, p);
  if (res == nullptr) ms->capture[l].len = kCapUnfinished;
  return res;
}

const char* MatchCapture(MatchState* ms, const char* s, int l) {
  l = CheckCapture(ms, l);
  size_t len = static_cast<size_t>(ms->capture[l].len);
  Step(ms, 1 + static_cast<int64_t>(len / 16));
  if (static_cast<size_t>(ms->src_end - s) >= len &&
      std::memcmp(ms->capture[l].init, s, len) == 0) {
    return s + len;
  }
  return nullptr;
}

const char* Match(MatchState* ms, const char* s, const char* p) {
  if (ms->matchdepth-- == 0) luaL_error(ms->L, "pattern too complex");
  for (;;) {
    Step(ms, 1);
    if (p == ms->p_end) break;  // end of pattern
    bool dflt = false;
    switch (*p) {
      case '(':
        s = *(p + 1) == ')' ? StartCapture(ms, s, p + 2, kCapPosition)
                            : StartCapture(ms, s, p + 1, kCapUnfinished);
        break;
      case ')': s = EndCapture(ms, s, p + 1); break;
      case '$':
        if (p + 1 != ms->p_end) {
          dflt = true;  // a '$' that is not the last character is literal
          break;
        }
        s = s == ms->src_end ? s : nullptr;
        break;
      case kEsc:
        switch (*(p + 1)) {
          case 'b':
            s = MatchBalance(ms, s, p + 2);
            if (s != nullptr) {
              p += 4;
              continue;
            }
            break;
          case 'f': {
            p += 2;
            if (*p != '[') luaL_error(ms->L, "missing '[' after '%%f' in pattern");
            const char* ep = ClassEnd(ms, p);
            char previous = s == ms->src_init ? '\0' : *(s - 1);
            // At the end of the subject *s is the string's terminating '\0'.
            if (!MatchBracketClass(Uchar(previous), p, ep - 1) &&
                MatchBracketClass(Uchar(*s), p, ep - 1)) {
              p = ep;
              continue;
            }
            s = nullptr;
            break;
          }
          case '0':
          case '1':
          case '2':
          case '3':
          case '4':
          case '5':
          case '6':
          case '7':
          case '8':
          case '9':
            s = MatchCapture(ms, s, Uchar(*(p + 1)));
            if (s != nullptr) {
              p += 2;
              continue;
            }
            break;
          default: dflt = true; break;
        }
        break;
      default: dflt = true; break;
    }
    if (!dflt) break;
    const char* ep = ClassEnd(ms, p);  // points to the optional suffix
    if (!SingleMatch(ms, s, p, ep)) {
      if (*ep == '*' || *ep == '?' || *ep == '-') {  // accept an empty match
        p = ep + 1;
        continue;
      }
      s = nullptr;
      break;
    }
    if (*ep == '?') {
      const char* res = Match(ms, s + 1, ep + 1);
      if (res != nullptr) {
        s = res;
        break;
      }
      p = ep + 1;
      continue;
    }
    if (*ep == '+') {
      s = MaxExpand(ms, s + 1, p, ep);
      break;
    }
    if (*ep == '*') {
      s = MaxExpand(ms, s, p, ep);
      break;
    }
    if (*ep == '-') {
      s = MinExpand(ms, s, p, ep);
      break;
    }
    s++;  // a single character matched; go on
    p = ep;
  }
  ms->matchdepth++;
  return s;
}

// Position of a capture or, for i == 0 without captures, the whole match.
// Returns its length (kCapPosition when a position was pushed).
ptrdiff_t GetOneCapture(MatchState* ms, int i, const char* s, const char* e, const char** cap) {
  if (i >= ms->level) {
    if (i != 0) luaL_error(ms->L, "invalid capture index %%%d", i + 1);
    *cap = s;
    return e - s;
  }
  ptrdiff_t capl = ms->capture[i].len;
  *cap = ms->capture[i].init;
  if (capl == kCapUnfinished) {
    luaL_error(ms->L, "unfinished capture");
  } else if (capl == kCapPosition) {
    lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
  }
  return capl;
}

void PushOneCapture(MatchState* ms, int i, const char* s, const char* e) {
  const char* cap = nullptr;
  ptrdiff_t l = GetOneCapture(ms, i, s, e, &cap);
  if (l != kCapPosition) lua_pushlstring(ms->L, cap, static_cast<size_t>(l));
}

int PushCaptures(MatchState* ms, const char* s, const char* e) {
  int nlevels = (ms->level == 0 && s != nullptr) ? 1 : ms->level;
  luaL_checkstack(ms->L, nlevels, "too many captures");
  for (int i = 0; i < nlevels; i++) PushOneCapture(ms, i, s, e);
  return nlevels;
}

bool NoSpecials(const char* p, size_t l) {
  size_t upto = 0;
  do {
    if (std::strpbrk(p + upto, kSpecials) != nullptr) return false;
    upto += std::strlen(p + upto) + 1;  // may have more after a '\0'
  } while (upto <= l);
  return true;
}

// Plain substring search; each candidate position is charged.
const char* MemFind(MatchState* ms, const char* s1, size_t l1, const char* s2, size_t l2) {
  if (l2 == 0) return s1;
  if (l2 > l1) return nullptr;
  l2--;  // the first character is found by memchr
  l1 -= l2;
  const void* found = nullptr;
  while (l1 > 0 && (found = std::memchr(s1, *s2, l1)) != nullptr) {
    const char* init = static_cast<const char*>(found) + 1;
    Step(ms, 1 + static_cast<int64_t>(l2 / 16));
    if (std::memcmp(init, s2 + 1, l2) == 0) return init - 1;
    l1 -= static_cast<size_t>(init - s1);
    s1 = init;
  }
  return nullptr;
}

size_t PosRelat(lua_Integer pos, size_t len) {
  if (pos > 0) return static_cast<size_t>(pos);
  if (pos == 0) return 1;
  if (pos < -static_cast<lua_Integer>(len)) return 1;
  return len + static_cast<size_t>(pos) + 1;
}

void PrepState(MatchState* ms, lua_State* L, const char* s, size_t ls, const char* p, size_t lp) {
  ms->L = L;
  ms->matchdepth = kMaxMatchDepth;
  ms->src_init = s;
  ms->src_end = s + ls;
  ms->p_end = p + lp;
  ms->level = 0;
  ms->steps = 0;
}

void ReprepState(MatchState* ms) {
  ms->level = 0;
  ms->matchdepth = kMaxMatchDepth;
}

int FindAux(lua_State* L, bool find) {
  size_t ls = 0, lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  size_t init = PosRelat(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {
    lua_pushnil(L);
    return 1;
  }
  MatchState ms;
  PrepState(&ms, L, s, ls, p, lp);
  if (find && (lua_toboolean(L, 4) || NoSpecials(p, lp))) {
    const char* s2 = MemFind(&ms, s + init, ls - init, p, lp);
    ChargeRest(&ms);
    if (s2 != nullptr) {
      lua_pushinteger(L, (s2 - s) + 1);
      lua_pushinteger(L, static_cast<lua_Integer>((s2 - s) + lp));
      return 2;
    }
  } else {
    const char* s1 = s + init;
    bool anchor = *p == '^';
    if (anchor) {
      p++;
      lp--;
    }
    PrepState(&ms, L, s, ls, p, lp);
    do {
      ReprepState(&ms);
      const char* res = Match(&ms, s1, p);
      if (res != nullptr) {
        ChargeRest(&ms);
        if (find) {
          lua_pushinteger(L, (s1 - s) + 1);
          lua_pushinteger(L, res - s);
          return PushCaptures(&ms, nullptr, nullptr) + 2;
        }
        return PushCaptures(&ms, s1, res);
      }
    } while (s1++ < ms.src_end && !anchor);
    ChargeRest(&ms);
  }
  lua_pushnil(L);
  return 1;
}

struct GmatchState {
  const char* src;        // current position
  const char* p;          // pattern
  const char* lastmatch;  // end of the last match
  MatchState ms;
};

int GmatchAux(lua_State* L) {
  auto* gm = static_cast<GmatchState*>(lua_touserdata(L, lua_upvalueindex(3)));
  gm->ms.L = L;
  for (const char* src = gm->src; src <= gm->ms.src_end; src++) {
    ReprepState(&gm->ms);
    const char* e = Match(&gm->ms, src, gm->p);
    if (e != nullptr && e != gm->lastmatch) {
      gm->src = gm->lastmatch = e;
      ChargeRest(&gm->ms);
      return PushCaptures(&gm->ms, src, e);
    }
  }
  ChargeRest(&gm->ms);
  return 0;
}

// Appends the replacement string (argument 3) with %0-%9 and %% expanded.
void AddString(MatchState* ms, luaL_Buffer* b, const char* s, const char* e) {
  lua_State* L = ms->L;
  size_t l = 0;
  const char* news = lua_tolstring(L, 3, &l);
  const char* p = nullptr;
  while ((p = static_cast<const char*>(std::memchr(news, kEsc, l))) != nullptr) {
    luaL_addlstring(b, news, static_cast<size_t>(p - news));
    p++;  // skip the escape
    if (*p == kEsc) {
      luaL_addchar(b, *p);
    } else if (*p == '0') {
      luaL_addlstring(b, s, static_cast<size_t>(e - s));
    } else if (std::isdigit(Uchar(*p))) {
      const char* cap = nullptr;
      ptrdiff_t resl = GetOneCapture(ms, *p - '1', s, e, &cap);
      if (resl == kCapPosition) {
        luaL_addvalue(b);
      } else {
        luaL_addlstring(b, cap, static_cast<size_t>(resl));
      }
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", kEsc);
    }
    l -= static_cast<size_t>(p + 1 - news);
    news = p + 1;
  }
  luaL_addlstring(b, news, l);
}

// Adds the replacement of the match s..e; false when the original is kept.
bool AddValue(MatchState* ms, luaL_Buffer* b, const char* s, const char* e, int tr) {
  lua_State* L = ms->L;
  switch (tr) {
    case LUA_TFUNCTION: {
      lua_pushvalue(L, 3);
      int n = PushCaptures(ms, s, e);
      lua_call(L, n, 1);
      break;
    }
    case LUA_TTABLE:
      PushOneCapture(ms, 0, s, e);
      lua_gettable(L, 3);
      break;
    default: AddString(ms, b, s, e); return true;
  }
  if (!lua_toboolean(L, -1)) {  // nil or false: keep the original text
    lua_pop(L, 1);
    luaL_addlstring(b, s, static_cast<size_t>(e - s));
    return false;
  }
  if (!lua_isstring(L, -1)) {
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  }
  luaL_addvalue(b);
  return true;
}

}  // namespace

int PatternFind(lua_State* L) { return FindAux(L, true); }
int PatternMatch(lua_State* L) { return FindAux(L, false); }

int PatternGmatch(lua_State* L) {
  size_t ls = 0, lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  size_t init = PosRelat(luaL_optinteger(L, 3, 1), ls) - 1;
  lua_settop(L, 2);  // the closure keeps both strings alive
  auto* gm = static_cast<GmatchState*>(lua_newuserdatauv(L, sizeof(GmatchState), 0));
  if (init > ls) init = ls + 1;  // start after the end: no match
  PrepState(&gm->ms, L, s, ls, p, lp);
  gm->src = s + init;
  gm->p = p;
  gm->lastmatch = nullptr;
  lua_pushcclosure(L, GmatchAux, 3);
  return 1;
}

int PatternGsub(lua_State* L) {
  size_t srcl = 0, lp = 0;
  const char* src = luaL_checklstring(L, 1, &srcl);
  const char* p = luaL_checklstring(L, 2, &lp);
  const char* lastmatch = nullptr;
  int tr = lua_type(L, 3);
  lua_Integer max_s = luaL_optinteger(L, 4, static_cast<lua_Integer>(srcl) + 1);
  bool anchor = *p == '^';
  lua_Integer n = 0;
  bool changed = false;
  luaL_argexpected(
      L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
      "string/function/table");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (anchor) {
    p++;
    lp--;
  }
  MatchState ms;
  PrepState(&ms, L, src, srcl, p, lp);
  while (n < max_s) {
    ReprepState(&ms);
    const char* e = Match(&ms, src, p);
    if (e != nullptr && e != lastmatch) {
      n++;
      changed = AddValue(&ms, &b, src, e, tr) || changed;
      src = lastmatch = e;
    } else if (src < ms.src_end) {
      luaL_addchar(&b, *src++);
    } else {
      break;
    }
    if (anchor) break;
  }
  ChargeRest(&ms);
  if (!changed) {
    lua_pushvalue(L, 1);  // nothing replaced: return the original
  } else {
    luaL_addlstring(&b, src, static_cast<size_t>(ms.src_end - src));
    luaL_pushresult(&b);
  }
  lua_pushinteger(L, n);
  return 2;
}

}  // namespace sluice::functions::internal
