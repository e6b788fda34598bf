// Logging: one line per event, with a level. spdlog underneath; call sites use
// the SLUICE_LOG_* macros so the backend stays swappable. Never pass a Secret's
// revealed value to a log call.
#pragma once

#include <spdlog/spdlog.h>

namespace sluice {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Configures the process logger (stderr, "ts level [component] message").
void InitLogging(LogLevel level);

}  // namespace sluice

#define SLUICE_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define SLUICE_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define SLUICE_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define SLUICE_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
