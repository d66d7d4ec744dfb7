// UpdateHub: fan-out of updates to WatchUpdates streams. Each stream
// subscribes for one node; the Authority publishes revocations (to the
// holder's node only), new CRLs and bundle changes (to everyone).
//
// Publishing never blocks on a slow subscriber: each subscription has its
// own queue, kept small by collapsing: a new CRL or bundle update replaces
// one of the same kind the stream has not sent yet (only the latest
// matters), so a queue holds at most one CRL, one bundle and the
// revocations, which are always kept.
//
// Cost: a revocation touches only the node's own subscriptions; a CRL or
// bundle touches each open subscription once (one queue push and one wake).
// Ended subscriptions are dropped lazily, when a publish walks past them.
//
// Thread-safety: every method is safe from any thread. A subscription's
// `wake` callback runs on the publishing thread, without the hub's lock
// held; it must not block (it typically kicks the stream's writer).
#ifndef ROTOR_CA_UPDATE_HUB_H_
#define ROTOR_CA_UPDATE_HUB_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "rotor/v1/ca.pb.h"

namespace rotor::ca {

class UpdateHub {
 public:
  class Subscription {
   public:
    // The next queued update, or nullopt if none.
    std::optional<rotor::v1::Update> Next();
    const std::string& node_name() const { return node_name_; }

   private:
    friend class UpdateHub;
    Subscription(std::string node_name, std::function<void()> wake)
        : node_name_(std::move(node_name)), wake_(std::move(wake)) {}
    void Push(rotor::v1::Update update);

    const std::string node_name_;
    const std::function<void()> wake_;
    absl::Mutex mu_;
    std::deque<rotor::v1::Update> queue_ ABSL_GUARDED_BY(mu_);
  };

  // Subscribes a stream of `node_name`. The subscription ends when the
  // returned pointer (and every copy) is released.
  std::shared_ptr<Subscription> Subscribe(std::string node_name,
                                          std::function<void()> wake);

  void PublishRevoked(const std::string& node_name,
                      const rotor::v1::Revoked& revoked);
  void PublishCrl(const rotor::v1::Crl& crl);
  void PublishBundle(const rotor::v1::TrustBundle& bundle);

  // Open subscriptions (the connected_agents metric).
  size_t subscriber_count() const;

  // Largest queue a subscription keeps before collapsing. (Collapsing
  // happens on every push, so a queue exceeds 2 only with revocations.)
  static constexpr size_t kMaxQueue = 64;

 private:
  void PublishToAll(const rotor::v1::Update& update);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<std::weak_ptr<Subscription>>>
      by_node_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rotor::ca

#endif  // ROTOR_CA_UPDATE_HUB_H_
