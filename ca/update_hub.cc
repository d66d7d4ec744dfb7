#include "ca/update_hub.h"

#include <utility>
#include <vector>

namespace rotor::ca {
namespace {

// Drops expired subscriptions from `subs` and appends the live ones to `out`.
void CollectLive(std::vector<std::weak_ptr<UpdateHub::Subscription>>& subs,
                 std::vector<std::shared_ptr<UpdateHub::Subscription>>& out) {
  size_t kept = 0;
  for (size_t i = 0; i < subs.size(); ++i) {
    std::shared_ptr<UpdateHub::Subscription> sub = subs[i].lock();
    if (sub == nullptr) continue;
    out.push_back(std::move(sub));
    if (kept != i) subs[kept] = std::move(subs[i]);
    ++kept;
  }
  subs.resize(kept);
}

}  // namespace

std::optional<rotor::v1::Update> UpdateHub::Subscription::Next() {
  absl::MutexLock lock(&mu_);
  if (queue_.empty()) return std::nullopt;
  rotor::v1::Update update = std::move(queue_.front());
  queue_.pop_front();
  return update;
}

void UpdateHub::Subscription::Push(rotor::v1::Update update) {
  {
    absl::MutexLock lock(&mu_);
    const auto kind = update.update_case();
    if (kind != rotor::v1::Update::kRevoked) {
      // Only the latest CRL and bundle matter: a newer one replaces any that
      // the stream has not sent yet. Revocations are always kept.
      for (auto it = queue_.begin(); it != queue_.end();) {
        it = it->update_case() == kind ? queue_.erase(it) : it + 1;
      }
    }
    queue_.push_back(std::move(update));
  }
  if (wake_) wake_();
}

std::shared_ptr<UpdateHub::Subscription> UpdateHub::Subscribe(
    std::string node_name, std::function<void()> wake) {
  std::shared_ptr<Subscription> sub(
      new Subscription(node_name, std::move(wake)));
  absl::MutexLock lock(&mu_);
  std::vector<std::weak_ptr<Subscription>>& subs = by_node_[node_name];
  // Drop streams of this node that have ended, so a reconnecting agent does
  // not grow the list.
  std::erase_if(subs, [](const std::weak_ptr<Subscription>& s) {
    return s.expired();
  });
  subs.push_back(sub);
  return sub;
}

void UpdateHub::PublishRevoked(const std::string& node_name,
                               const rotor::v1::Revoked& revoked) {
  std::vector<std::shared_ptr<Subscription>> targets;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_node_.find(node_name);
    if (it == by_node_.end()) return;
    CollectLive(it->second, targets);
    if (it->second.empty()) by_node_.erase(it);
  }
  rotor::v1::Update update;
  *update.mutable_revoked() = revoked;
  for (const std::shared_ptr<Subscription>& sub : targets) sub->Push(update);
}

void UpdateHub::PublishCrl(const rotor::v1::Crl& crl) {
  rotor::v1::Update update;
  *update.mutable_crl() = crl;
  PublishToAll(update);
}

void UpdateHub::PublishBundle(const rotor::v1::TrustBundle& bundle) {
  rotor::v1::Update update;
  *update.mutable_bundle() = bundle;
  PublishToAll(update);
}

void UpdateHub::PublishToAll(const rotor::v1::Update& update) {
  std::vector<std::shared_ptr<Subscription>> targets;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = by_node_.begin(); it != by_node_.end();) {
      CollectLive(it->second, targets);
      if (it->second.empty()) {
        by_node_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  for (const std::shared_ptr<Subscription>& sub : targets) sub->Push(update);
}

size_t UpdateHub::subscriber_count() const {
  absl::MutexLock lock(&mu_);
  size_t count = 0;
  for (const auto& [node, subs] : by_node_) {
    for (const std::weak_ptr<Subscription>& sub : subs) {
      if (!sub.expired()) ++count;
    }
  }
  return count;
}

}  // namespace rotor::ca
