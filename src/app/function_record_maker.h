// RecordMakers that run a sink's functions (SPEC §6: filter → routing →
// transform) on each message at every delivery attempt.
#pragma once

#include "config/settings.h"
#include "delivery/record_maker.h"
#include "model/encoder.h"

namespace sluice::app {

// For a sink without functions this is plain encoding. Otherwise each maker
// owns a Lua runtime with every function of `settings` compiled; making one
// fails with the first function that does not compile. `settings` must
// outlive the makers.
delivery::RecordMakerFactory SinkRecordMakers(const config::Settings& settings,
                                              const config::SinkSettings& sink,
                                              model::EncodeOptions encode);

}  // namespace sluice::app
