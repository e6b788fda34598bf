#include "config/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include "config/postgres_url.h"
#include "config/substitute.h"

namespace sluice::config {
namespace {

// Whether ${VAR} references are replaced (everywhere but function code).
enum class Substitution { kApply, kNone };
enum class Presence { kOptional, kRequired };

constexpr size_t kMaxErrors = 50;
constexpr size_t kMaxEchoedChars = 60;
constexpr uintmax_t kMaxFunctionFileBytes = 1 << 20;
constexpr size_t kMaxPostgresIdentifierBytes = 63;  // NAMEDATALEN - 1

int LineOf(const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// A short, printable rendering of a non-secret value for "got ..." in messages.
// Callers never pass a secret's value.
std::string Printable(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < kMaxEchoedChars; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      out.push_back('?');
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (text.size() > kMaxEchoedChars) out += "...";
  return out;
}

std::string Quote(std::string_view text) { return "\"" + Printable(text) + "\""; }

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "null";
    default: return "a scalar";
  }
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string Suggestion(std::string_view key, const std::vector<std::string_view>& known) {
  if (key.size() > 64) return "";
  std::string_view best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (std::string_view candidate : known) {
    size_t d = EditDistance(key, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  size_t allowed = std::max<size_t>(1, std::min(key.size(), best.size()) / 3);
  if (best.empty() || best_distance > allowed) return "";
  return std::string(best);
}

std::string KnownList(const std::vector<std::string_view>& known) {
  std::string out;
  for (std::string_view k : known) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

bool IsQualifiedTableName(std::string_view name) {
  size_t dot = name.find('.');
  return dot != std::string_view::npos && dot > 0 && dot + 1 < name.size() &&
         name.find('.', dot + 1) == std::string_view::npos;
}

bool IsSinkNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

bool IsSlotName(std::string_view name) {
  if (name.empty() || name.size() > kMaxPostgresIdentifierBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// ${VAR} references are written anywhere, also inside flow collections, where
// the YAML grammar would otherwise end a plain scalar at their '}' (as in
// `api: {token: ${TOKEN}}`). Before parsing, each well-formed reference is
// swapped for a placeholder the parser treats as ordinary text: U+E000 (a
// private-use character), the reference's index, U+E000. Scalars get their
// references back before substitution, so function code keeps them verbatim
// and line numbers are unchanged (a reference never spans lines).
constexpr std::string_view kPlaceholderMark = "\xEE\x80\x80";  // U+E000 in UTF-8

bool IsVarNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsVarNameChar(char c) { return IsVarNameStart(c) || (c >= '0' && c <= '9'); }

// Length of the well-formed reference starting at text[i] ("${"), or 0.
size_t ReferenceLength(std::string_view text, size_t i) {
  size_t j = i + 2;
  if (j >= text.size() || !IsVarNameStart(text[j])) return 0;
  while (j < text.size() && IsVarNameChar(text[j])) ++j;
  if (j < text.size() && text[j] == '}') return j + 1 - i;
  if (text.substr(j, 2) != ":-") return 0;
  size_t close = text.find_first_of("}\n", j + 2);
  if (close == std::string_view::npos || text[close] != '}') return 0;
  return close + 1 - i;
}

std::string ProtectReferences(std::string_view text, std::vector<std::string>* references) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '$') {
      out += "$$";
      i += 2;
      continue;
    }
    size_t length = text.substr(i, 2) == "${" ? ReferenceLength(text, i) : 0;
    if (length == 0) {
      out.push_back(text[i++]);
      continue;
    }
    out += kPlaceholderMark;
    out += std::to_string(references->size());
    out += kPlaceholderMark;
    references->emplace_back(text.substr(i, length));
    i += length;
  }
  return out;
}

std::string RestoreReferences(std::string_view text, const std::vector<std::string>& references) {
  if (text.find(kPlaceholderMark) == std::string_view::npos) return std::string(text);
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = text.find(kPlaceholderMark, i);
    if (start == std::string_view::npos) break;
    size_t digits = start + kPlaceholderMark.size();
    size_t end = digits;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    size_t index = references.size();
    if (end > digits && end - digits < 10 &&
        text.substr(end, kPlaceholderMark.size()) == kPlaceholderMark) {
      index = std::stoul(std::string(text.substr(digits, end - digits)));
    }
    if (index >= references.size()) {  // not one of ours: keep the text
      out.append(text.substr(i, digits - i));
      i = digits;
      continue;
    }
    out.append(text.substr(i, start - i));
    out += references[index];
    i = end + kPlaceholderMark.size();
  }
  out.append(text.substr(i));
  return out;
}

// One `key: value` of a YAML map, with the key path used in messages.
struct Entry {
  YAML::Node key;
  YAML::Node value;
  std::string path;
};

class Loader;

// The entries of one YAML map, checked against its known keys: reports a
// non-map node, unknown keys (with the closest known key) and duplicate keys.
class MapReader {
 public:
  MapReader(Loader& loader, const YAML::Node& node, std::string path,
            std::vector<std::string_view> known);

  bool ok() const { return ok_; }
  // The entry for `key`, or nullptr when the key is absent or its value null.
  const Entry* Find(std::string_view key) const;
  int line() const { return line_; }
  const std::string& path() const { return path_; }

 private:
  std::vector<Entry> entries_;
  std::string path_;
  int line_ = 0;
  bool ok_ = false;
};

class Loader {
 public:
  Loader(std::string source, std::string base_dir, const Environment& env)
      : source_(std::move(source)), base_dir_(std::move(base_dir)), env_(env) {}

  Result<Settings> Load(const std::string& yaml);

  void Fail(int line, const std::string& path, const std::string& what) {
    std::string text = source_;
    if (line > 0) text += ":" + std::to_string(line);
    text += ": ";
    if (!path.empty()) text += path + ": ";
    text += what;
    errors_.push_back({line, std::move(text)});
  }

  // `text` with ${VAR} references put back (see ProtectReferences).
  std::string Restore(std::string_view text) const { return RestoreReferences(text, references_); }

  // The text of a scalar (after ${VAR} substitution), or nullopt after
  // reporting a non-scalar or a substitution error.
  // Messages name the key and the kind of value, never the value itself, so
  // this is also the reader for secrets.
  std::optional<std::string> ScalarText(const Entry& e,
                                        Substitution substitution = Substitution::kApply);

 private:
  // Typed readers for `key` of map `m`. Each reports its own errors and leaves
  // *out untouched when the key is absent, null or invalid.
  bool ReadString(const MapReader& m, std::string_view key, std::string* out, Presence presence,
                  Substitution substitution = Substitution::kApply);
  bool ReadSecret(const MapReader& m, std::string_view key, Secret* out);
  template <typename Int>
  bool ReadInt(const MapReader& m, std::string_view key, Int* out, int64_t min, int64_t max);
  bool ReadBool(const MapReader& m, std::string_view key, bool* out);
  template <typename E>
  bool ReadEnum(const MapReader& m, std::string_view key, E* out,
                std::initializer_list<std::pair<std::string_view, E>> values);
  // Items of a list value, each with its path key[i]; reports a non-list.
  std::vector<Entry> Items(const Entry& e);
  std::optional<std::vector<std::pair<std::string, const Entry*>>> ReadStringList(
      const MapReader& m, std::string_view key, std::vector<Entry>* storage);

  void LoadRoot(const YAML::Node& root, Settings* settings);
  void LoadApi(const Entry& e, ApiSettings* api);
  void LoadDatabase(const Entry& e, DatabaseSettings* db);
  void LoadFunction(const Entry& e, FunctionSettings* fn);
  void LoadSink(const Entry& e, const Settings& settings, SinkSettings* sink);
  void LoadSource(const Entry& e, SinkSettings* sink);
  void LoadTable(const Entry& e, TableSettings* table);
  void LoadInitialBackfill(const Entry& e, SinkSettings* sink);
  void LoadBackfillSpec(const Entry& e, const SinkSettings& sink, BackfillSpec* spec);
  void LoadDestination(const Entry& e, KinesisDestination* dest);
  void CheckFunctionReference(const MapReader& m, std::string_view key, const Settings& settings,
                              std::initializer_list<std::string_view> types, std::string* out);

  std::string source_;
  std::string base_dir_;
  const Environment& env_;
  std::vector<std::pair<int, std::string>> errors_;
  std::vector<std::string> references_;  // see ProtectReferences
};

MapReader::MapReader(Loader& loader, const YAML::Node& node, std::string path,
                     std::vector<std::string_view> known)
    : path_(std::move(path)), line_(LineOf(node)) {
  if (!node.IsMap()) {
    loader.Fail(line_, path_, std::string("must be a map, got ") + KindName(node));
    return;
  }
  ok_ = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    YAML::Node key = it->first;  // a copy: `it->` yields a temporary proxy
    if (!key.IsScalar()) {
      loader.Fail(LineOf(key), path_, "keys must be plain strings");
      continue;
    }
    const std::string& name = key.Scalar();
    std::string key_path = Join(path_, loader.Restore(name));
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string hint = Suggestion(name, known);
      loader.Fail(LineOf(key), key_path,
                  hint.empty() ? "unknown key (known keys: " + KnownList(known) + ")"
                               : "unknown key; did you mean \"" + hint + "\"?");
      continue;
    }
    auto previous = std::find_if(entries_.begin(), entries_.end(),
                                 [&](const Entry& e) { return e.key.Scalar() == name; });
    if (previous != entries_.end()) {
      loader.Fail(
          LineOf(key), key_path,
          "duplicate key (first given at line " + std::to_string(LineOf(previous->key)) + ")");
      continue;
    }
    YAML::Node value = it->second;
    entries_.push_back({key, value, key_path});
  }
}

const Entry* MapReader::Find(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key.Scalar() == key) return e.value.IsNull() ? nullptr : &e;
  }
  return nullptr;
}

std::optional<std::string> Loader::ScalarText(const Entry& e, Substitution substitution) {
  if (!e.value.IsScalar()) {
    Fail(LineOf(e.value), e.path, std::string("must be a string, got ") + KindName(e.value));
    return std::nullopt;
  }
  std::string text = RestoreReferences(e.value.Scalar(), references_);
  if (substitution == Substitution::kNone) return text;
  auto substituted = SubstituteVariables(text, env_);
  if (!substituted.ok()) {
    Fail(LineOf(e.value), e.path, substituted.error().message());
    return std::nullopt;
  }
  return std::move(substituted).value();
}

bool Loader::ReadString(const MapReader& m, std::string_view key, std::string* out,
                        Presence presence, Substitution substitution) {
  const Entry* e = m.Find(key);
  if (e == nullptr) {
    if (presence == Presence::kRequired) Fail(m.line(), Join(m.path(), key), "missing (required)");
    return false;
  }
  auto text = ScalarText(*e, substitution);
  if (!text) return false;
  if (presence == Presence::kRequired && text->empty()) {
    Fail(LineOf(e->value), e->path, "must not be empty");
    return false;
  }
  *out = std::move(*text);
  return true;
}

bool Loader::ReadSecret(const MapReader& m, std::string_view key, Secret* out) {
  const Entry* e = m.Find(key);
  if (e == nullptr) return false;
  auto text = ScalarText(*e);
  if (!text) return false;
  *out = Secret(std::move(*text));
  return true;
}

template <typename Int>
bool Loader::ReadInt(const MapReader& m, std::string_view key, Int* out, int64_t min, int64_t max) {
  const Entry* e = m.Find(key);
  if (e == nullptr) return false;
  auto text = ScalarText(*e);
  if (!text) return false;
  int64_t value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  std::string range =
      max == std::numeric_limits<int64_t>::max()
          ? "must be at least " + std::to_string(min)
          : "must be between " + std::to_string(min) + " and " + std::to_string(max);
  if (text->empty() || ptr != end || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    Fail(LineOf(e->value), e->path, "must be an integer, got " + Quote(*text));
    return false;
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    Fail(LineOf(e->value), e->path, range + ", got " + Printable(*text));
    return false;
  }
  *out = static_cast<Int>(value);
  return true;
}

bool Loader::ReadBool(const MapReader& m, std::string_view key, bool* out) {
  const Entry* e = m.Find(key);
  if (e == nullptr) return false;
  auto text = ScalarText(*e);
  if (!text) return false;
  if (*text == "true" || *text == "True" || *text == "TRUE") {
    *out = true;
  } else if (*text == "false" || *text == "False" || *text == "FALSE") {
    *out = false;
  } else {
    Fail(LineOf(e->value), e->path, "must be true or false, got " + Quote(*text));
    return false;
  }
  return true;
}

template <typename E>
bool Loader::ReadEnum(const MapReader& m, std::string_view key, E* out,
                      std::initializer_list<std::pair<std::string_view, E>> values) {
  const Entry* e = m.Find(key);
  if (e == nullptr) return false;
  auto text = ScalarText(*e);
  if (!text) return false;
  std::string names;
  for (const auto& [name, value] : values) {
    if (*text == name) {
      *out = value;
      return true;
    }
    names += names.empty() ? "" : ", ";
    names += name;
  }
  Fail(LineOf(e->value), e->path, "must be one of " + names + ", got " + Quote(*text));
  return false;
}

std::vector<Entry> Loader::Items(const Entry& e) {
  std::vector<Entry> items;
  if (!e.value.IsSequence()) {
    Fail(LineOf(e.value), e.path, std::string("must be a list, got ") + KindName(e.value));
    return items;
  }
  size_t i = 0;
  for (auto it = e.value.begin(); it != e.value.end(); ++it) {
    YAML::Node item = *it;
    items.push_back({e.key, item, Index(e.path, i++)});
  }
  return items;
}

std::optional<std::vector<std::pair<std::string, const Entry*>>> Loader::ReadStringList(
    const MapReader& m, std::string_view key, std::vector<Entry>* storage) {
  const Entry* e = m.Find(key);
  if (e == nullptr) return std::nullopt;
  *storage = Items(*e);
  std::vector<std::pair<std::string, const Entry*>> out;
  for (const Entry& item : *storage) {
    auto text = ScalarText(item);
    if (!text) continue;
    if (text->empty()) {
      Fail(LineOf(item.value), item.path, "must not be empty");
      continue;
    }
    out.emplace_back(std::move(*text), &item);
  }
  return out;
}

Result<Settings> Loader::Load(const std::string& yaml) {
  Settings settings;
  settings.config_path = source_;
  try {
    YAML::Node root = YAML::Load(ProtectReferences(yaml, &references_));
    LoadRoot(root, &settings);
  } catch (const YAML::Exception& e) {
    int line = e.mark.is_null() ? 0 : e.mark.line + 1;
    Fail(line, "", "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    Fail(0, "", std::string("invalid YAML: ") + e.what());
  }
  if (errors_.empty()) return settings;
  std::stable_sort(errors_.begin(), errors_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string message;
  for (size_t i = 0; i < errors_.size() && i < kMaxErrors; ++i) {
    if (i > 0) message += "\n";
    message += errors_[i].second;
  }
  if (errors_.size() > kMaxErrors) {
    message += "\n... and " + std::to_string(errors_.size() - kMaxErrors) + " more errors";
  }
  return Error(ErrorCode::kConfig, message);
}

void Loader::LoadRoot(const YAML::Node& root, Settings* settings) {
  if (root.IsNull()) {
    Fail(0, "", "the config is empty; it needs at least databases and sinks");
    return;
  }
  MapReader m(*this, root, "",
              {"data_dir", "max_memory_mb", "spill_after_ms", "shutdown_timeout_ms", "store_sync",
               "api", "databases", "functions", "sinks"});
  if (!m.ok()) return;
  ReadString(m, "data_dir", &settings->data_dir, Presence::kOptional);
  if (settings->data_dir.empty()) settings->data_dir = Settings().data_dir;
  ReadInt(m, "max_memory_mb", &settings->max_memory_mb, 16, 1 << 20);
  int64_t ms = 0;
  if (ReadInt(m, "spill_after_ms", &ms, 1, 86'400'000)) {
    settings->spill_after = std::chrono::milliseconds(ms);
  }
  if (ReadInt(m, "shutdown_timeout_ms", &ms, 0, 3'600'000)) {
    settings->shutdown_timeout = std::chrono::milliseconds(ms);
  }
  ReadEnum(m, "store_sync", &settings->store_sync,
           {{"full", StoreSync::kFull}, {"normal", StoreSync::kNormal}});
  if (const Entry* e = m.Find("api")) LoadApi(*e, &settings->api);

  // Databases.
  std::vector<int> database_lines;
  if (const Entry* e = m.Find("databases")) {
    for (const Entry& item : Items(*e)) {
      DatabaseSettings db;
      LoadDatabase(item, &db);
      settings->databases.push_back(std::move(db));
      database_lines.push_back(LineOf(item.value));
    }
    if (e->value.IsSequence() && e->value.size() == 0) {
      Fail(LineOf(e->value), e->path, "must list at least one database");
    }
  } else {
    Fail(0, "databases", "missing (required): list at least one database");
  }
  for (size_t i = 0; i < settings->databases.size(); ++i) {
    const auto& db = settings->databases[i];
    for (size_t j = 0; j < i; ++j) {
      const auto& other = settings->databases[j];
      if (!db.name.empty() && db.name == other.name) {
        Fail(database_lines[i], Index("databases", i) + ".name",
             "duplicate name " + Quote(db.name) + " (first given at line " +
                 std::to_string(database_lines[j]) + ")");
      } else if (!db.host.empty() && db.host == other.host && db.port == other.port &&
                 db.database == other.database && db.slot_name == other.slot_name) {
        Fail(database_lines[i], Index("databases", i) + ".slot.name",
             "databases[" + std::to_string(j) + "] already uses replication slot " +
                 Quote(db.slot_name) + " on the same database; give each entry its own slot");
      }
    }
  }

  // Functions.
  if (const Entry* e = m.Find("functions")) {
    for (const Entry& item : Items(*e)) {
      FunctionSettings fn;
      LoadFunction(item, &fn);
      for (const auto& other : settings->functions) {
        if (!fn.name.empty() && fn.name == other.name) {
          Fail(fn.line, item.path + ".name",
               "duplicate name " + Quote(fn.name) + " (first given at line " +
                   std::to_string(other.line) + ")");
        }
      }
      settings->functions.push_back(std::move(fn));
    }
  }

  // Sinks.
  if (const Entry* e = m.Find("sinks")) {
    std::vector<int> lines;
    for (const Entry& item : Items(*e)) {
      SinkSettings sink;
      LoadSink(item, *settings, &sink);
      for (size_t j = 0; j < settings->sinks.size(); ++j) {
        if (!sink.name.empty() && sink.name == settings->sinks[j].name) {
          Fail(LineOf(item.value), item.path + ".name",
               "duplicate name " + Quote(sink.name) + " (first given at line " +
                   std::to_string(lines[j]) + ")");
        }
      }
      settings->sinks.push_back(std::move(sink));
      lines.push_back(LineOf(item.value));
    }
    if (e->value.IsSequence() && e->value.size() == 0) {
      Fail(LineOf(e->value), e->path, "must list at least one sink");
    }
  } else {
    Fail(0, "sinks", "missing (required): list at least one sink");
  }
}

void Loader::LoadApi(const Entry& e, ApiSettings* api) {
  MapReader m(*this, e.value, e.path, {"listen", "token"});
  if (!m.ok()) return;
  if (ReadString(m, "listen", &api->listen, Presence::kRequired)) {
    const std::string& listen = api->listen;
    size_t colon = listen.rfind(':');
    bool ok = colon != std::string::npos && colon > 0;
    int port = 0;
    if (ok) {
      std::string_view port_text = std::string_view(listen).substr(colon + 1);
      auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
      ok = ec == std::errc() && ptr == port_text.data() + port_text.size() && port >= 1 &&
           port <= 65535;
    }
    if (ok && listen[0] == '[') ok = listen[colon - 1] == ']' && colon > 2;
    if (!ok) {
      Fail(LineOf(m.Find("listen")->value), m.Find("listen")->path,
           "must be host:port with a port from 1 to 65535 (e.g. 127.0.0.1:7376 or [::1]:7376), "
           "got " +
               Quote(listen));
    }
  }
  if (ReadSecret(m, "token", &api->token)) {
    const std::string& token = api->token.Reveal();
    const bool printable =
        std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (!printable) {
      // Never quote the value: it is a secret.
      Fail(LineOf(m.Find("token")->value), m.Find("token")->path,
           "must be printable ASCII without spaces (a bearer token), and is not");
    }
  }
}

void Loader::LoadDatabase(const Entry& e, DatabaseSettings* db) {
  MapReader m(*this, e.value, e.path,
              {"name", "url", "hostname", "port", "database", "username", "password", "ssl",
               "sslmode", "slot", "publication"});
  if (!m.ok()) return;
  ReadString(m, "name", &db->name, Presence::kRequired);

  std::string url_sslmode;
  if (const Entry* url = m.Find("url")) {
    for (std::string_view field : {"hostname", "port", "database", "username", "password"}) {
      if (const Entry* other = m.Find(field)) {
        Fail(LineOf(other->key), other->path,
             "cannot be combined with url; give either url or the separate fields");
      }
    }
    if (auto text = ScalarText(*url)) {
      auto parsed = ParsePostgresUrl(*text);
      if (!parsed.ok()) {
        Fail(LineOf(url->value), url->path, parsed.error().message());
      } else {
        PostgresUrl& u = parsed.value();
        if (u.host.empty()) Fail(LineOf(url->value), url->path, "has no host");
        if (u.database.empty()) Fail(LineOf(url->value), url->path, "has no database name");
        if (u.username.empty()) Fail(LineOf(url->value), url->path, "has no user name");
        db->host = u.host;
        if (u.port) db->port = *u.port;
        db->database = u.database;
        db->username = u.username;
        db->password = u.password;
        db->sslmode = url_sslmode = u.sslmode;
      }
    }
  } else {
    ReadString(m, "hostname", &db->host, Presence::kRequired);
    ReadInt(m, "port", &db->port, 1, 65535);
    ReadString(m, "database", &db->database, Presence::kRequired);
    ReadString(m, "username", &db->username, Presence::kRequired);
    ReadSecret(m, "password", &db->password);
  }

  std::string sslmode;
  if (ReadString(m, "sslmode", &sslmode, Presence::kOptional)) {
    const Entry* entry = m.Find("sslmode");
    if (!IsValidSslMode(sslmode)) {
      Fail(LineOf(entry->value), entry->path,
           "must be one of disable, allow, prefer, require, verify-ca, verify-full, got " +
               Quote(sslmode));
    } else if (!url_sslmode.empty() && url_sslmode != sslmode) {
      Fail(LineOf(entry->value), entry->path, "contradicts the sslmode given in url");
    } else {
      db->sslmode = sslmode;
    }
  }
  bool ssl = false;
  if (ReadBool(m, "ssl", &ssl)) {
    const Entry* entry = m.Find("ssl");
    if (!db->sslmode.empty() && (db->sslmode == "disable") == ssl) {
      Fail(LineOf(entry->value), entry->path,
           "contradicts sslmode " + Quote(db->sslmode) + "; give one of ssl or sslmode");
    } else if (db->sslmode.empty()) {
      db->sslmode = ssl ? "require" : "disable";
    }
  }

  if (const Entry* slot = m.Find("slot")) {
    MapReader s(*this, slot->value, slot->path, {"name", "create_if_not_exists"});
    if (s.ok()) {
      if (ReadString(s, "name", &db->slot_name, Presence::kRequired) &&
          !IsSlotName(db->slot_name)) {
        Fail(LineOf(s.Find("name")->value), s.Find("name")->path,
             "a replication slot name may contain only lower-case letters, digits and '_' "
             "(at most 63), got " +
                 Quote(db->slot_name));
      }
      ReadBool(s, "create_if_not_exists", &db->slot_create_if_not_exists);
    }
  }
  if (const Entry* publication = m.Find("publication")) {
    MapReader p(*this, publication->value, publication->path, {"name", "create_if_not_exists"});
    if (p.ok()) {
      if (ReadString(p, "name", &db->publication_name, Presence::kRequired) &&
          db->publication_name.size() > kMaxPostgresIdentifierBytes) {
        Fail(LineOf(p.Find("name")->value), p.Find("name")->path,
             "a publication name may be at most 63 bytes");
      }
      ReadBool(p, "create_if_not_exists", &db->publication_create_if_not_exists);
    }
  }
}

void Loader::LoadFunction(const Entry& e, FunctionSettings* fn) {
  fn->line = LineOf(e.value);
  MapReader m(*this, e.value, e.path, {"name", "type", "code", "file", "path", "description"});
  if (!m.ok()) return;
  ReadString(m, "name", &fn->name, Presence::kRequired);
  ReadString(m, "description", &fn->description, Presence::kOptional);
  std::string type;
  if (ReadString(m, "type", &type, Presence::kRequired)) {
    if (type != "transform" && type != "filter" && type != "routing" && type != "path") {
      Fail(LineOf(m.Find("type")->value), m.Find("type")->path,
           "must be one of transform, filter, routing, path, got " + Quote(type));
      return;
    }
    fn->type = type;
  } else {
    return;
  }

  const Entry* code = m.Find("code");
  const Entry* file = m.Find("file");
  const Entry* path = m.Find("path");
  if (type == "path") {
    for (const Entry* other : {code, file}) {
      if (other != nullptr) {
        Fail(LineOf(other->key), other->path, "not allowed for a path function; give path");
      }
    }
    if (ReadString(m, "path", &fn->path, Presence::kRequired)) {
      std::string_view p = fn->path;
      std::string_view root = p.substr(0, p.find('.'));
      bool ok = root == "record" || root == "changes" || root == "action" || root == "metadata";
      ok = ok && p.back() != '.' && p.find("..") == std::string_view::npos;
      if (!ok) {
        Fail(LineOf(path->value), path->path,
             "must start with record, changes, action or metadata, with fields separated by "
             "'.' (e.g. record.id), got " +
                 Quote(fn->path));
      }
    }
    return;
  }
  if (path != nullptr) {
    Fail(LineOf(path->key), path->path, "only allowed for a function of type path");
  }
  if (code != nullptr && file != nullptr) {
    Fail(LineOf(file->key), file->path, "give either code or file, not both");
    return;
  }
  if (code == nullptr && file == nullptr) {
    Fail(m.line(), e.path + ".code", "missing (required): give the Lua code as code or file");
    return;
  }
  if (code != nullptr) {
    ReadString(m, "code", &fn->code, Presence::kRequired, Substitution::kNone);
    return;
  }
  if (!ReadString(m, "file", &fn->file, Presence::kRequired)) return;
  std::filesystem::path resolved(fn->file);
  if (resolved.is_relative() && !base_dir_.empty())
    resolved = std::filesystem::path(base_dir_) / resolved;
  std::error_code ec;
  auto status = std::filesystem::status(resolved, ec);
  if (ec || !std::filesystem::is_regular_file(status)) {
    Fail(LineOf(file->value), file->path,
         "cannot read " + Quote(fn->file) + " (resolved to " + Quote(resolved.string()) +
             "): " + (ec ? ec.message() : std::string("not a regular file")));
    return;
  }
  uintmax_t size = std::filesystem::file_size(resolved, ec);
  if (ec || size > kMaxFunctionFileBytes) {
    Fail(LineOf(file->value), file->path, "file " + Quote(fn->file) + " is larger than 1 MiB");
    return;
  }
  std::ifstream in(resolved, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (!in.good() && !in.eof()) {
    Fail(LineOf(file->value), file->path,
         "cannot read " + Quote(fn->file) + ": " + std::strerror(errno));
    return;
  }
  fn->code = contents.str();
}

void Loader::CheckFunctionReference(const MapReader& m, std::string_view key,
                                    const Settings& settings,
                                    std::initializer_list<std::string_view> types,
                                    std::string* out) {
  std::string name;
  if (!ReadString(m, key, &name, Presence::kOptional) || name.empty() || name == "none") return;
  const Entry* e = m.Find(key);
  const FunctionSettings* fn = settings.FindFunction(name);
  std::string type_list;
  for (std::string_view t : types) type_list += (type_list.empty() ? "" : " or ") + std::string(t);
  if (fn == nullptr) {
    Fail(LineOf(e->value), e->path,
         "no function named " + Quote(name) + " (give none or the name of a " + type_list +
             " function under functions)");
    return;
  }
  if (!fn->type.empty() && std::find(types.begin(), types.end(), fn->type) == types.end()) {
    Fail(LineOf(e->value), e->path,
         "function " + Quote(name) + " has type " + fn->type + "; " + std::string(key) +
             " needs a " + type_list + " function");
    return;
  }
  *out = name;
}

void Loader::LoadSink(const Entry& e, const Settings& settings, SinkSettings* sink) {
  MapReader m(*this, e.value, e.path,
              {"name", "database", "source", "actions", "tables", "message_grouping", "batch_size",
               "max_in_flight", "filter", "transform", "routing", "timestamp_format",
               "max_retry_count", "initial_backfill", "status", "destination"});
  if (!m.ok()) return;
  if (ReadString(m, "name", &sink->name, Presence::kRequired) &&
      !std::all_of(sink->name.begin(), sink->name.end(), IsSinkNameChar)) {
    Fail(LineOf(m.Find("name")->value), m.Find("name")->path,
         "may contain only letters, digits, '_', '.' and '-' (it appears in API paths), got " +
             Quote(sink->name));
  }
  if (ReadString(m, "database", &sink->database, Presence::kRequired) &&
      settings.FindDatabase(sink->database) == nullptr) {
    std::string known;
    for (const auto& db : settings.databases) known += (known.empty() ? "" : ", ") + db.name;
    Fail(LineOf(m.Find("database")->value), m.Find("database")->path,
         "no database named " + Quote(sink->database) + " (databases: " + known + ")");
  }
  if (const Entry* source = m.Find("source")) LoadSource(*source, sink);

  std::vector<Entry> storage;
  if (auto actions = ReadStringList(m, "actions", &storage)) {
    if (actions->empty() && storage.empty() && m.Find("actions")->value.IsSequence()) {
      Fail(LineOf(m.Find("actions")->value), m.Find("actions")->path,
           "must name at least one of insert, update, delete, truncate");
    }
    sink->action_insert = sink->action_update = sink->action_delete = sink->action_truncate = false;
    for (const auto& [action, item] : *actions) {
      if (action == "insert") {
        sink->action_insert = true;
      } else if (action == "update") {
        sink->action_update = true;
      } else if (action == "delete") {
        sink->action_delete = true;
      } else if (action == "truncate") {
        sink->action_truncate = true;
      } else {
        Fail(LineOf(item->value), item->path,
             "must be one of insert, update, delete, truncate, got " + Quote(action));
      }
    }
  }

  if (const Entry* tables = m.Find("tables")) {
    for (const Entry& item : Items(*tables)) {
      TableSettings table;
      LoadTable(item, &table);
      for (const auto& other : sink->tables) {
        if (!table.name.empty() && table.name == other.name) {
          Fail(LineOf(item.value), item.path + ".name", "duplicate table " + Quote(table.name));
        }
      }
      sink->tables.push_back(std::move(table));
    }
  }

  ReadBool(m, "message_grouping", &sink->message_grouping);
  ReadInt(m, "batch_size", &sink->batch_size, 1, 500);
  ReadInt(m, "max_in_flight", &sink->max_in_flight, 1, 64);
  CheckFunctionReference(m, "filter", settings, {"filter"}, &sink->filter);
  CheckFunctionReference(m, "transform", settings, {"transform", "path"}, &sink->transform);
  CheckFunctionReference(m, "routing", settings, {"routing"}, &sink->routing);
  ReadEnum(m, "timestamp_format", &sink->timestamp_format,
           {{"iso8601", TimestampFormat::kIso8601},
            {"unix_microsecond", TimestampFormat::kUnixMicrosecond}});
  int64_t max_retry_count = 0;
  if (ReadInt(m, "max_retry_count", &max_retry_count, 0, std::numeric_limits<int64_t>::max())) {
    sink->max_retry_count = max_retry_count;
  }
  // After source: a listed table must be one the sink receives.
  if (const Entry* backfill = m.Find("initial_backfill")) LoadInitialBackfill(*backfill, sink);
  ReadEnum(m, "status", &sink->status,
           {{"active", SinkStatus::kActive},
            {"paused", SinkStatus::kPaused},
            {"disabled", SinkStatus::kDisabled}});
  if (const Entry* destination = m.Find("destination")) {
    LoadDestination(*destination, &sink->destination);
  } else {
    Fail(m.line(), e.path + ".destination", "missing (required)");
  }
}

void Loader::LoadSource(const Entry& e, SinkSettings* sink) {
  MapReader m(*this, e.value, e.path,
              {"include_tables", "exclude_tables", "include_schemas", "exclude_schemas"});
  if (!m.ok()) return;
  struct ListKey {
    std::string_view key;
    std::vector<std::string>* out;
    bool tables;
  };
  for (const ListKey& list : {ListKey{"include_tables", &sink->include_tables, true},
                              ListKey{"exclude_tables", &sink->exclude_tables, true},
                              ListKey{"include_schemas", &sink->include_schemas, false},
                              ListKey{"exclude_schemas", &sink->exclude_schemas, false}}) {
    std::vector<Entry> storage;
    auto items = ReadStringList(m, list.key, &storage);
    if (!items) continue;
    for (const auto& [name, item] : *items) {
      if (list.tables && !IsQualifiedTableName(name)) {
        Fail(LineOf(item->value), item->path, "must be schema.table, got " + Quote(name));
        continue;
      }
      if (!list.tables && name.find('.') != std::string::npos) {
        Fail(LineOf(item->value), item->path,
             "must be a schema name without '.', got " + Quote(name));
        continue;
      }
      list.out->push_back(name);
    }
  }
  for (auto [include, exclude] : {std::pair{"include_tables", "exclude_tables"},
                                  std::pair{"include_schemas", "exclude_schemas"}}) {
    const Entry* inc = m.Find(include);
    const Entry* exc = m.Find(exclude);
    if (inc && exc && inc->value.IsSequence() && exc->value.IsSequence() && inc->value.size() > 0 &&
        exc->value.size() > 0) {
      Fail(LineOf(exc->key), exc->path,
           std::string("cannot be combined with ") + include + "; give one of them");
    }
  }
}

void Loader::LoadTable(const Entry& e, TableSettings* table) {
  MapReader m(*this, e.value, e.path, {"name", "group_column_names"});
  if (!m.ok()) return;
  if (ReadString(m, "name", &table->name, Presence::kRequired) &&
      !IsQualifiedTableName(table->name)) {
    Fail(LineOf(m.Find("name")->value), m.Find("name")->path,
         "must be schema.table, got " + Quote(table->name));
  }
  std::vector<Entry> storage;
  if (auto columns = ReadStringList(m, "group_column_names", &storage)) {
    for (auto& [column, item] : *columns) table->group_column_names.push_back(std::move(column));
  }
}

// Why `table` is not one the sink receives (its source filters), or empty.
std::string NotSelectedBySource(const SinkSettings& sink, const std::string& table) {
  auto listed = [](const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  const std::string schema = table.substr(0, table.find('.'));
  const std::string prefix = "sink " + Quote(sink.name) + " does not receive " + Quote(table);
  if (!sink.include_tables.empty() && !listed(sink.include_tables, table)) {
    return prefix + ": it is not in source.include_tables";
  }
  if (listed(sink.exclude_tables, table)) return prefix + ": source.exclude_tables names it";
  if (!sink.include_schemas.empty() && !listed(sink.include_schemas, schema)) {
    return prefix + ": its schema is not in source.include_schemas";
  }
  if (listed(sink.exclude_schemas, schema)) {
    return prefix + ": source.exclude_schemas names its schema";
  }
  return "";
}

void Loader::LoadInitialBackfill(const Entry& e, SinkSettings* sink) {
  constexpr const char* kShape =
      "must be true, false or a list of {table, sort_column, start_position}";
  if (e.value.IsScalar()) {
    auto text = ScalarText(e);
    if (!text) return;
    if (*text == "true" || *text == "True" || *text == "TRUE") {
      sink->initial_backfill_all_tables = true;
    } else if (!(*text == "false" || *text == "False" || *text == "FALSE")) {
      Fail(LineOf(e.value), e.path, std::string(kShape) + ", got " + Quote(*text));
    }
    return;
  }
  if (!e.value.IsSequence()) {
    Fail(LineOf(e.value), e.path, std::string(kShape) + ", got " + KindName(e.value));
    return;
  }
  for (const Entry& item : Items(e)) {
    BackfillSpec spec;
    spec.line = LineOf(item.value);
    LoadBackfillSpec(item, *sink, &spec);
    if (spec.table.empty()) continue;  // reported
    for (const BackfillSpec& other : sink->initial_backfill) {
      if (other.table == spec.table) {
        Fail(spec.line, item.path + ".table",
             "duplicate table " + Quote(spec.table) + " (first given at line " +
                 std::to_string(other.line) + ")");
      }
    }
    sink->initial_backfill.push_back(std::move(spec));
  }
}

// Leaves spec->table empty when the entry is unusable (after reporting why).
void Loader::LoadBackfillSpec(const Entry& e, const SinkSettings& sink, BackfillSpec* spec) {
  MapReader m(*this, e.value, e.path, {"table", "sort_column", "start_position"});
  if (!m.ok()) return;
  std::string table;
  if (ReadString(m, "table", &table, Presence::kRequired)) {
    const Entry* entry = m.Find("table");
    if (!IsQualifiedTableName(table)) {
      Fail(LineOf(entry->value), entry->path, "must be schema.table, got " + Quote(table));
      table.clear();
    } else if (std::string why = NotSelectedBySource(sink, table); !why.empty()) {
      Fail(LineOf(entry->value), entry->path, why);
      table.clear();
    }
  }
  ReadString(m, "sort_column", &spec->sort_column, Presence::kOptional);
  std::string start;
  if (ReadString(m, "start_position", &start, Presence::kOptional)) {
    const Entry* entry = m.Find("start_position");
    if (spec->sort_column.empty()) {
      Fail(LineOf(entry->key), entry->path,
           "needs sort_column: a start position is a value of the sort column");
    } else if (start.empty()) {
      Fail(LineOf(entry->value), entry->path,
           "must not be empty (leave it out to start at the first row)");
    } else {
      spec->start_position = std::move(start);
    }
  }
  spec->table = std::move(table);
}

void Loader::LoadDestination(const Entry& e, KinesisDestination* dest) {
  MapReader m(
      *this, e.value, e.path,
      {"type", "stream_arn", "access_key_id", "secret_access_key", "session_token", "use_task_role",
       "endpoint_url", "tls_verify", "request_timeout_ms", "connect_timeout_ms"});
  if (!m.ok()) return;
  std::string type;
  if (ReadString(m, "type", &type, Presence::kRequired) && type != "kinesis") {
    Fail(LineOf(m.Find("type")->value), m.Find("type")->path,
         "must be kinesis (the only destination type), got " + Quote(type));
  }
  std::string arn;
  if (ReadString(m, "stream_arn", &arn, Presence::kRequired)) {
    std::string why;
    if (auto parsed = StreamArn::Parse(arn, &why)) {
      dest->stream = std::move(*parsed);
    } else {
      Fail(LineOf(m.Find("stream_arn")->value), m.Find("stream_arn")->path, why);
    }
  }

  const Entry* key_entry = m.Find("access_key_id");
  const Entry* secret_entry = m.Find("secret_access_key");
  const Entry* token_entry = m.Find("session_token");
  const Entry* role_entry = m.Find("use_task_role");
  // A credential that is present but unreadable was reported already; judging
  // the combination without it would only add a misleading second error.
  bool readable = ReadString(m, "access_key_id", &dest->access_key_id, Presence::kOptional) ==
                  (key_entry != nullptr);
  readable &=
      ReadSecret(m, "secret_access_key", &dest->secret_access_key) == (secret_entry != nullptr);
  readable &= ReadSecret(m, "session_token", &dest->session_token) == (token_entry != nullptr);
  readable &= ReadBool(m, "use_task_role", &dest->use_task_role) == (role_entry != nullptr);
  bool has_key = !dest->access_key_id.empty();
  bool has_secret = !dest->secret_access_key.empty();
  bool has_token = !dest->session_token.empty();
  if (!readable) {
    // Reported above.
  } else if (dest->use_task_role) {
    if (has_key || has_secret || has_token) {
      Fail(LineOf(role_entry->value), role_entry->path,
           "cannot be true when access_key_id, secret_access_key or session_token is given; "
           "use static keys or the task role, not both");
    }
  } else if (has_key && !has_secret) {
    Fail(LineOf(key_entry->key), e.path + ".secret_access_key",
         "missing: access_key_id is given, so secret_access_key is required");
  } else if (has_secret && !has_key) {
    Fail(LineOf(secret_entry->key), e.path + ".access_key_id",
         "missing: secret_access_key is given, so access_key_id is required");
  } else if (!has_key && !has_secret) {
    if (has_token) {
      Fail(LineOf(token_entry->key), token_entry->path,
           "needs access_key_id and secret_access_key");
    } else {
      Fail(m.line(), e.path,
           "no AWS credentials: give access_key_id and secret_access_key, or use_task_role: true");
    }
  }

  if (ReadString(m, "endpoint_url", &dest->endpoint_url, Presence::kOptional) &&
      !dest->endpoint_url.empty()) {
    const std::string& url = dest->endpoint_url;
    size_t scheme_end = url.find("://");
    std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
    if ((scheme != "http" && scheme != "https") || scheme_end + 3 >= url.size() ||
        url[scheme_end + 3] == '/') {
      Fail(LineOf(m.Find("endpoint_url")->value), m.Find("endpoint_url")->path,
           "must be an http:// or https:// URL with a host, got " + Quote(url));
    }
  }
  ReadBool(m, "tls_verify", &dest->tls_verify);
  int64_t ms = 0;
  if (ReadInt(m, "request_timeout_ms", &ms, 1, 600000)) {
    dest->request_timeout = std::chrono::milliseconds(ms);
  }
  if (ReadInt(m, "connect_timeout_ms", &ms, 1, 600000)) {
    dest->connect_timeout = std::chrono::milliseconds(ms);
  }
}

}  // namespace

Result<Settings> LoadSettingsFromString(const std::string& yaml, const std::string& source_name,
                                        const std::string& base_dir, const Environment& env) {
  Loader loader(source_name, base_dir, env);
  return loader.Load(yaml);
}

Result<Settings> LoadSettingsFromFile(const std::string& path, const Environment& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error(ErrorCode::kIo, path + ": cannot open config file: " + std::strerror(errno));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return Error(ErrorCode::kIo, path + ": cannot read config file: " + std::strerror(errno));
  }
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  if (base_dir.empty()) base_dir = ".";
  return LoadSettingsFromString(contents.str(), path, base_dir, env);
}

}  // namespace sluice::config
