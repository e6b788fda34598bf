// Builds the Kinesis client of a sink from its destination settings (shared by
// `run` and `check`).
#pragma once

#include <memory>

#include "base/clock.h"
#include "base/result.h"
#include "config/settings.h"
#include "sink/kinesis/client.h"

namespace sluice::app {

// Refuses what a sink asks for that this build cannot do yet, rather than
// silently running without it: the AWS credential chain (use_task_role).
Status CheckSinkSupported(const config::SinkSettings& sink);

Result<std::unique_ptr<kinesis::KinesisClient>> MakeSinkClient(const config::SinkSettings& sink,
                                                               const Clock& clock);

}  // namespace sluice::app
