// ChainCredentialsProvider: tries providers in order, keeps the first that
// worked; MakeDefaultCredentialsChain builds the AWS SDKs' default chain with
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

// Get(): until one provider has succeeded, tries each in order and keeps the
// first that returns credentials; from then on only that one is asked (as the
// SDKs do: a chain that fell through to IMDS once should not start reading a
// profile later). When all fail the error (kAuth) lists every provider's
// reason in order: "no AWS credentials from the chain: environment: ...;
// shared files: ...; ...". Invalidate() goes to the chosen provider.
// Thread-safe if the providers are.
class ChainCredentialsProvider final : public CredentialsProvider {
 public:
  explicit ChainCredentialsProvider(std::vector<std::unique_ptr<CredentialsProvider>> providers);

  Result<Credentials> Get() override;
  void Invalidate() override;
  std::string Name() const override { return "AWS credential chain"; }
  // The chosen provider's Describe(), or Name() before any success.
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
