// Functions (SPEC §6): user filter, routing and transform code in Lua 5.4,
// and path functions that extract part of a message without code.
//
// Why a runtime object: compiling a script and building a sandbox costs far
// more than calling it, so a FunctionRuntime compiles every function once and
// is then called per message, at every delivery attempt.
//
// Thread safety: a FunctionRuntime owns one lua_State, which is not thread
// safe. Use one runtime per thread (e.g. per sender thread); never share one.
//
// Input to every call is the message JSON produced by model::EncodeMessage,
// so Lua sees exactly what would be sent. Values cross as documented in
// docs/functions.md (null sentinel, array/object markers, exact decimals).
//
// Limits: every call has an instruction budget (Limits::instructions_per_call)
// and the runtime's Lua heap is capped (Limits::memory_bytes). Exceeding
// either fails that call with an error naming the function; the runtime stays
// usable (after a memory error its state is rebuilt from the settings). Loops
// inside library C functions (patterns, string.rep, table functions, JSON
// encoding) are charged to the same budget (sandbox_lib.h).
//
// State between calls: top-level code runs once at Create; at call time
// globals are read-only (assigning one is an error), so a call cannot leave
// state for the next one through globals. Tables created by top-level code are
// shared by the calls of one runtime and should be treated as constants.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/settings.h"

struct lua_State;

namespace sluice::functions {

struct Limits {
  // VM instructions per call (counted in steps of kHookGranularity).
  int64_t instructions_per_call = 1'000'000;
  // Lua heap of one runtime, compiled functions included.
  size_t memory_bytes = 32u << 20;
};

struct RuntimeOptions {
  Limits limits;
  // Partition/region/account used by sluice.stream_arn(name) when the script
  // does not pass them; Apply() overrides it with the sink's destination.
  std::optional<config::StreamArn> default_stream;
};

// The outcome of a sink's functions for one message (SPEC order:
// filter → routing → transform).
struct Applied {
  bool dropped = false;                     // the filter returned false
  std::optional<config::StreamArn> stream;  // nullopt: the sink's own stream
  std::string data;                         // the record Data (JSON)
};

class FunctionRuntime {
 public:
  // Compiles every function (Lua functions are loaded and their top-level
  // code run once); fails on the first function that does not compile, with
  // its name, type and Lua line.
  static Result<std::unique_ptr<FunctionRuntime>> Create(
      const std::vector<config::FunctionSettings>& functions, const RuntimeOptions& options);
  ~FunctionRuntime();
  FunctionRuntime(const FunctionRuntime&) = delete;
  FunctionRuntime& operator=(const FunctionRuntime&) = delete;

  // A filter function: true keeps the message.
  Result<bool> Filter(const std::string& name, std::string_view message_json);
  // A routing function: the validated stream, or nullopt when it returned nil
  // (keep the sink's stream).
  Result<std::optional<config::StreamArn>> Route(const std::string& name,
                                                 std::string_view message_json);
  // A transform or path function: the new record Data (JSON).
  Result<std::string> Transform(const std::string& name, std::string_view message_json);

  // filter → routing → transform for `sink`; empty function names are skipped.
  // Without a transform, data is message_json unchanged.
  Result<Applied> Apply(const config::SinkSettings& sink, std::string_view message_json);

  // Bytes the Lua heap currently uses.
  size_t MemoryUsed() const;

  struct Impl;  // implementation detail (runtime.cc)

 private:
  explicit FunctionRuntime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Pure path extraction on message JSON: `record`, `record.<col>`, `changes`,
// `action`, `metadata.<field>[.<field>...]`. A missing key yields "null".
// Numbers keep their exact digits. Thread-safe.
Result<std::string> ApplyPath(std::string_view path, std::string_view message_json);
// Validates a path (first segment record|changes|action|metadata, no empty
// segment); the error says what is wrong.
Status ValidatePath(std::string_view path);

// The stream sluice.stream_arn(name) defaults to when the functions are
// compiled once for the whole config (`sluice check`, `sluice run` startup):
// the destination of the first sink that uses a function, else of the first
// sink with a stream ARN; nullopt when no sink has one.
std::optional<config::StreamArn> DefaultStreamFor(const config::Settings& settings);

// For `sluice check`: compiles every function of `settings` and runs each Lua
// function once on a synthetic update message. Appends one human-readable line
// per problem to *findings. The status fails when a function does not compile
// or a path is invalid; a failure on the synthetic message is only a finding
// ("warning: ..."), since real columns may differ from the synthetic ones.
Status CheckFunctions(const config::Settings& settings, std::vector<std::string>* findings);

}  // namespace sluice::functions
