// The agent's event loop: it keeps the node's identity and every configured
// certificate valid on disk, rotating before expiry and reacting to the CA's
// pushes.
//
//  - Start: the node key and certificate are loaded from STATE_DIR/node; if
//    there are none (or they expired) the CA is authenticated by the pinned
//    trust_anchor on first contact and the node attests with its join token
//    (read once; the file is emptied after use when writable). STATE_DIR is
//    0700, the node key 0600.
//  - Each certificate on disk that is valid, chains to the CA's roots and
//    matches the config (SPIFFE ID, DNS names, key type) is kept; any other
//    gets a new key generated here, a CSR with exactly the configured SANs,
//    SignWorkload, and an atomic write (agent/atomic_writer.h).
//  - Renewal at renew_at of the lifetime with jitter, retries with backoff
//    (agent/scheduler.h); the node certificate renews the same way through
//    RenewNode. Every renewal makes a new key.
//  - WatchUpdates (on its own thread, reconnected with backoff): a revoked
//    certificate is re-keyed and rewritten at once; a bundle or CRL change
//    rewrites bundle.pem / crl.pem of every certificate. A new stream counts
//    as the CA answering again: renewals that failed during the outage are
//    retried at once.
//  - on_rotate hooks run on their own thread after each change of a set
//    (changes made while a set's run waits to start share one run:
//    CoalesceHookContexts); a failure is logged and counted, never blocks
//    rotation.
//  - One log line per rotation: name, old and new serial, expiry.
//  - Between events the loop sleeps on a condition variable until the next
//    deadline (no polling).
//
// Thread-safety: Stop(), Reload(), Status() and the update entry points are
// safe from any thread. Run() (or the test driver RunOnce()) is called from
// one thread at a time.
#ifndef ROTOR_AGENT_AGENT_H_
#define ROTOR_AGENT_AGENT_H_

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/atomic_writer.h"
#include "agent/ca_client.h"
#include "agent/config.h"
#include "agent/filesystem.h"
#include "agent/hooks.h"
#include "agent/scheduler.h"
#include "agent/status.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/random.h"
#include "rotor/v1/ca.pb.h"
#include "util/clock.h"

namespace rotor::agent {

using HookFunction = std::function<absl::Status(
    const HookConfig&, const HookContext&, std::string* output)>;

struct AgentEnv {
  CaClient* ca = nullptr;          // required
  Filesystem* fs = nullptr;        // required
  const Clock* clock = nullptr;    // required
  pki::Random* random = nullptr;   // required; keys use the OS CSPRNG
  // Runs on_rotate hooks; RunHook when empty.
  HookFunction run_hook;
  // Called once, from the loop, when the node has its identity and every
  // certificate has been issued, kept from disk or has failed once.
  std::function<void()> on_ready;
};

class Agent {
 public:
  // REQUIRES: the env's pointers outlive the agent.
  Agent(AgentConfig config, AgentEnv env);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs the loop with the watch and hook threads until Stop(). Returns OK
  // after a clean stop; only setup failures that no retry can fix (the
  // trust_anchor file cannot be read, STATE_DIR cannot be created) end it
  // early with an error.
  absl::Status Run();

  // Makes Run() return soon: the loop wakes, the watch stream is cancelled,
  // a hook in progress finishes (or times out) first.
  void Stop();

  // Applies a new config from the loop: certificates whose identity (SPIFFE
  // ID, DNS names, key type) and folder are unchanged keep their files (a
  // changed mode or owner rewrites them, a changed TTL or hook applies from
  // the next rotation); new or changed ones are loaded from disk or issued;
  // removed ones are left alone. New renew_at and backoff settings apply
  // from each certificate's next renewal or failure. Changes to ca, trust_anchor, node_name
  // or state_dir are logged and need a restart.
  void Reload(AgentConfig config);

  // Queues an update as if it came from WatchUpdates (the watch thread calls
  // this; tests call it directly).
  void OnUpdate(const rotor::v1::Update& update);

  // A snapshot of what the loop last recorded.
  AgentStatus Status() const;

  // Test driver: one pass of the loop at env.clock->Now() without threads
  // (hooks run inline): processes queued updates and reloads, sets up the
  // node, and performs every due issuance, renewal and write. Returns when
  // the next pass is due (InfiniteFuture if never). Errors are recorded per
  // certificate, not returned; the status is an error only for setup
  // failures that Run() would return.
  absl::StatusOr<absl::Time> RunOnce();

 private:
  struct Managed;
  struct Event {
    enum Kind { kUpdate, kHookDone } kind = kUpdate;
    rotor::v1::Update update;
    std::string name;
    absl::Status status;
  };
  struct HookJob {
    HookConfig hook;
    HookContext context;
  };

  // --- loop steps (loop thread only) ---
  absl::Status Setup();
  void ApplyConfig(AgentConfig config);
  std::unique_ptr<Managed> NewManaged(const CertificateConfig& config);
  void HandleEvent(Event& event, absl::Time now);
  void HandleBundle(const rotor::v1::TrustBundle& bundle);
  void HandleCrl(const rotor::v1::Crl& crl, absl::Time now);
  void HandleRevoked(const std::string& serial, absl::Time now);
  void MarkFilesStale();
  absl::Status EnsureTrust();
  absl::Status LoadFromDisk(Managed& m, absl::Time now);
  void Process(Managed& m, absl::Time now);
  absl::Status Issue(Managed& m, absl::Time now);
  absl::Status IssueNode(Managed& m, absl::Time now);
  absl::Status WriteFiles(Managed& m);
  void RecordFailure(Managed& m, const absl::Status& status, absl::Time now);
  void QueueHook(const Managed& m, const std::string& reason);
  void Publish(absl::Time now);
  absl::Time NextDeadline(absl::Time now) const;
  bool NodeReady(absl::Time now) const;
  void CheckReady();

  // --- threads ---
  void WatchLoop(Backoff backoff, std::string ca);
  void HookLoop();

  AgentConfig config_;
  AgentEnv env_;
  AtomicWriter writer_;
  std::vector<std::string> pins_;

  // Loop-thread state.
  bool setup_done_ = false;
  std::vector<pki::Certificate> roots_;
  std::string roots_pem_;
  std::string crl_pem_;
  bool crl_known_ = false;
  std::vector<std::string> crl_der_;
  std::unique_ptr<Managed> node_;
  std::vector<std::unique_ptr<Managed>> certs_;
  bool ready_ = false;
  bool threads_running_ = false;

  mutable absl::Mutex mu_;
  absl::CondVar wake_;  // the loop: events, reload, stop
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  std::optional<AgentConfig> pending_config_ ABSL_GUARDED_BY(mu_);
  AgentStatus status_ ABSL_GUARDED_BY(mu_);
  bool watch_enabled_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar watch_wake_;
  std::deque<HookJob> hooks_ ABSL_GUARDED_BY(mu_);
  absl::CondVar hook_wake_;
};

}  // namespace rotor::agent

#endif  // ROTOR_AGENT_AGENT_H_
