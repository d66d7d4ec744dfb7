#include "ca/grpc_service.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "ca/caller.h"
#include "ca/grpc_status.h"
#include "ca/update_hub.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "pki/revocation.h"
#include "util/log.h"

namespace rotor::ca {
namespace {

namespace v1 = ::rotor::v1;

// --- Conversions between the core's types and the API's messages ---

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

void ToProto(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void ToProto(const TrustBundle& bundle, v1::TrustBundle* out) {
  for (const pki::Certificate& root : bundle.roots) out->add_root_der(root.der());
  out->set_version(bundle.version);
}

void ToProto(const CrlSet& crl, v1::Crl* out) {
  for (const std::string& der : crl.der) out->add_der(der);
  out->set_number(crl.number);
}

void ToProto(const IssuedCertificate& issued, v1::CertificateChain* out) {
  out->add_der(issued.leaf.der());
  for (const pki::Certificate& c : issued.chain) out->add_der(c.der());
  out->set_serial(issued.leaf.SerialHex());
  ToProto(issued.leaf.NotAfter(), out->mutable_not_after());
}

void ToProto(const store::CertificateRecord& record, v1::CertificateInfo* out) {
  out->set_serial(record.serial);
  out->set_spiffe_id(record.spiffe_id);
  for (const std::string& name : record.dns_names) out->add_dns_names(name);
  out->set_node_name(record.node_name);
  out->set_kind(std::string(store::CertificateKindName(record.kind)));
  ToProto(record.not_before, out->mutable_not_before());
  ToProto(record.not_after, out->mutable_not_after());
  ToProto(record.issued_at, out->mutable_issued_at());
  out->set_revoked(record.revoked);
  if (record.revoked) {
    ToProto(record.revoked_at, out->mutable_revoked_at());
    out->set_revocation_reason(
        std::string(pki::RevocationReasonName(record.revocation_reason)));
    out->set_revoked_by(record.revoked_by);
  }
  out->set_der(record.der);
}

void ToProto(const store::RegistrationEntry& entry, v1::Entry* out) {
  out->set_id(entry.id);
  out->set_node_glob(entry.node_glob);
  out->set_spiffe_id(entry.spiffe_id);
  for (const std::string& name : entry.dns_names) out->add_dns_names(name);
  ToProto(entry.max_ttl, out->mutable_max_ttl());
  ToProto(entry.created_at, out->mutable_created_at());
  out->set_created_by(entry.created_by);
}

// --- Running a unary call ---

// The core logs its own refusals, issuances and revocations in one line
// each; this layer logs only what the core never saw.
void CountRefusal(CaMetrics* metrics, const absl::Status& status) {
  metrics->refused().Increment(absl::StatusCodeToString(status.code()));
}

// A refusal by the transport (the client certificate could not be read):
// counted and logged here.
void CountAndLogTransportRefusal(CaMetrics* metrics, absl::string_view method,
                                 absl::string_view peer,
                                 const absl::Status& status) {
  CountRefusal(metrics, status);
  LogWarning("refused",
             {{"method", std::string(method)},
              {"peer", std::string(peer)},
              {"outcome", absl::StatusCodeToString(status.code())},
              {"error", std::string(status.message())}});
}

// Reads the caller, then runs `body(caller)` (returning absl::Status and
// filling the response) on `pool`, and finishes the call with its status.
// `latency`, when set, observes the time from here to the answer.
template <typename Body>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* context,
                                   WorkerPool* pool, CaMetrics* metrics,
                                   absl::string_view method, Body body,
                                   Histogram* latency = nullptr) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Caller> caller = CallerFromContext(*context);
  if (!caller.ok()) {
    CountAndLogTransportRefusal(metrics, method, context->peer(),
                                caller.status());
    reactor->Finish(ToGrpcStatus(caller.status()));
    return reactor;
  }
  const auto start = std::chrono::steady_clock::now();
  pool->Schedule([reactor, metrics, latency, start,
                  caller = *std::move(caller),
                  body = std::move(body)]() mutable {
    const absl::Status status = body(caller);
    if (latency != nullptr) {
      latency->Observe(std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start)
                           .count());
    }
    if (!status.ok()) CountRefusal(metrics, status);
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

// A stream refused before it started.
class RefusedWatch final : public grpc::ServerWriteReactor<v1::Update> {
 public:
  explicit RefusedWatch(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace

// --- WatchUpdates ---

// One WatchUpdates stream. Owned by gRPC until OnDone, and additionally by
// whoever holds a reference (the hub's wake callback, StopWatches) while it
// calls in; deleted when the last reference goes. Reactions and wakes may
// come from any thread; gRPC operations are started without any lock held.
class WatchReactor final : public grpc::ServerWriteReactor<v1::Update> {
 public:
  // Where the hub's wake callback finds the reactor while it is alive.
  struct Handle {
    absl::Mutex mu;
    WatchReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
  };

  WatchReactor(NodeServiceImpl* service, Caller caller, std::string node)
      : service_(service),
        caller_(std::move(caller)),
        node_(std::move(node)),
        handle_(std::make_shared<Handle>()) {
    absl::MutexLock lock(&handle_->mu);
    handle_->reactor = this;
  }

  // Subscribes, queues the current bundle and CRL, starts writing.
  void Begin(Authority& authority) {
    std::weak_ptr<Handle> weak = handle_;
    std::shared_ptr<UpdateHub::Subscription> subscription =
        authority.updates().Subscribe(node_, [weak] { Wake(weak); });
    // Subscribed first, so nothing published from here on is missed; the
    // current state may then arrive twice, which is harmless.
    v1::Update bundle;
    ToProto(authority.GetBundle(), bundle.mutable_bundle());
    v1::Update crl;
    ToProto(authority.GetCrl(), crl.mutable_crl());
    {
      absl::MutexLock lock(&mu_);
      subscription_ = std::move(subscription);
      initial_.push_back(std::move(bundle));
      initial_.push_back(std::move(crl));
    }
    LogInfo("watch started", {{"node", node_}, {"peer", caller_.peer}});
    Pump();
  }

  // Ends the stream with `status` once any write in flight is done.
  void Stop(const absl::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (!finish_) finish_ = ToGrpcStatus(status);
    }
    Pump();
  }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !finish_) {
        finish_ = grpc::Status(grpc::StatusCode::CANCELLED,
                               "the WatchUpdates stream broke");
      }
    }
    Pump();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      if (!finish_) {
        finish_ = grpc::Status(grpc::StatusCode::CANCELLED,
                               "the client cancelled WatchUpdates");
      }
    }
    Pump();
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&handle_->mu);
      handle_->reactor = nullptr;
    }
    service_->Forget(this);
    std::shared_ptr<UpdateHub::Subscription> subscription;
    {
      absl::MutexLock lock(&mu_);
      subscription = std::move(subscription_);
    }
    subscription.reset();  // ends the subscription outside our lock
    LogInfo("watch ended", {{"node", node_}, {"peer", caller_.peer}});
    Unref();
  }

 private:
  ~WatchReactor() override = default;

  static void Wake(const std::weak_ptr<Handle>& weak) {
    std::shared_ptr<Handle> handle = weak.lock();
    if (handle == nullptr) return;
    WatchReactor* reactor;
    {
      absl::MutexLock lock(&handle->mu);
      reactor = handle->reactor;
      if (reactor == nullptr) return;
      reactor->Ref();
    }
    reactor->Pump();
    reactor->Unref();
  }

  // Starts the next write, or the finish, if nothing is in flight.
  void Pump() {
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || writing_) return;
      std::optional<v1::Update> next;
      if (finish_) {
        finished_ = true;
        finish = *finish_;
      } else if (!initial_.empty()) {
        next = std::move(initial_.front());
        initial_.pop_front();
      } else if (subscription_ != nullptr) {
        next = subscription_->Next();
      }
      if (!finish && !next) return;
      if (next) {
        if (next->has_revoked() && !caller_.serial.empty() &&
            next->revoked().serial() == caller_.serial) {
          finish_ = grpc::Status(
              grpc::StatusCode::PERMISSION_DENIED,
              absl::StrCat("node certificate ", caller_.serial,
                           " was revoked; attest again with a new join "
                           "token"));
        }
        current_ = std::move(*next);
        writing_ = true;
      }
    }
    if (finish) {
      Finish(*std::move(finish));
    } else {
      StartWrite(&current_);
    }
  }

  NodeServiceImpl* const service_;
  const Caller caller_;
  const std::string node_;
  const std::shared_ptr<Handle> handle_;
  std::atomic<int> refs_{1};  // gRPC's, until OnDone

  absl::Mutex mu_;
  std::shared_ptr<UpdateHub::Subscription> subscription_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::Update> initial_ ABSL_GUARDED_BY(mu_);
  // The message being written; untouched while writing_.
  v1::Update current_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Set: finish with this once no write is in flight.
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// --- NodeService ---

NodeServiceImpl::NodeServiceImpl(Authority* authority, WorkerPool* pool,
                                 CaMetrics* metrics)
    : authority_(authority), pool_(pool), metrics_(metrics) {}

NodeServiceImpl::~NodeServiceImpl() = default;

void NodeServiceImpl::StopWatches() {
  std::vector<WatchReactor*> open;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    open.reserve(watches_.size());
    for (WatchReactor* reactor : watches_) {
      reactor->Ref();
      open.push_back(reactor);
    }
  }
  const absl::Status status =
      absl::UnavailableError("rotor-ca is shutting down; reconnect");
  for (WatchReactor* reactor : open) {
    reactor->Stop(status);
    reactor->Unref();
  }
}

size_t NodeServiceImpl::open_watches() const {
  absl::MutexLock lock(&mu_);
  return watches_.size();
}

void NodeServiceImpl::Forget(WatchReactor* reactor) {
  absl::MutexLock lock(&mu_);
  watches_.erase(reactor);
}

grpc::ServerUnaryReactor* NodeServiceImpl::GetBundle(
    grpc::CallbackServerContext* context, const v1::GetBundleRequest*,
    v1::TrustBundle* response) {
  ToProto(authority_->GetBundle(), response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* NodeServiceImpl::Attest(
    grpc::CallbackServerContext* context, const v1::AttestRequest* request,
    v1::AttestResponse* response) {
  return RunUnary(
      context, pool_, metrics_, "Attest",
      [this, request, response](const Caller& caller) -> absl::Status {
        absl::StatusOr<IssuedCertificate> issued = authority_->Attest(
            caller, request->join_token(), request->csr_der());
        if (!issued.ok()) return issued.status();
        metrics_->issued().Increment("node");
        ToProto(*issued, response->mutable_node());
        ToProto(authority_->GetBundle(), response->mutable_bundle());
        return absl::OkStatus();
      },
      &metrics_->issue_latency());
}

grpc::ServerUnaryReactor* NodeServiceImpl::RenewNode(
    grpc::CallbackServerContext* context, const v1::RenewNodeRequest* request,
    v1::RenewNodeResponse* response) {
  return RunUnary(
      context, pool_, metrics_, "RenewNode",
      [this, request, response](const Caller& caller) -> absl::Status {
        absl::StatusOr<IssuedCertificate> issued =
            authority_->RenewNode(caller, request->csr_der());
        if (!issued.ok()) return issued.status();
        metrics_->issued().Increment("node");
        ToProto(*issued, response->mutable_node());
        ToProto(authority_->GetBundle(), response->mutable_bundle());
        return absl::OkStatus();
      },
      &metrics_->issue_latency());
}

grpc::ServerUnaryReactor* NodeServiceImpl::SignWorkload(
    grpc::CallbackServerContext* context,
    const v1::SignWorkloadRequest* request,
    v1::SignWorkloadResponse* response) {
  return RunUnary(
      context, pool_, metrics_, "SignWorkload",
      [this, request, response](const Caller& caller) -> absl::Status {
        std::optional<absl::Duration> ttl;
        if (request->has_ttl()) ttl = FromProto(request->ttl());
        absl::StatusOr<IssuedCertificate> issued =
            authority_->SignWorkload(caller, request->csr_der(), ttl);
        if (!issued.ok()) return issued.status();
        metrics_->issued().Increment("workload");
        ToProto(*issued, response->mutable_certificate());
        ToProto(authority_->GetBundle(), response->mutable_bundle());
        ToProto(authority_->GetCrl(), response->mutable_crl());
        return absl::OkStatus();
      },
      &metrics_->issue_latency());
}

grpc::ServerWriteReactor<v1::Update>* NodeServiceImpl::WatchUpdates(
    grpc::CallbackServerContext* context, const v1::WatchUpdatesRequest*) {
  absl::StatusOr<Caller> caller = CallerFromContext(*context);
  absl::StatusOr<std::string> node =
      caller.ok() ? authority_->AuthenticateNode(*caller)
                  : absl::StatusOr<std::string>(caller.status());
  if (!caller.ok()) {
    CountAndLogTransportRefusal(metrics_, "WatchUpdates", context->peer(),
                                caller.status());
    return new RefusedWatch(caller.status());
  }
  if (!node.ok()) {
    CountRefusal(metrics_, node.status());
    return new RefusedWatch(node.status());
  }
  auto* reactor = new WatchReactor(this, *std::move(caller), *node);
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) watches_.insert(reactor);
  }
  reactor->Begin(*authority_);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      reactor->Stop(
          absl::UnavailableError("rotor-ca is shutting down; reconnect"));
    }
  }
  return reactor;
}

// --- AdminService ---

AdminServiceImpl::AdminServiceImpl(Authority* authority, WorkerPool* pool,
                                   CaMetrics* metrics)
    : authority_(authority), pool_(pool), metrics_(metrics) {}

grpc::ServerUnaryReactor* AdminServiceImpl::CreateJoinToken(
    grpc::CallbackServerContext* context,
    const v1::CreateJoinTokenRequest* request,
    v1::CreateJoinTokenResponse* response) {
  return RunUnary(
      context, pool_, metrics_, "CreateJoinToken",
      [this, request, response](const Caller& caller) -> absl::Status {
        // The API's default (ca.proto): an unset ttl means one hour.
        const absl::Duration ttl =
            request->has_ttl() ? FromProto(request->ttl()) : absl::Hours(1);
        absl::StatusOr<JoinToken> token =
            authority_->CreateJoinToken(caller, request->node_name(), ttl);
        if (!token.ok()) return token.status();
        response->set_token(token->token);
        response->set_node_name(token->node_name);
        ToProto(token->expires_at, response->mutable_expires_at());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::CreateEntry(
    grpc::CallbackServerContext* context,
    const v1::CreateEntryRequest* request, v1::Entry* response) {
  return RunUnary(
      context, pool_, metrics_, "CreateEntry",
      [this, request, response](const Caller& caller) -> absl::Status {
        EntryRequest entry_request;
        entry_request.node_glob = request->node_glob();
        entry_request.spiffe_id = request->spiffe_id();
        entry_request.dns_names.assign(request->dns_names().begin(),
                                       request->dns_names().end());
        if (request->has_max_ttl()) {
          entry_request.max_ttl = FromProto(request->max_ttl());
        }
        absl::StatusOr<store::RegistrationEntry> entry =
            authority_->CreateEntry(caller, entry_request);
        if (!entry.ok()) return entry.status();
        ToProto(*entry, response);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListEntries(
    grpc::CallbackServerContext* context, const v1::ListEntriesRequest*,
    v1::ListEntriesResponse* response) {
  return RunUnary(context, pool_, metrics_, "ListEntries",
                  [this, response](const Caller& caller) -> absl::Status {
                    absl::StatusOr<std::vector<store::RegistrationEntry>>
                        entries = authority_->ListEntries(caller);
                    if (!entries.ok()) return entries.status();
                    for (const store::RegistrationEntry& entry : *entries) {
                      ToProto(entry, response->add_entries());
                    }
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::DeleteEntry(
    grpc::CallbackServerContext* context,
    const v1::DeleteEntryRequest* request, v1::DeleteEntryResponse*) {
  return RunUnary(context, pool_, metrics_, "DeleteEntry",
                  [this, request](const Caller& caller) -> absl::Status {
                    return authority_->DeleteEntry(caller, request->id());
                  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListCertificates(
    grpc::CallbackServerContext* context,
    const v1::ListCertificatesRequest* request,
    v1::ListCertificatesResponse* response) {
  return RunUnary(
      context, pool_, metrics_, "ListCertificates",
      [this, request, response](const Caller& caller) -> absl::Status {
        CertificateQuery query;
        query.node_name = request->node_name();
        query.spiffe_id = request->spiffe_id();
        if (request->has_expiring_within()) {
          query.expiring_within = FromProto(request->expiring_within());
        }
        query.revoked_only = request->revoked_only();
        query.page_size = request->page_size();
        query.page_token = request->page_token();
        absl::StatusOr<store::CertificatePage> page =
            authority_->ListCertificates(caller, query);
        if (!page.ok()) return page.status();
        for (const store::CertificateRecord& record : page->records) {
          ToProto(record, response->add_certificates());
        }
        response->set_next_page_token(page->next_cursor);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetCertificate(
    grpc::CallbackServerContext* context,
    const v1::GetCertificateRequest* request, v1::CertificateInfo* response) {
  return RunUnary(
      context, pool_, metrics_, "GetCertificate",
      [this, request, response](const Caller& caller) -> absl::Status {
        absl::StatusOr<store::CertificateRecord> record =
            authority_->GetCertificate(caller, request->serial());
        if (!record.ok()) return record.status();
        ToProto(*record, response);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RevokeCertificate(
    grpc::CallbackServerContext* context,
    const v1::RevokeCertificateRequest* request,
    v1::CertificateInfo* response) {
  return RunUnary(
      context, pool_, metrics_, "RevokeCertificate",
      [this, request, response](const Caller& caller) -> absl::Status {
        absl::StatusOr<store::CertificateRecord> record =
            authority_->RevokeCertificate(caller, request->serial(),
                                          request->reason());
        if (!record.ok()) return record.status();
        metrics_->revoked().Increment();
        ToProto(*record, response);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetCrl(
    grpc::CallbackServerContext* context, const v1::GetCrlRequest*,
    v1::Crl* response) {
  return RunUnary(context, pool_, metrics_, "GetCrl",
                  [this, response](const Caller& caller) -> absl::Status {
                    absl::Status status = authority_->AuthorizeAdmin(caller);
                    if (!status.ok()) return status;
                    ToProto(authority_->GetCrl(), response);
                    return absl::OkStatus();
                  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetBundle(
    grpc::CallbackServerContext* context, const v1::GetBundleRequest*,
    v1::TrustBundle* response) {
  return RunUnary(context, pool_, metrics_, "GetBundle",
                  [this, response](const Caller& caller) -> absl::Status {
                    absl::Status status = authority_->AuthorizeAdmin(caller);
                    if (!status.ok()) return status;
                    ToProto(authority_->GetBundle(), response);
                    return absl::OkStatus();
                  });
}

}  // namespace rotor::ca
