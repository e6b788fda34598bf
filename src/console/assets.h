// The web console's files, embedded in the binary at build time
// (web/console/*, turned into a generated .cc by cmake/embed_assets.cmake), so
// the console needs nothing from the network at runtime.
#pragma once

#include <string_view>

namespace sluice::console {

struct Asset {
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view body;
};

// `path` is the request path: "/" and "/index.html" give the page, "/app.js"
// etc. the other files. nullptr for anything else.
const Asset* FindAsset(std::string_view path);

}  // namespace sluice::console
