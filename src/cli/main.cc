// sluice: Postgres changes to Amazon Kinesis.
//
//   sluice run   -c sluice.yaml   the service
//   sluice check -c sluice.yaml   validate config, database and streams
//   sluice version
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

#include "app/check.h"
#include "app/exit_codes.h"
#include "app/service.h"
#include "base/clock.h"
#include "base/log.h"
#include "config/loader.h"

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
    return kExitFailure;
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
  (*service)->Stop();
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports an unknown command as "A subcommand is required":
    // name the word it did not know instead.
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      std::fprintf(stderr,
                   "sluice: unknown command \"%s\" (commands: run, check, version)\n"
                   "Run with --help for more information.\n",
                   app.remaining().front().c_str());
      return sluice::app::kExitUsage;
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
  return sluice::app::kExitUsage;
}
