#include "app/cli_text.h"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>

#include "api/render.h"
#include "base/json_text.h"

namespace sluice::app {

std::string IsoMillis(WallTime t) { return api::FormatTime(t); }

std::string ShortDuration(std::chrono::milliseconds d) {
  int64_t s = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(d).count());
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  }
  return buf;
}

std::string Cell(std::string_view text, size_t width) {
  std::string out;
  size_t chars = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (chars == width) break;
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      out.push_back('?');
      ++i;
    } else if (n == 1 && (static_cast<unsigned char>(text[i]) < 0x20 || text[i] == 0x7f)) {
      out.push_back(' ');
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
    ++chars;
  }
  if (i < text.size() && width >= 3) {
    // Replace the last three characters by "...".
    size_t cut = out.size();
    for (int k = 0; k < 3 && cut > 0; ++k) {
      do {
        --cut;
      } while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80);
    }
    out.resize(cut);
    out += "...";
  }
  return out;
}

size_t DisplayChars(std::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

void PrintTable(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], DisplayChars(row[c]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - DisplayChars(row[c]) + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string ShellWord(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-_./=:@+,").find(c) != std::string_view::npos;
  });
  if (plain) return word;
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

}  // namespace sluice::app
