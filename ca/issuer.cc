#include "ca/issuer.h"

#include <arpa/inet.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pki/ssl_error.h"
#include "util/status_macros.h"

namespace rotor::ca {
namespace {

absl::Status Mismatch(absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("issued certificate does not match the request: ", what));
}

std::string List(const std::vector<std::string>& names) {
  return absl::StrCat("[", absl::StrJoin(names, ", "), "]");
}

// An IP address in one canonical text form (inet_ntop of inet_pton), so
// "::1" and "0:0:0:0:0:0:0:1" compare equal. Unparsable text is returned
// unchanged (and then differs from anything OpenSSL prints).
std::string CanonicalIp(const std::string& text) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1 &&
      inet_ntop(AF_INET, buf, out, sizeof(out)) != nullptr) {
    return out;
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1 &&
      inet_ntop(AF_INET6, buf, out, sizeof(out)) != nullptr) {
    return out;
  }
  return text;
}

std::vector<std::string> CanonicalIps(const std::vector<std::string>& ips) {
  std::vector<std::string> out;
  out.reserve(ips.size());
  for (const std::string& ip : ips) out.push_back(CanonicalIp(ip));
  return out;
}

uint32_t ExpectedEku(pki::CertificateUsage usage) {
  switch (usage) {
    case pki::CertificateUsage::kWorkload:
      return XKU_SSL_SERVER | XKU_SSL_CLIENT;
    case pki::CertificateUsage::kNode:
      return XKU_SSL_CLIENT;
    case pki::CertificateUsage::kServer:
      return XKU_SSL_SERVER;
  }
  return 0;
}

absl::StatusOr<std::string> PublicKeyDerOf(const pki::Certificate& cert) {
  X509_PUBKEY* pubkey = X509_get_X509_PUBKEY(cert.get());
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(pubkey, &der);
  if (len <= 0 || der == nullptr) {
    return pki::SslInternalError("cannot encode the certificate's public key");
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Issuer>> Issuer::Create(
    pki::Certificate certificate, pki::PrivateKey key, std::string crl_url) {
  if (!certificate.IsCa()) {
    return absl::InvalidArgumentError(
        absl::StrCat("issuing certificate \"", certificate.Subject(),
                     "\" is not a CA (basicConstraints CA:TRUE missing)"));
  }
  if (!key.Matches(certificate.PublicKey())) {
    return absl::InvalidArgumentError(
        absl::StrCat("issuing key does not match the issuing certificate \"",
                     certificate.Subject(), "\""));
  }
  return std::unique_ptr<Issuer>(
      new Issuer(std::move(certificate), std::move(key), std::move(crl_url)));
}

absl::StatusOr<pki::Certificate> Issuer::Issue(pki::LeafTemplate leaf,
                                               absl::Time now,
                                               pki::Random& random) const {
  leaf.crl_url = crl_url_;
  ROTOR_ASSIGN_OR_RETURN(
      pki::Certificate cert,
      pki::BuildLeafCertificate(leaf, signer(), now, random));
  ROTOR_RETURN_IF_ERROR(CheckIssued(cert, leaf, certificate_, now));
  return cert;
}

absl::StatusOr<pki::Certificate> Issuer::IssueWorkload(
    absl::string_view public_key_der, absl::string_view spiffe_id,
    const std::vector<std::string>& dns_names, absl::Duration ttl,
    absl::Time now, pki::Random& random) const {
  pki::LeafTemplate leaf;
  leaf.public_key_der = std::string(public_key_der);
  leaf.spiffe_id = std::string(spiffe_id);
  leaf.dns_names = dns_names;
  leaf.usage = pki::CertificateUsage::kWorkload;
  leaf.ttl = ttl;
  return Issue(std::move(leaf), now, random);
}

absl::StatusOr<pki::Certificate> Issuer::IssueNode(
    absl::string_view public_key_der, absl::string_view spiffe_id,
    absl::Duration ttl, absl::Time now, pki::Random& random) const {
  pki::LeafTemplate leaf;
  leaf.public_key_der = std::string(public_key_der);
  leaf.spiffe_id = std::string(spiffe_id);
  leaf.usage = pki::CertificateUsage::kNode;
  leaf.ttl = ttl;
  return Issue(std::move(leaf), now, random);
}

absl::StatusOr<pki::Certificate> Issuer::IssueServer(
    absl::string_view public_key_der,
    const std::vector<std::string>& dns_names,
    const std::vector<std::string>& ip_addresses, absl::Duration ttl,
    absl::Time now, pki::Random& random) const {
  pki::LeafTemplate leaf;
  leaf.public_key_der = std::string(public_key_der);
  leaf.dns_names = dns_names;
  leaf.ip_addresses = ip_addresses;
  leaf.usage = pki::CertificateUsage::kServer;
  leaf.ttl = ttl;
  return Issue(std::move(leaf), now, random);
}

absl::Status CheckIssued(const pki::Certificate& cert,
                         const pki::LeafTemplate& leaf,
                         const pki::Certificate& issuer, absl::Time now) {
  std::vector<std::string> uris = cert.UriSans();
  std::vector<std::string> want_uris;
  if (!leaf.spiffe_id.empty()) want_uris.push_back(leaf.spiffe_id);
  if (uris != want_uris) {
    return Mismatch(absl::StrCat("URI SANs ", List(uris), ", asked for ",
                                 List(want_uris)));
  }
  std::vector<std::string> dns = cert.DnsSans();
  if (dns != leaf.dns_names) {
    return Mismatch(absl::StrCat("DNS SANs ", List(dns), ", asked for ",
                                 List(leaf.dns_names)));
  }
  std::vector<std::string> ips = CanonicalIps(cert.IpSans());
  std::vector<std::string> want_ips = CanonicalIps(leaf.ip_addresses);
  if (ips != want_ips) {
    return Mismatch(absl::StrCat("IP SANs ", List(ips), ", asked for ",
                                 List(want_ips)));
  }
  if (cert.IsCa()) return Mismatch("it is a CA certificate");
  // Without an extendedKeyUsage extension OpenSSL reports every usage.
  uint32_t eku = X509_get_extended_key_usage(cert.get());
  if (eku != ExpectedEku(leaf.usage)) {
    return Mismatch(absl::StrCat("extendedKeyUsage flags 0x", absl::Hex(eku),
                                 ", expected 0x",
                                 absl::Hex(ExpectedEku(leaf.usage))));
  }
  ROTOR_ASSIGN_OR_RETURN(std::string key_der, PublicKeyDerOf(cert));
  if (key_der != leaf.public_key_der) {
    return Mismatch("the public key is not the requested one");
  }
  if (X509_NAME_cmp(X509_get_issuer_name(cert.get()),
                    X509_get_subject_name(issuer.get())) != 0) {
    return Mismatch(absl::StrCat("issuer \"", cert.Issuer(),
                                 "\" is not the issuing CA \"",
                                 issuer.Subject(), "\""));
  }
  if (cert.NotBefore() > now) {
    return Mismatch("notBefore is in the future");
  }
  if (cert.NotAfter() > now + leaf.ttl || cert.NotAfter() > issuer.NotAfter()) {
    return Mismatch(absl::StrCat(
        "notAfter ", absl::FormatTime(cert.NotAfter(), absl::UTCTimeZone()),
        " is past the requested TTL or the issuing CA's expiry"));
  }
  return absl::OkStatus();
}

}  // namespace rotor::ca
