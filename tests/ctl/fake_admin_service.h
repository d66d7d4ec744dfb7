// A scripted AdminService for rotorctl's unit tests, served in-process
// (grpc::Server::InProcessChannel: no sockets), that records every request.
//
//   FakeAdmin admin;
//   admin.service.certificates = {...};
//   std::unique_ptr<AdminClient> client = admin.Client();
//
// Thread-safety: handlers run on gRPC's threads; the recorded requests are
// read by the test after its call returned, which orders them.
#ifndef ROTOR_TESTS_CTL_FAKE_ADMIN_SERVICE_H_
#define ROTOR_TESTS_CTL_FAKE_ADMIN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "ctl/client.h"
#include "rotor/v1/ca.grpc.pb.h"

namespace rotor::ctl {

class FakeAdminService final : public rotor::v1::AdminService::Service {
 public:
  // Every call fails with this when it is not OK.
  grpc::Status error = grpc::Status::OK;

  // What the calls answer.
  rotor::v1::CreateJoinTokenResponse token;
  rotor::v1::Entry entry;
  std::vector<rotor::v1::Entry> entries;
  // ListCertificates pages through these: page_token is the offset.
  std::vector<rotor::v1::CertificateInfo> certificates;
  // When set, every page's next_page_token is "loop" (a broken server).
  bool repeat_page_token = false;
  rotor::v1::CertificateInfo certificate;  // GetCertificate, Revoke
  rotor::v1::Crl crl;
  rotor::v1::TrustBundle bundle;

  // What the calls were asked.
  std::vector<rotor::v1::CreateJoinTokenRequest> token_requests;
  std::vector<rotor::v1::CreateEntryRequest> entry_requests;
  std::vector<rotor::v1::DeleteEntryRequest> delete_requests;
  std::vector<rotor::v1::ListCertificatesRequest> list_requests;
  std::vector<rotor::v1::GetCertificateRequest> get_requests;
  std::vector<rotor::v1::RevokeCertificateRequest> revoke_requests;
  int calls = 0;

  grpc::Status CreateJoinToken(
      grpc::ServerContext*, const rotor::v1::CreateJoinTokenRequest* req,
      rotor::v1::CreateJoinTokenResponse* resp) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    token_requests.push_back(*req);
    if (!error.ok()) return error;
    *resp = token;
    return grpc::Status::OK;
  }

  grpc::Status CreateEntry(grpc::ServerContext*,
                           const rotor::v1::CreateEntryRequest* req,
                           rotor::v1::Entry* resp) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    entry_requests.push_back(*req);
    if (!error.ok()) return error;
    *resp = entry;
    return grpc::Status::OK;
  }

  grpc::Status ListEntries(grpc::ServerContext*,
                           const rotor::v1::ListEntriesRequest*,
                           rotor::v1::ListEntriesResponse* resp) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    if (!error.ok()) return error;
    for (const rotor::v1::Entry& e : entries) *resp->add_entries() = e;
    return grpc::Status::OK;
  }

  grpc::Status DeleteEntry(grpc::ServerContext*,
                           const rotor::v1::DeleteEntryRequest* req,
                           rotor::v1::DeleteEntryResponse*) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    delete_requests.push_back(*req);
    return error;
  }

  grpc::Status ListCertificates(
      grpc::ServerContext*, const rotor::v1::ListCertificatesRequest* req,
      rotor::v1::ListCertificatesResponse* resp) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    list_requests.push_back(*req);
    if (!error.ok()) return error;
    size_t offset = 0;
    if (!req->page_token().empty() && req->page_token() != "loop" &&
        !absl::SimpleAtoi(req->page_token(), &offset)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page token");
    }
    const size_t size = req->page_size() == 0 ? 100 : req->page_size();
    size_t end = std::min(certificates.size(), offset + size);
    for (size_t i = offset; i < end; ++i) {
      *resp->add_certificates() = certificates[i];
    }
    if (repeat_page_token) {
      resp->set_next_page_token("loop");
    } else if (end < certificates.size()) {
      resp->set_next_page_token(absl::StrCat(end));
    }
    return grpc::Status::OK;
  }

  grpc::Status GetCertificate(grpc::ServerContext*,
                              const rotor::v1::GetCertificateRequest* req,
                              rotor::v1::CertificateInfo* resp) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    get_requests.push_back(*req);
    if (!error.ok()) return error;
    *resp = certificate;
    return grpc::Status::OK;
  }

  grpc::Status RevokeCertificate(grpc::ServerContext*,
                                 const rotor::v1::RevokeCertificateRequest* req,
                                 rotor::v1::CertificateInfo* resp) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    revoke_requests.push_back(*req);
    if (!error.ok()) return error;
    *resp = certificate;
    return grpc::Status::OK;
  }

  grpc::Status GetCrl(grpc::ServerContext*, const rotor::v1::GetCrlRequest*,
                      rotor::v1::Crl* resp) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    if (!error.ok()) return error;
    *resp = crl;
    return grpc::Status::OK;
  }

  grpc::Status GetBundle(grpc::ServerContext*,
                         const rotor::v1::GetBundleRequest*,
                         rotor::v1::TrustBundle* resp) override {
    absl::MutexLock lock(&mu_);
    ++calls;
    if (!error.ok()) return error;
    *resp = bundle;
    return grpc::Status::OK;
  }

 private:
  absl::Mutex mu_;
};

// The fake served in-process; Client() gives rotorctl's client over it.
class FakeAdmin {
 public:
  static constexpr char kAddress[] = "fake-ca.test:8443";

  FakeAdmin() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service);
    server_ = builder.BuildAndStart();
  }
  ~FakeAdmin() { server_->Shutdown(); }

  std::unique_ptr<AdminClient> Client() {
    return std::make_unique<AdminClient>(
        server_->InProcessChannel(grpc::ChannelArguments()), kAddress,
        absl::Seconds(30));
  }

  FakeAdminService service;

 private:
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace rotor::ctl

#endif  // ROTOR_TESTS_CTL_FAKE_ADMIN_SERVICE_H_
