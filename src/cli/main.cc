// sluice: Postgres changes to Amazon Kinesis.
//
//   sluice run   -c sluice.yaml   the service
//   sluice check -c sluice.yaml   validate config, database and streams
//   sluice messages list|show|redeliver|discard -c sluice.yaml ...
//                                 a sink's messages: through the API of a
//                                 running sluice, else in the local store
//   sluice sinks list|pause|resume -c sluice.yaml ...
//                                 sinks of a running sluice (through the API)
//   sluice backfill start|list|cancel -c sluice.yaml ...
//                                 backfills of a running sluice (through the API)
//   sluice version
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include "api/token.h"
#include "app/api_client.h"
#include "app/api_commands.h"
#include "app/backfill_commands.h"
#include "app/check.h"
#include "app/exit_codes.h"
#include "app/messages_command.h"
#include "app/service.h"
#include "base/clock.h"
#include "base/log.h"
#include "config/loader.h"
#include "functions/runtime.h"
#include "http/curl_transport.h"

namespace {

using sluice::app::kExitConfigError;
using sluice::app::kExitFailure;
using sluice::app::kExitOk;

constexpr const char* kVersion = "0.1.0";

sluice::LogLevel ParseLevel(const std::string& s) {
  if (s == "debug") return sluice::LogLevel::kDebug;
  if (s == "warn") return sluice::LogLevel::kWarn;
  if (s == "error") return sluice::LogLevel::kError;
  return sluice::LogLevel::kInfo;
}

// Loads the config or prints why not.
std::optional<sluice::config::Settings> Load(const std::string& path) {
  auto settings =
      sluice::config::LoadSettingsFromFile(path, sluice::config::Environment::Process());
  if (!settings.ok()) {
    std::fprintf(stderr, "sluice: invalid config:\n%s\n", settings.error().message().c_str());
    return std::nullopt;
  }
  return std::move(settings).value();
}

int Run(const std::string& path) {
  // Signals are taken by a dedicated thread; every other thread blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto settings = Load(path);
  if (!settings) return kExitConfigError;
  const auto& clock = sluice::SystemClock::Instance();
  if (!settings->functions.empty()) {
    // A function that does not compile is a config error, found before
    // anything connects.
    // Top-level code may call sluice.stream_arn(name): give it a sink's stream.
    sluice::functions::RuntimeOptions options;
    options.default_stream = sluice::functions::DefaultStreamFor(*settings);
    auto compiled = sluice::functions::FunctionRuntime::Create(settings->functions, options);
    if (!compiled.ok()) {
      SLUICE_LOG_ERROR("{}: {}", path, compiled.error().message());
      return kExitConfigError;
    }
  }

  for (const auto& db : settings->databases) {
    auto st = sluice::app::PreflightDatabase(*settings, db);
    if (!st.ok()) {
      SLUICE_LOG_ERROR("database {}: {}", db.name, st.error().message());
      return kExitFailure;
    }
  }
  auto service = sluice::app::Service::Create(*settings, clock);
  if (!service.ok()) {
    SLUICE_LOG_ERROR("{}", service.error().message());
    return service.error().code() == sluice::ErrorCode::kConfig ? kExitConfigError : kExitFailure;
  }
  auto st = (*service)->Start();
  if (!st.ok()) {
    SLUICE_LOG_ERROR("{}", st.error().message());
    return st.error().code() == sluice::ErrorCode::kConfig ? kExitConfigError : kExitFailure;
  }
  SLUICE_LOG_INFO("sluice {} running ({} sink(s)); SIGTERM or Ctrl-C stops it", kVersion,
                  settings->sinks.size());

  // The signal thread outlives no one: it is woken and joined before the
  // service is destroyed.
  sluice::app::Service* raw = service->get();
  std::atomic<bool> exiting{false};
  std::thread signal_thread([raw, signals, &exiting] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (exiting.load()) return;
    SLUICE_LOG_INFO("received {}: draining in-flight requests",
                    sig == SIGTERM ? "SIGTERM" : "SIGINT");
    raw->RequestStop();
  });

  st = (*service)->Wait();
  if (!(*service)->Stop()) {
    // A request outlived the shutdown deadline; its thread still uses the
    // service. What it carried is read again from the slot after a restart.
    SLUICE_LOG_WARN("stopped with requests abandoned at the shutdown deadline");
    spdlog::default_logger()->flush();
    std::_Exit(st.ok() ? kExitOk : kExitFailure);
  }
  exiting.store(true);
  pthread_kill(signal_thread.native_handle(), SIGTERM);  // no-op if it already returned
  signal_thread.join();
  if (!st.ok()) return kExitFailure;
  SLUICE_LOG_INFO("stopped");
  return kExitOk;
}

int Check(const std::string& path) {
  auto settings = Load(path);
  if (!settings) return kExitConfigError;
  int problems = sluice::app::RunCheck(*settings, sluice::SystemClock::Instance(), std::cout);
  return problems == 0 ? kExitOk : kExitFailure;
}

// Options of `sluice messages <verb>` and `sluice sinks <verb>` as parsed by
// CLI11.
struct MessagesArgs {
  std::string config_path;
  std::string api;  // --api: overrides the config's api.listen
  bool json = false;
  std::string sink;
  std::string state = "all";
  std::string cursor;  // --cursor, or its alias --after
  size_t limit = sluice::app::kDefaultMessagesLimit;
  std::optional<uint64_t> id;
  bool failing = false;
  bool all = false;
  bool yes = false;
};

struct SinksArgs {
  std::string config_path;
  std::string api;
  bool json = false;
  std::string name;
};

struct BackfillArgs {
  std::string config_path;
  std::string api;
  bool json = false;
  std::string sink;
  std::string table;
  std::string sort_column;
  std::optional<std::string> start_position;
  bool wait = false;
  uint64_t id = 0;
};

int Usage(const std::string& message) {
  std::fprintf(stderr, "sluice: %s\nRun with --help for more information.\n", message.c_str());
  return sluice::app::kExitUsage;
}

int Failed(const sluice::Error& error) {
  std::cout.flush();
  std::fprintf(stderr, "sluice: %s\n", error.message().c_str());
  return sluice::app::ExitCodeFor(error);
}

// The API client of a command: the address from --api or the config, the
// token as `sluice run` finds it (never from the command line).
std::optional<sluice::app::ApiClient> ClientFor(const sluice::config::Settings& settings,
                                                const std::string& api,
                                                sluice::http::Transport& transport,
                                                int* exit_code) {
  auto address = sluice::app::ResolveApiAddress(settings, api);
  if (!address.ok()) {
    *exit_code = Failed(address.error());
    return std::nullopt;
  }
  return sluice::app::ApiClient(transport, std::move(*address),
                                sluice::api::ResolveApiToken(settings, /*create=*/false));
}

// The same command on the local store, when no sluice answered.
int MessagesOffline(const std::string& verb, const MessagesArgs& args,
                    const sluice::config::Settings& settings, const std::string& list_state,
                    sluice::app::MessageSelection selection, sluice::WallTime now) {
  using sluice::app::OutputFormat;
  const OutputFormat format = args.json ? OutputFormat::kJson : OutputFormat::kTable;
  auto sink = sluice::app::SinkForCommand(settings, args.sink);
  if (!sink.ok()) return Failed(sink.error());
  auto store = sluice::app::OpenStoreForCommand(settings);
  if (!store.ok()) return Failed(store.error());
  sluice::Status st;
  if (verb == "list") {
    sluice::app::ListMessagesOptions options;
    options.sink = *sink;
    options.state = list_state;
    options.cursor = args.cursor;
    options.limit = args.limit;
    options.format = format;
    st = sluice::app::ListMessages(**store, settings, options, now, std::cout);
  } else if (verb == "show") {
    st = sluice::app::ShowMessage(**store, settings, {*sink, *args.id, format}, now, std::cout);
  } else {
    sluice::app::MessageActionOptions options;
    options.sink = *sink;
    options.selection = selection;
    options.id = args.id.value_or(0);
    options.confirmed = args.yes;
    options.format = format;
    st = verb == "redeliver" ? sluice::app::RedeliverMessages(**store, settings, options, std::cout)
                             : sluice::app::DiscardMessages(**store, settings, options, std::cout);
  }
  std::cout.flush();
  if (!st.ok()) return Failed(st.error());
  return kExitOk;
}

int Messages(const std::string& verb, const MessagesArgs& args) {
  using sluice::app::ApiOutcome;
  using sluice::app::MessageSelection;
  using sluice::app::OutputFormat;
  const OutputFormat format = args.json ? OutputFormat::kJson : OutputFormat::kTable;

  // The command line first: nothing is opened or sent for a bad one.
  MessageSelection selection = MessageSelection::kOne;
  if (verb == "redeliver" || verb == "discard") {
    const int chosen = (args.id ? 1 : 0) + (args.failing ? 1 : 0) + (args.all ? 1 : 0);
    const char* forms =
        verb == "discard" ? "a message id, --failing or --all" : "a message id or --failing";
    if (chosen != 1) return Usage(verb + " takes exactly one of " + forms);
    if (args.failing) selection = MessageSelection::kFailing;
    if (args.all) selection = MessageSelection::kAll;
  }
  auto list_state = sluice::app::ParseListState(args.state);
  if (!list_state.ok()) return Usage(list_state.error().message());

  auto settings = Load(args.config_path);
  if (!settings) return kExitConfigError;
  sluice::http::CurlTransport transport;
  int exit_code = kExitOk;
  auto client = ClientFor(*settings, args.api, transport, &exit_code);
  if (!client) return exit_code;

  const sluice::WallTime now = sluice::SystemClock::Instance().WallNow();
  sluice::Result<ApiOutcome> outcome = ApiOutcome::kDone;
  if (verb == "list") {
    sluice::app::ApiListOptions options;
    options.sink = args.sink;
    options.state = *list_state;
    options.cursor = args.cursor;
    options.limit = args.limit;
    options.format = format;
    outcome = sluice::app::ListMessagesViaApi(*client, *settings, options, now, std::cout);
  } else if (verb == "show") {
    outcome = sluice::app::ShowMessageViaApi(*client, *settings, {args.sink, *args.id, format}, now,
                                             std::cout);
  } else {
    sluice::app::MessageActionOptions options;
    options.sink = args.sink;
    options.selection = selection;
    options.id = args.id.value_or(0);
    options.confirmed = args.yes;
    options.format = format;
    outcome = verb == "redeliver"
                  ? sluice::app::RedeliverViaApi(*client, *settings, options, std::cout)
                  : sluice::app::DiscardViaApi(*client, *settings, options, std::cout);
  }
  std::cout.flush();
  if (!outcome.ok()) return Failed(outcome.error());
  if (*outcome == ApiOutcome::kDone) return kExitOk;

  std::fprintf(stderr, "%s\n", sluice::app::NotRunningNotice(*client).c_str());
  return MessagesOffline(verb, args, *settings, *list_state, selection, now);
}

int Sinks(const std::string& verb, const SinksArgs& args) {
  using sluice::app::OutputFormat;
  const OutputFormat format = args.json ? OutputFormat::kJson : OutputFormat::kTable;
  auto settings = Load(args.config_path);
  if (!settings) return kExitConfigError;
  sluice::http::CurlTransport transport;
  int exit_code = kExitOk;
  auto client = ClientFor(*settings, args.api, transport, &exit_code);
  if (!client) return exit_code;
  sluice::Status st;
  if (verb == "list") {
    st = sluice::app::ListSinks(*client, format, std::cout);
  } else {
    st = sluice::app::ChangeSink(
        *client, args.name,
        verb == "pause" ? sluice::app::SinkAction::kPause : sluice::app::SinkAction::kResume,
        format, std::cout);
  }
  std::cout.flush();
  if (!st.ok()) return Failed(st.error());
  return kExitOk;
}

int Backfill(const std::string& verb, const BackfillArgs& args) {
  using sluice::app::OutputFormat;
  const OutputFormat format = args.json ? OutputFormat::kJson : OutputFormat::kTable;
  auto settings = Load(args.config_path);
  if (!settings) return kExitConfigError;
  sluice::http::CurlTransport transport;
  int exit_code = kExitOk;
  auto client = ClientFor(*settings, args.api, transport, &exit_code);
  if (!client) return exit_code;
  sluice::Status st;
  if (verb == "start") {
    sluice::app::BackfillStartOptions options;
    options.sink = args.sink;
    options.table = args.table;
    options.sort_column = args.sort_column;
    options.start_position = args.start_position;
    options.wait = args.wait;
    options.format = format;
    sluice::app::BackfillWait wait;
    wait.progress = &std::cerr;
    wait.style = isatty(STDERR_FILENO) ? sluice::app::ProgressStyle::kBar
                                       : sluice::app::ProgressStyle::kLines;
    wait.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    auto end = sluice::app::StartBackfill(*client, *settings, options, wait, std::cout);
    std::cout.flush();
    if (!end.ok()) return Failed(end.error());
    using sluice::app::BackfillEnd;
    return *end == BackfillEnd::kStarted || *end == BackfillEnd::kDone ? kExitOk : kExitFailure;
  }
  if (verb == "list") {
    st = sluice::app::ListBackfills(*client, *settings, args.sink, format, std::cout);
  } else {
    st = sluice::app::CancelBackfill(*client, *settings, args.sink, args.id, format, std::cout);
  }
  std::cout.flush();
  if (!st.ok()) return Failed(st.error());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // Request bodies and responses of up to a few MiB are allocated and freed
  // per PutRecords. Above glibc's mmap threshold each would be a fresh
  // mapping whose pages fault in and are unmapped again; below it, and with
  // trimming held off, the sender threads' arenas reuse them.
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  CLI::App app{"sluice: stream PostgreSQL changes to Amazon Kinesis"};
  app.require_subcommand(1);
  std::string config_path = "sluice.yaml";
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug | info | warn | error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));

  auto* run = app.add_subcommand("run", "Run the service");
  run->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  auto* check = app.add_subcommand("check", "Validate config, databases and streams");
  check->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  auto* version = app.add_subcommand("version", "Print the version");

  // sluice messages <verb>: through the API of a running sluice; when nothing
  // answers there, on the local store directly.
  MessagesArgs margs;
  auto* messages = app.add_subcommand(
      "messages",
      "A sink's messages: through the API of a running sluice, else in the local "
      "store");
  messages->require_subcommand(1);
  messages->fallthrough();  // --config, --api and --json may follow the verb
  messages->add_option("-c,--config", margs.config_path, "Config file")->required();
  messages->add_option("--api", margs.api,
                       "API address, e.g. http://127.0.0.1:7376 (default: the config's "
                       "api.listen)");
  messages->add_flag("--json", margs.json, "Print one JSON document");
  const char* sink_help = "Sink (default: the config's only sink)";
  auto* m_list = messages->add_subcommand("list", "List a sink's messages, one page");
  m_list->add_option("--sink", margs.sink, sink_help);
  m_list
      ->add_option("--state", margs.state,
                   "all | pending | in_flight | backing_off | failed | failing | delivered "
                   "(failing = backing_off and failed; waiting = pending)")
      ->check(CLI::IsMember({"all", "pending", "in_flight", "backing_off", "failed", "failing",
                             "delivered", "waiting"}))
      ->capture_default_str();
  m_list->add_option("--cursor,--after", margs.cursor,
                     "Next page: the cursor the last line of the previous page gives");
  m_list->add_option("--limit", margs.limit, "Messages per page")
      ->check(CLI::Range(size_t{1}, sluice::app::kMaxMessagesLimit))
      ->capture_default_str();
  auto* m_show = messages->add_subcommand("show", "Show one message with its payload");
  m_show->add_option("id", margs.id, "Message id")->required();
  m_show->add_option("--sink", margs.sink, sink_help);
  auto* m_redeliver =
      messages->add_subcommand("redeliver", "Make a message, or all failing ones, due now");
  m_redeliver->add_option("id", margs.id, "Message id");
  m_redeliver->add_flag("--failing", margs.failing, "Every failing message of the sink");
  m_redeliver->add_option("--sink", margs.sink, sink_help);
  auto* m_discard = messages->add_subcommand("discard", "Drop messages for good");
  m_discard->add_option("id", margs.id, "Message id");
  m_discard->add_flag("--failing", margs.failing, "Every failing message of the sink (with --yes)");
  m_discard->add_flag("--all", margs.all, "Every message of the sink (with --yes)");
  m_discard->add_flag("--yes", margs.yes, "Confirm a bulk discard");
  m_discard->add_option("--sink", margs.sink, sink_help);

  // sluice sinks <verb>: through the API of a running sluice.
  SinksArgs sargs;
  auto* sinks = app.add_subcommand("sinks", "Sinks of a running sluice (through its API)");
  sinks->require_subcommand(1);
  sinks->fallthrough();
  sinks->add_option("-c,--config", sargs.config_path, "Config file")->required();
  sinks->add_option("--api", sargs.api,
                    "API address, e.g. http://127.0.0.1:7376 (default: the config's api.listen)");
  sinks->add_flag("--json", sargs.json, "Print one JSON document");
  auto* s_list = sinks->add_subcommand("list", "Sinks with status, health, throughput and lag");
  auto* s_pause = sinks->add_subcommand("pause", "Stop sending; messages collect");
  s_pause->add_option("name", sargs.name, "Sink")->required();
  auto* s_resume = sinks->add_subcommand("resume", "Send again");
  s_resume->add_option("name", sargs.name, "Sink")->required();

  // sluice backfill <verb>: through the API of a running sluice.
  BackfillArgs bargs;
  auto* backfill =
      app.add_subcommand("backfill", "Backfills of a running sluice (through its API)");
  backfill->require_subcommand(1);
  backfill->fallthrough();
  backfill->add_option("-c,--config", bargs.config_path, "Config file")->required();
  backfill->add_option("--api", bargs.api,
                       "API address, e.g. http://127.0.0.1:7376 (default: the config's "
                       "api.listen)");
  backfill->add_flag("--json", bargs.json, "Print one JSON document");
  auto* b_start =
      backfill->add_subcommand("start", "Send a table's existing rows as read messages");
  b_start->add_option("--table", bargs.table, "Table, as schema.table")->required();
  b_start->add_option("--sink", bargs.sink, sink_help);
  b_start->add_option("--sort-column", bargs.sort_column,
                      "Page by this column instead of the primary key");
  b_start->add_option("--start-position", bargs.start_position,
                      "With --sort-column: rows from this value of it on");
  b_start->add_flag("--wait", bargs.wait,
                    "Show progress until it ends; exit 0 when done, 1 when failed or cancelled");
  auto* b_list = backfill->add_subcommand("list", "Backfills with progress, rate and ETA");
  b_list->add_option("--sink", bargs.sink, "Sink (default: every sink that is not disabled)");
  auto* b_cancel = backfill->add_subcommand("cancel", "Stop a backfill: no new page is read");
  b_cancel->add_option("id", bargs.id, "Backfill id")->required();
  b_cancel->add_option("--sink", bargs.sink, sink_help);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports an unknown command as "A subcommand is required":
    // name the word it did not know instead.
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      std::fprintf(stderr,
                   "sluice: unknown command \"%s\" (commands: run, check, messages, sinks, "
                   "backfill, version)\n"
                   "Run with --help for more information.\n",
                   app.remaining().front().c_str());
      return sluice::app::kExitUsage;
    }
    if (messages->parsed() && messages->get_subcommands().empty()) {
      // With fallthrough, the unknown verb may be left to either level.
      std::vector<std::string> left = messages->remaining();
      if (left.empty()) left = app.remaining();
      if (!left.empty()) {
        std::fprintf(stderr,
                     "sluice: unknown command \"messages %s\" (commands: list, show, redeliver, "
                     "discard)\nRun with --help for more information.\n",
                     left.front().c_str());
        return sluice::app::kExitUsage;
      }
    }
    if (sinks->parsed() && sinks->get_subcommands().empty()) {
      std::vector<std::string> left = sinks->remaining();
      if (left.empty()) left = app.remaining();
      if (!left.empty()) {
        std::fprintf(stderr,
                     "sluice: unknown command \"sinks %s\" (commands: list, pause, resume)\n"
                     "Run with --help for more information.\n",
                     left.front().c_str());
        return sluice::app::kExitUsage;
      }
    }
    if (backfill->parsed() && backfill->get_subcommands().empty()) {
      std::vector<std::string> left = backfill->remaining();
      if (left.empty()) left = app.remaining();
      if (!left.empty()) {
        std::fprintf(stderr,
                     "sluice: unknown command \"backfill %s\" (commands: start, list, cancel)\n"
                     "Run with --help for more information.\n",
                     left.front().c_str());
        return sluice::app::kExitUsage;
      }
    }
    int code = app.exit(e);
    return code == 0 ? kExitOk : sluice::app::kExitUsage;
  }
  sluice::InitLogging(ParseLevel(log_level));
  if (version->parsed()) {
    std::printf("sluice %s\n", kVersion);
    return kExitOk;
  }
  if (run->parsed()) return Run(config_path);
  if (check->parsed()) return Check(config_path);
  for (auto* verb : {m_list, m_show, m_redeliver, m_discard}) {
    if (verb->parsed()) return Messages(verb->get_name(), margs);
  }
  for (auto* verb : {s_list, s_pause, s_resume}) {
    if (verb->parsed()) return Sinks(verb->get_name(), sargs);
  }
  for (auto* verb : {b_start, b_list, b_cancel}) {
    if (verb->parsed()) return Backfill(verb->get_name(), bargs);
  }
  return sluice::app::kExitUsage;
}
