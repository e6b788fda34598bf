// Process exit codes of the sluice binary (documented in docs/operations.md).
#pragma once

namespace sluice::app {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // a runtime failure, or `check` found a problem
  kExitConfigError = 2,  // the config file is missing or invalid
  kExitUsage = 64,       // bad command line (EX_USAGE)
};

}  // namespace sluice::app
