// ChainCredentialsProvider: chooses the first configured provider and stays
// with it; MakeDefaultCredentialsChain builds the AWS SDKs' default chain with
// refresh, for `use_task_role: true`.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aws/credentials.h"
#include "aws/providers.h"
#include "base/clock.h"
#include "config/environment.h"

namespace sluice::aws {

// Get(): until a provider has been chosen, asks each in order. A provider
// that answers kNotFound is not configured (its variables unset, no profile,
// IMDS disabled, ...) and the next one is asked; the first that answers
// anything else is configured and is chosen for good, as the SDKs do: its
// credentials, and from then on its errors too, are the chain's (a failing
// container endpoint is reported as such and retried later by the refreshing
// wrapper, not papered over by falling through to IMDS; a chain that chose
// IMDS does not start reading a profile later). Its errors are returned as it
// words them (each provider's message starts with its name). When no provider
// is configured the error (kAuth) lists every provider's reason in order:
// "no provider is configured: environment: ...; shared files: ...; ...", and
// the next Get() asks them all again. Invalidate() goes to the chosen
// provider. Thread-safe if the providers are.
class ChainCredentialsProvider final : public CredentialsProvider {
 public:
  explicit ChainCredentialsProvider(std::vector<std::unique_ptr<CredentialsProvider>> providers);

  Result<Credentials> Get() override;
  void Invalidate(const std::string& access_key_id) override;
  std::string Name() const override { return "AWS credential chain"; }
  // The chosen provider's Describe(), or Name() before one is chosen.
  std::string Describe() const override;

 private:
  const std::vector<std::unique_ptr<CredentialsProvider>> providers_;
  mutable std::mutex mu_;
  CredentialsProvider* chosen_ = nullptr;  // GUARDED_BY(mu_); one of providers_
};

// The default chain, in the SDKs' order: environment, shared files, web
// identity, container, EC2 instance metadata; wrapped in a
// RefreshingCredentialsProvider (refreshing.h) with default options.
// `sts` locates STS for web identity (the stream ARN's region and partition).
// `clock` must outlive the result. Shared: one chain serves every sender of a
// sink, and its cache is what makes renewal happen once.
std::shared_ptr<CredentialsProvider> MakeDefaultCredentialsChain(StsLocation sts,
                                                                 config::Environment env,
                                                                 TransportFactory transport_factory,
                                                                 const Clock& clock);

}  // namespace sluice::aws
