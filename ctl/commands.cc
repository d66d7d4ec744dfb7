#include "ctl/commands.h"

#include <algorithm>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ctl/format.h"
#include "ctl/usage_error.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/revocation.h"
#include "pki/serial.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::ctl {
namespace {

namespace v1 = ::rotor::v1;

// Page size for cert list: large pages mean few round trips; at most 1000
// (the server's limit) and far below gRPC's 4 MiB message limit.
constexpr int32_t kPageSize = 500;

absl::Status PrintJson(const google::protobuf::Message& msg,
                       const Output& output) {
  ROTOR_ASSIGN_OR_RETURN(std::string json, FormatJson(msg));
  output.out << json;
  return absl::OkStatus();
}

absl::Status WriteOut(const std::string& path, absl::string_view data) {
  absl::Status status = WriteFileAtomically(path, data, 0644);
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("cannot write ", path, ": ",
                                                  status.message()));
}

}  // namespace

absl::StatusOr<std::string> ParseSerialArgument(const std::string& serial) {
  absl::StatusOr<std::string> canonical = pki::NormalizeSerial(serial);
  if (!canonical.ok()) {
    return UsageError(canonical.status().message());
  }
  return canonical;
}

absl::StatusOr<std::string> ParseReasonArgument(const std::string& reason) {
  if (reason.empty()) return std::string();
  absl::StatusOr<pki::RevocationReason> parsed =
      pki::ParseRevocationReason(reason);
  if (!parsed.ok()) {
    return UsageError(absl::StrCat("--reason: ", parsed.status().message()));
  }
  return std::string(pki::RevocationReasonName(*parsed));
}

absl::Status TokenCreate(AdminClient& client, const TokenCreateFlags& flags,
                         const Output& output) {
  v1::CreateJoinTokenRequest request;
  request.set_node_name(flags.node);
  *request.mutable_ttl() = ToProtoDuration(flags.ttl);
  v1::CreateJoinTokenResponse response;
  std::unique_ptr<grpc::ClientContext> context = client.NewContext();
  ROTOR_RETURN_IF_ERROR(client.ToStatus(
      client.stub().CreateJoinToken(context.get(), request, &response)));
  if (output.json) return PrintJson(response, output);
  output.out << response.token() << "\n";
  output.err << "rotorctl: join token for node " << response.node_name()
             << ", single use, expires " << FormatTime(response.expires_at())
             << "\n";
  return absl::OkStatus();
}

absl::Status EntryCreate(AdminClient& client, const EntryCreateFlags& flags,
                         const Output& output) {
  v1::CreateEntryRequest request;
  request.set_node_glob(flags.node_glob);
  request.set_spiffe_id(flags.spiffe_id);
  for (const std::string& dns : flags.dns_names) request.add_dns_names(dns);
  if (flags.max_ttl.has_value()) {
    *request.mutable_max_ttl() = ToProtoDuration(*flags.max_ttl);
  }
  v1::Entry entry;
  std::unique_ptr<grpc::ClientContext> context = client.NewContext();
  ROTOR_RETURN_IF_ERROR(client.ToStatus(
      client.stub().CreateEntry(context.get(), request, &entry)));
  if (output.json) return PrintJson(entry, output);
  output.out << entry.id() << "\n";
  output.err << "rotorctl: created entry " << entry.id() << ": nodes "
             << entry.node_glob() << " may obtain " << entry.spiffe_id()
             << "\n";
  return absl::OkStatus();
}

absl::Status EntryList(AdminClient& client, const Output& output) {
  v1::ListEntriesResponse response;
  std::unique_ptr<grpc::ClientContext> context = client.NewContext();
  ROTOR_RETURN_IF_ERROR(client.ToStatus(client.stub().ListEntries(
      context.get(), v1::ListEntriesRequest(), &response)));
  if (output.json) return PrintJson(response, output);
  output.out << FormatEntryTable(response.entries());
  return absl::OkStatus();
}

absl::Status EntryDelete(AdminClient& client, const std::string& id,
                         const Output& output) {
  v1::DeleteEntryRequest request;
  request.set_id(id);
  v1::DeleteEntryResponse response;
  std::unique_ptr<grpc::ClientContext> context = client.NewContext();
  ROTOR_RETURN_IF_ERROR(client.ToStatus(
      client.stub().DeleteEntry(context.get(), request, &response)));
  if (output.json) return PrintJson(response, output);
  output.out << "deleted entry " << id << "\n";
  return absl::OkStatus();
}

absl::StatusOr<v1::ListCertificatesResponse> ListAllCertificates(
    AdminClient& client, const v1::ListCertificatesRequest& filter,
    int64_t limit) {
  v1::ListCertificatesResponse all;
  v1::ListCertificatesRequest request = filter;
  request.clear_page_token();
  std::set<std::string> seen_tokens;
  while (true) {
    int64_t page_size = kPageSize;
    if (limit > 0)
      page_size = std::min(page_size, limit - all.certificates_size());
    request.set_page_size(static_cast<int32_t>(page_size));
    v1::ListCertificatesResponse page;
    std::unique_ptr<grpc::ClientContext> context = client.NewContext();
    ROTOR_RETURN_IF_ERROR(client.ToStatus(
        client.stub().ListCertificates(context.get(), request, &page)));
    for (v1::CertificateInfo& info : *page.mutable_certificates()) {
      if (limit > 0 && all.certificates_size() >= limit) break;
      *all.add_certificates() = std::move(info);
    }
    if (page.next_page_token().empty()) break;
    if (limit > 0 && all.certificates_size() >= limit) {
      all.set_next_page_token(page.next_page_token());
      break;
    }
    if (!seen_tokens.insert(page.next_page_token()).second) {
      return absl::InternalError(absl::StrCat(
          "the CA at ", client.address(), " returned page token \"",
          page.next_page_token(), "\" twice; stopping instead of looping"));
    }
    request.set_page_token(page.next_page_token());
  }
  return all;
}

absl::Status CertList(AdminClient& client, const CertListFlags& flags,
                      const Output& output) {
  if (flags.limit < 0) {
    return UsageError(
        absl::StrCat("--limit must be 0 (all) or more, not ", flags.limit));
  }
  v1::ListCertificatesRequest filter;
  filter.set_node_name(flags.node);
  filter.set_spiffe_id(flags.spiffe_id);
  if (flags.expiring_within.has_value()) {
    *filter.mutable_expiring_within() = ToProtoDuration(*flags.expiring_within);
  }
  filter.set_revoked_only(flags.revoked_only);
  ROTOR_ASSIGN_OR_RETURN(v1::ListCertificatesResponse all,
                         ListAllCertificates(client, filter, flags.limit));
  if (output.json) return PrintJson(all, output);
  if (all.certificates().empty()) {
    output.err << "rotorctl: no certificates match\n";
    return absl::OkStatus();
  }
  output.out << FormatCertificateTable(all.certificates(), output.now);
  if (!all.next_page_token().empty()) {
    output.err << "rotorctl: showing the first " << flags.limit
               << " certificates (--limit); there are more\n";
  }
  return absl::OkStatus();
}

absl::Status CertShow(AdminClient& client, const std::string& serial, bool pem,
                      const Output& output) {
  ROTOR_ASSIGN_OR_RETURN(std::string canonical, ParseSerialArgument(serial));
  v1::GetCertificateRequest request;
  request.set_serial(canonical);
  v1::CertificateInfo info;
  std::unique_ptr<grpc::ClientContext> context = client.NewContext();
  ROTOR_RETURN_IF_ERROR(client.ToStatus(
      client.stub().GetCertificate(context.get(), request, &info)));
  if (output.json) return PrintJson(info, output);
  if (pem) {
    absl::StatusOr<pki::Certificate> cert =
        pki::Certificate::FromDer(info.der());
    if (!cert.ok()) {
      return absl::InternalError(absl::StrCat(
          "the CA returned certificate ", canonical,
          " without a usable DER encoding: ", cert.status().message()));
    }
    output.out << cert->ToPem();
    return absl::OkStatus();
  }
  output.out << FormatCertificateDetail(info, output.now);
  return absl::OkStatus();
}

absl::Status CertRevoke(AdminClient& client, const std::string& serial,
                        const std::string& reason, const Output& output) {
  ROTOR_ASSIGN_OR_RETURN(std::string canonical, ParseSerialArgument(serial));
  v1::RevokeCertificateRequest request;
  request.set_serial(canonical);
  ROTOR_ASSIGN_OR_RETURN(std::string rfc_reason, ParseReasonArgument(reason));
  request.set_reason(rfc_reason);
  v1::CertificateInfo info;
  std::unique_ptr<grpc::ClientContext> context = client.NewContext();
  ROTOR_RETURN_IF_ERROR(client.ToStatus(
      client.stub().RevokeCertificate(context.get(), request, &info)));
  if (output.json) return PrintJson(info, output);
  output.out << "revoked " << info.serial() << " ("
             << (info.revocation_reason().empty() ? "unspecified"
                                                  : info.revocation_reason())
             << ") at " << FormatTime(info.revoked_at()) << "\n";
  return absl::OkStatus();
}

absl::Status FetchCrl(AdminClient& client, const std::string& out_path,
                      const Output& output) {
  v1::Crl crl;
  std::unique_ptr<grpc::ClientContext> context = client.NewContext();
  ROTOR_RETURN_IF_ERROR(client.ToStatus(
      client.stub().GetCrl(context.get(), v1::GetCrlRequest(), &crl)));
  if (crl.der().empty()) {
    return absl::InternalError(
        absl::StrCat("the CA at ", client.address(), " returned no CRL"));
  }
  if (!out_path.empty()) {
    ROTOR_RETURN_IF_ERROR(WriteOut(out_path, crl.der(0)));
    output.err << "rotorctl: wrote CRL number " << crl.number()
               << " of the intermediate (DER) to " << out_path << "\n";
  }
  if (output.json) return PrintJson(crl, output);
  if (!out_path.empty()) return absl::OkStatus();
  for (const std::string& der : crl.der()) {
    absl::StatusOr<std::string> pem = pki::CrlDerToPem(der);
    if (!pem.ok()) {
      return absl::InternalError(
          absl::StrCat("the CA returned a CRL that does not parse: ",
                       pem.status().message()));
    }
    output.out << *pem;
  }
  return absl::OkStatus();
}

absl::Status FetchBundle(AdminClient& client, const std::string& out_path,
                         const Output& output) {
  v1::TrustBundle bundle;
  std::unique_ptr<grpc::ClientContext> context = client.NewContext();
  ROTOR_RETURN_IF_ERROR(client.ToStatus(
      client.stub().GetBundle(context.get(), v1::GetBundleRequest(), &bundle)));
  std::string pem;
  for (const std::string& der : bundle.root_der()) {
    absl::StatusOr<pki::Certificate> root = pki::Certificate::FromDer(der);
    if (!root.ok()) {
      return absl::InternalError(
          absl::StrCat("the CA returned a root that does not parse: ",
                       root.status().message()));
    }
    pem += root->ToPem();
  }
  if (pem.empty()) {
    return absl::InternalError(absl::StrCat("the CA at ", client.address(),
                                            " returned an empty trust bundle"));
  }
  if (!out_path.empty()) {
    ROTOR_RETURN_IF_ERROR(WriteOut(out_path, pem));
    output.err << "rotorctl: wrote " << bundle.root_der_size()
               << " trust root(s), bundle version " << bundle.version()
               << ", to " << out_path << "\n";
  }
  if (output.json) return PrintJson(bundle, output);
  if (out_path.empty()) output.out << pem;
  return absl::OkStatus();
}

}  // namespace rotor::ctl
