// Fuzzes the AdminService calls (docs/design.md, "gRPC surface") through the
// CA core, without a network: the request bytes are parsed as the request
// message, as gRPC would, and handed to the Authority the way
// ca/grpc_service.cc does, for one of four callers (admin, an attested node,
// no client certificate, a node identity this CA never issued).
//
// Input (tests/fuzz/fuzz_authority.h): byte 0 picks the method
// (CreateJoinToken, CreateEntry, ListEntries, DeleteEntry, ListCertificates,
// GetCertificate, RevokeCertificate, GetCrl, GetBundle), byte 1 the caller,
// the rest is the serialized request.
//
// Oracles, besides the sanitizers: only the admin gets anything but a
// refusal (GetCrl and GetBundle are public); refusals carry one of the codes
// docs/design.md lists; what a call says it stored reads back the same (an
// entry is listed, a revoked certificate reads as revoked).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ca/authority.h"
#include "google/protobuf/duration.pb.h"
#include "rotor/v1/ca.pb.h"
#include "tests/fuzz/fuzz_authority.h"
#include "tests/fuzz/fuzz_check.h"

namespace rotor::fuzz {
namespace {

namespace v1 = ::rotor::v1;

enum Method : uint8_t {
  kCreateJoinToken,
  kCreateEntry,
  kListEntries,
  kDeleteEntry,
  kListCertificates,
  kGetCertificate,
  kRevokeCertificate,
  kGetCrl,
  kGetBundle,
  kMethodCount
};

// The duration as ca/grpc_service.cc converts it.
absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

template <typename Request>
bool Parse(const uint8_t* data, size_t size, Request* request) {
  return request->ParseFromArray(data, static_cast<int>(size));
}

// A call that succeeded must have come from the admin.
#define CHECK_ADMIN_OR_REFUSED(expr)                      \
  do {                                                    \
    const absl::Status status_ = (expr);                  \
    if (!status_.ok()) return CheckRefusal(status_);      \
    FUZZ_CHECK(&caller == &ca.admin);                     \
  } while (false)

void Run(uint8_t method, const ca::Caller& caller, const uint8_t* data,
         size_t size) {
  const FuzzCa& ca = GetFuzzCa();
  ca::Authority& authority = *ca.authority;
  switch (method % kMethodCount) {
    case kCreateJoinToken: {
      v1::CreateJoinTokenRequest request;
      if (!Parse(data, size, &request)) return;
      const absl::Duration ttl =
          request.has_ttl() ? FromProto(request.ttl()) : absl::Hours(1);
      absl::StatusOr<ca::JoinToken> token =
          authority.CreateJoinToken(caller, request.node_name(), ttl);
      CHECK_ADMIN_OR_REFUSED(token.status());
      FUZZ_CHECK(token->node_name == request.node_name());
      FUZZ_CHECK(!token->token.empty());
      return;
    }
    case kCreateEntry: {
      v1::CreateEntryRequest request;
      if (!Parse(data, size, &request)) return;
      ca::EntryRequest entry_request;
      entry_request.node_glob = request.node_glob();
      entry_request.spiffe_id = request.spiffe_id();
      entry_request.dns_names.assign(request.dns_names().begin(),
                                     request.dns_names().end());
      if (request.has_max_ttl()) {
        entry_request.max_ttl = FromProto(request.max_ttl());
      }
      absl::StatusOr<store::RegistrationEntry> entry =
          authority.CreateEntry(caller, entry_request);
      CHECK_ADMIN_OR_REFUSED(entry.status());
      absl::StatusOr<std::vector<store::RegistrationEntry>> entries =
          authority.ListEntries(caller);
      FUZZ_CHECK(entries.ok());
      bool listed = false;
      for (const store::RegistrationEntry& e : *entries) {
        if (e.id == entry->id) {
          listed = true;
          FUZZ_CHECK(e.spiffe_id == request.spiffe_id());
          FUZZ_CHECK(e.node_glob == request.node_glob());
        }
      }
      FUZZ_CHECK(listed);
      // Keep the store from growing without bound: delete it again.
      FUZZ_CHECK(authority.DeleteEntry(caller, entry->id).ok());
      return;
    }
    case kListEntries: {
      v1::ListEntriesRequest request;
      if (!Parse(data, size, &request)) return;
      CHECK_ADMIN_OR_REFUSED(authority.ListEntries(caller).status());
      return;
    }
    case kDeleteEntry: {
      v1::DeleteEntryRequest request;
      if (!Parse(data, size, &request)) return;
      // The seeded entries stay: other inputs refer to them.
      if (request.id() == ca.entry_id) return;
      CHECK_ADMIN_OR_REFUSED(authority.DeleteEntry(caller, request.id()));
      return;
    }
    case kListCertificates: {
      v1::ListCertificatesRequest request;
      if (!Parse(data, size, &request)) return;
      ca::CertificateQuery query;
      query.node_name = request.node_name();
      query.spiffe_id = request.spiffe_id();
      if (request.has_expiring_within()) {
        query.expiring_within = FromProto(request.expiring_within());
      }
      query.revoked_only = request.revoked_only();
      query.page_size = request.page_size();
      query.page_token = request.page_token();
      absl::StatusOr<store::CertificatePage> page =
          authority.ListCertificates(caller, query);
      CHECK_ADMIN_OR_REFUSED(page.status());
      for (const store::CertificateRecord& record : page->records) {
        if (!query.node_name.empty()) {
          FUZZ_CHECK(record.node_name == query.node_name);
        }
        if (!query.spiffe_id.empty()) {
          FUZZ_CHECK(record.spiffe_id == query.spiffe_id);
        }
        if (query.revoked_only) FUZZ_CHECK(record.revoked);
      }
      return;
    }
    case kGetCertificate: {
      v1::GetCertificateRequest request;
      if (!Parse(data, size, &request)) return;
      absl::StatusOr<store::CertificateRecord> record =
          authority.GetCertificate(caller, request.serial());
      CHECK_ADMIN_OR_REFUSED(record.status());
      FUZZ_CHECK(!record->der.empty());
      return;
    }
    case kRevokeCertificate: {
      v1::RevokeCertificateRequest request;
      if (!Parse(data, size, &request)) return;
      absl::StatusOr<store::CertificateRecord> record =
          authority.RevokeCertificate(caller, request.serial(),
                                      request.reason());
      CHECK_ADMIN_OR_REFUSED(record.status());
      FUZZ_CHECK(record->revoked);
      absl::StatusOr<store::CertificateRecord> again =
          authority.GetCertificate(caller, record->serial);
      FUZZ_CHECK(again.ok() && again->revoked);
      return;
    }
    case kGetCrl: {
      v1::GetCrlRequest request;
      if (!Parse(data, size, &request)) return;
      FUZZ_CHECK(!authority.GetCrl().der.empty());
      return;
    }
    case kGetBundle: {
      v1::GetBundleRequest request;
      if (!Parse(data, size, &request)) return;
      FUZZ_CHECK(!authority.GetBundle().roots.empty());
      return;
    }
  }
}

std::vector<Seed> Seeds() {
  const FuzzCa& ca = GetFuzzCa();
  std::vector<Seed> seeds;
  auto add = [&](const std::string& name, Method method, uint8_t caller,
                 const google::protobuf::Message& request) {
    seeds.push_back({name, FrameInput(method, caller, request)});
  };
  v1::CreateJoinTokenRequest token;
  token.set_node_name("web-1");
  add("create_join_token", kCreateJoinToken, 0, token);
  token.mutable_ttl()->set_seconds(300);
  add("create_join_token_ttl", kCreateJoinToken, 0, token);
  add("create_join_token_node", kCreateJoinToken, 1, token);
  v1::CreateEntryRequest entry;
  entry.set_node_glob("web-*");
  entry.set_spiffe_id("spiffe://example.org/web/frontend");
  entry.add_dns_names("frontend.example.org");
  entry.add_dns_names("*.frontend.example.org");
  entry.mutable_max_ttl()->set_seconds(3600);
  add("create_entry", kCreateEntry, 0, entry);
  entry.set_spiffe_id("spiffe://example.org/rotor/node/x");
  add("create_entry_reserved_id", kCreateEntry, 0, entry);
  add("list_entries", kListEntries, 0, v1::ListEntriesRequest());
  add("list_entries_anonymous", kListEntries, 2, v1::ListEntriesRequest());
  v1::DeleteEntryRequest del;
  del.set_id("e-0000");
  add("delete_entry_unknown", kDeleteEntry, 0, del);
  v1::ListCertificatesRequest list;
  add("list_certificates", kListCertificates, 0, list);
  list.set_node_name("fuzz-node");
  list.set_page_size(1);
  add("list_certificates_node", kListCertificates, 0, list);
  list.Clear();
  list.set_spiffe_id("spiffe://example.org/web");
  list.mutable_expiring_within()->set_seconds(7200);
  add("list_certificates_expiring", kListCertificates, 0, list);
  list.Clear();
  list.set_revoked_only(true);
  add("list_certificates_revoked", kListCertificates, 0, list);
  v1::GetCertificateRequest get;
  get.set_serial(ca.workload_serial);
  add("get_certificate", kGetCertificate, 0, get);
  get.set_serial("0x" + ca.node_serial);
  add("get_certificate_prefixed", kGetCertificate, 0, get);
  v1::RevokeCertificateRequest revoke;
  revoke.set_serial(ca.workload_serial);
  revoke.set_reason("keyCompromise");
  add("revoke_certificate", kRevokeCertificate, 0, revoke);
  revoke.set_reason("");
  add("revoke_certificate_no_reason", kRevokeCertificate, 3, revoke);
  add("get_crl", kGetCrl, 2, v1::GetCrlRequest());
  add("get_bundle", kGetBundle, 2, v1::GetBundleRequest());
  return seeds;
}

}  // namespace
}  // namespace rotor::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  rotor::fuzz::GetFuzzCa();
  rotor::fuzz::MaybeWriteSeedsAndExit(rotor::fuzz::Seeds());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const rotor::fuzz::FuzzCa& ca = rotor::fuzz::GetFuzzCa();
  rotor::fuzz::Run(data[0], ca.CallerFor(data[1]), data + 2, size - 2);
  return 0;
}
