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
    if (credentials.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (chosen_ == nullptr) chosen_ = provider.get();
      }
      SLUICE_LOG_INFO("AWS credentials from {}", provider->Describe());
      return credentials;
    }
    reasons += (reasons.empty() ? "" : "; ") + credentials.error().message();
  }
  return Error(ErrorCode::kAuth, "no AWS credentials from the chain: " +
                                     (reasons.empty() ? std::string("no providers") : reasons));
}

void ChainCredentialsProvider::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  if (chosen_ != nullptr) chosen_->Invalidate();
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
