// Text helpers shared by the command-line commands (app/messages_command.h,
// app/api_commands.h): table cells and tables, short durations, timestamps and
// shell words for the "next page" hints. Pure functions, no state.
#pragma once

#include <chrono>
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"

namespace sluice::app {

// "2026-11-27T10:00:00.123Z" (UTC, milliseconds).
std::string IsoMillis(WallTime t);

// A duration for people, two units at most: "0s", "41s", "2m03s", "2h05m",
// "3d04h". Negative durations count as 0.
std::string ShortDuration(std::chrono::milliseconds d);

// One line of at most `width` characters (code points): control characters
// become spaces, ill-formed UTF-8 bytes '?', and a longer text is cut with
// "...".
std::string Cell(std::string_view text, size_t width);

// The number of code points of UTF-8 `text` (its width in a table).
size_t DisplayChars(std::string_view text);

// Prints rows as left-aligned columns two spaces apart (the first row is
// usually the header). Cells are printed as given: pass them through Cell().
void PrintTable(const std::vector<std::vector<std::string>>& rows, std::ostream& out);

// A word for a shell command line, single-quoted when it needs to be.
std::string ShellWord(const std::string& word);

}  // namespace sluice::app
