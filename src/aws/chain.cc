#include "aws/chain.h"

#include <utility>

#include "aws/refreshing.h"
#include "base/log.h"

namespace sluice::aws {

ChainCredentialsProvider::ChainCredentialsProvider(
    std::vector<std::unique_ptr<CredentialsProvider>> providers)
    : providers_(std::move(providers)) {}

Result<Credentials> ChainCredentialsProvider::Get() {
  CredentialsProvider* chosen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    chosen = chosen_;
  }
  if (chosen != nullptr) return chosen->Get();

  std::string reasons;
  for (const auto& provider : providers_) {
    Result<Credentials> credentials = provider->Get();
    if (!credentials.ok() && credentials.error().code() == ErrorCode::kNotFound) {
      reasons += (reasons.empty() ? "" : "; ") + credentials.error().message();
      continue;
    }
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (chosen_ == nullptr) {
        chosen_ = provider.get();
        first = true;
      }
    }
    if (first) {
      SLUICE_LOG_INFO("AWS credentials from {}, the first configured provider of the chain",
                      credentials.ok() ? provider->Describe() : provider->Name());
    }
    return credentials;
  }
  return Error(ErrorCode::kAuth,
               "no provider is configured: " +
                   (reasons.empty() ? std::string("the chain is empty") : reasons));
}

void ChainCredentialsProvider::Invalidate(const std::string& access_key_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (chosen_ != nullptr) chosen_->Invalidate(access_key_id);
}

std::string ChainCredentialsProvider::Describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  return chosen_ != nullptr ? chosen_->Describe() : Name();
}

std::shared_ptr<CredentialsProvider> MakeDefaultCredentialsChain(StsLocation sts,
                                                                 config::Environment env,
                                                                 TransportFactory transport_factory,
                                                                 const Clock& clock) {
  std::vector<std::unique_ptr<CredentialsProvider>> providers;
  providers.push_back(std::make_unique<EnvironmentCredentialsProvider>(env));
  providers.push_back(std::make_unique<ProfileCredentialsProvider>(env));
  providers.push_back(std::make_unique<WebIdentityCredentialsProvider>(env, std::move(sts),
                                                                       transport_factory, clock));
  providers.push_back(std::make_unique<ContainerCredentialsProvider>(env, transport_factory));
  providers.push_back(std::make_unique<ImdsCredentialsProvider>(env, std::move(transport_factory)));
  return std::make_shared<RefreshingCredentialsProvider>(
      std::make_unique<ChainCredentialsProvider>(std::move(providers)), clock);
}

}  // namespace sluice::aws
