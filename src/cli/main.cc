// sluice: Postgres changes to Amazon Kinesis.
//
//   sluice run   -c sluice.yaml   the service
//   sluice check -c sluice.yaml   validate config, database and streams
//   sluice messages list|show|redeliver|discard -c sluice.yaml ...
//                                 messages in the local store (sluice stopped)
//   sluice version
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include "app/check.h"
#include "app/exit_codes.h"
#include "app/messages_command.h"
#include "app/service.h"
#include "base/clock.h"
#include "base/log.h"
#include "config/loader.h"
#include "functions/runtime.h"

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

// Options of `sluice messages <verb>` as parsed by CLI11.
struct MessagesArgs {
  std::string config_path;
  bool json = false;
  std::string sink;
  std::string state = "all";
  uint64_t after = 0;
  size_t limit = sluice::app::kDefaultMessagesLimit;
  std::optional<uint64_t> id;
  bool failing = false;
  bool all = false;
  bool yes = false;
};

int Usage(const std::string& message) {
  std::fprintf(stderr, "sluice: %s\nRun with --help for more information.\n", message.c_str());
  return sluice::app::kExitUsage;
}

int Messages(const std::string& verb, const MessagesArgs& args) {
  using sluice::app::MessageSelection;
  using sluice::app::OutputFormat;
  const OutputFormat format = args.json ? OutputFormat::kJson : OutputFormat::kTable;

  // The command line first: nothing is opened for a bad one.
  MessageSelection selection = MessageSelection::kOne;
  if (verb == "redeliver" || verb == "discard") {
    const int chosen = (args.id ? 1 : 0) + (args.failing ? 1 : 0) + (args.all ? 1 : 0);
    const char* forms =
        verb == "discard" ? "a message id, --failing or --all" : "a message id or --failing";
    if (chosen != 1) return Usage(verb + " takes exactly one of " + forms);
    if (args.failing) selection = MessageSelection::kFailing;
    if (args.all) selection = MessageSelection::kAll;
  }

  auto settings = Load(args.config_path);
  if (!settings) return kExitConfigError;
  auto store = sluice::app::OpenStoreForCommand(*settings);
  if (!store.ok()) {
    std::fprintf(stderr, "sluice: %s\n", store.error().message().c_str());
    return sluice::app::ExitCodeFor(store.error());
  }
  const sluice::WallTime now = sluice::SystemClock::Instance().WallNow();
  sluice::Status st;
  if (verb == "list") {
    sluice::app::ListMessagesOptions options;
    options.state = args.state == "failing"   ? sluice::delivery::StoredState::kFailing
                    : args.state == "waiting" ? sluice::delivery::StoredState::kWaiting
                                              : sluice::delivery::StoredState::kAll;
    options.sink = args.sink;
    options.after_id = args.after;
    options.limit = args.limit;
    options.format = format;
    st = sluice::app::ListMessages(**store, *settings, options, now, std::cout);
  } else if (verb == "show") {
    st =
        sluice::app::ShowMessage(**store, *settings, {args.sink, *args.id, format}, now, std::cout);
  } else {
    sluice::app::MessageActionOptions options;
    options.sink = args.sink;
    options.selection = selection;
    options.id = args.id.value_or(0);
    options.confirmed = args.yes;
    options.format = format;
    st = verb == "redeliver"
             ? sluice::app::RedeliverMessages(**store, *settings, options, std::cout)
             : sluice::app::DiscardMessages(**store, *settings, options, std::cout);
  }
  std::cout.flush();
  if (!st.ok()) {
    std::fprintf(stderr, "sluice: %s\n", st.error().message().c_str());
    return sluice::app::ExitCodeFor(st.error());
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
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

  // sluice messages <verb>: offline, on the local store of a stopped sluice.
  MessagesArgs margs;
  auto* messages = app.add_subcommand(
      "messages", "Messages waiting in the local store (run while sluice is stopped)");
  messages->require_subcommand(1);
  messages->fallthrough();  // --config and --json may follow the verb
  messages->add_option("-c,--config", margs.config_path, "Config file")->required();
  messages->add_flag("--json", margs.json, "Print one JSON document");
  auto* m_list = messages->add_subcommand("list", "List stored messages, one page");
  m_list->add_option("--sink", margs.sink, "Only this sink (default: all sinks)");
  m_list->add_option("--state", margs.state, "all | failing | waiting")
      ->check(CLI::IsMember({"all", "failing", "waiting"}))
      ->capture_default_str();
  m_list->add_option("--after", margs.after, "Show messages with an id above this one");
  m_list->add_option("--limit", margs.limit, "Messages per page")
      ->check(CLI::Range(size_t{1}, sluice::app::kMaxMessagesLimit))
      ->capture_default_str();
  auto* m_show = messages->add_subcommand("show", "Show one message with its payload");
  m_show->add_option("id", margs.id, "Message id")->required();
  m_show->add_option("--sink", margs.sink, "Sink")->required();
  auto* m_redeliver =
      messages->add_subcommand("redeliver", "Make a message, or all failing ones, due now");
  m_redeliver->add_option("id", margs.id, "Message id");
  m_redeliver->add_flag("--failing", margs.failing, "Every failing message of the sink");
  m_redeliver->add_option("--sink", margs.sink, "Sink")->required();
  auto* m_discard = messages->add_subcommand("discard", "Delete stored messages for good");
  m_discard->add_option("id", margs.id, "Message id");
  m_discard->add_flag("--failing", margs.failing, "Every failing message of the sink (with --yes)");
  m_discard->add_flag("--all", margs.all, "Every message of the sink (with --yes)");
  m_discard->add_flag("--yes", margs.yes, "Confirm a bulk discard");
  m_discard->add_option("--sink", margs.sink, "Sink")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports an unknown command as "A subcommand is required":
    // name the word it did not know instead.
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      std::fprintf(stderr,
                   "sluice: unknown command \"%s\" (commands: run, check, messages, version)\n"
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
  return sluice::app::kExitUsage;
}
