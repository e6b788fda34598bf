// Builds the credentials and the Kinesis client of a sink from its destination
// settings (shared by `run` and `check`).
#pragma once

#include <memory>

#include "aws/credentials.h"
#include "aws/providers.h"
#include "base/clock.h"
#include "base/result.h"
#include "config/environment.h"
#include "config/settings.h"
#include "sink/kinesis/client.h"

namespace sluice::app {

// Refuses what a sink asks for that this build cannot do yet, rather than
// silently running without it. Nothing is refused at present.
Status CheckSinkSupported(const config::SinkSettings& sink);

// The sink's credentials: its static keys, or with use_task_role the AWS
// default chain (aws/chain.h) from the process environment, STS in the stream
// ARN's region, with refresh. `clock` must outlive the result.
std::shared_ptr<aws::CredentialsProvider> MakeSinkCredentials(const config::SinkSettings& sink,
                                                              const Clock& clock);
// The same from the given environment, with the credential endpoints (STS,
// the container agent, IMDS) reached through `transport_factory`: the seam
// the one above fills with the process environment and curl.
std::shared_ptr<aws::CredentialsProvider> MakeSinkCredentials(
    const config::SinkSettings& sink, config::Environment env,
    aws::TransportFactory transport_factory, const Clock& clock);

// The sink's client, with MakeSinkCredentials(sink, clock).
Result<std::unique_ptr<kinesis::KinesisClient>> MakeSinkClient(const config::SinkSettings& sink,
                                                               const Clock& clock);
// The sink's client with the given credentials.
Result<std::unique_ptr<kinesis::KinesisClient>> MakeSinkClient(
    const config::SinkSettings& sink, std::shared_ptr<aws::CredentialsProvider> credentials,
    const Clock& clock);

}  // namespace sluice::app
