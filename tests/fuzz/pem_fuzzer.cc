// Fuzzes loading PEM files: certificate chains (pki::Certificate::
// ChainFromPem, which LoadChain, the agent's trust anchor and the CA's
// upstream chain use) and private keys (pki::PrivateKey::FromPem, which
// PrivateKey::Load uses), without and with a passphrase.
//
// Input: the bytes of a PEM file. Oracles, besides the sanitizers: every
// certificate read has a DER encoding that parses again to the same
// fingerprint; a key read that encodes back to PEM and parses again is the
// same key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pki/certificate.h"
#include "pki/key.h"
#include "pki/secret.h"
#include "tests/fuzz/fuzz_check.h"

namespace rotor {
namespace {

// The passphrase the seed corpus' encrypted keys were written with.
constexpr absl::string_view kPassphrase = "rotor fuzz passphrase";

void CheckCertificates(absl::string_view pem) {
  absl::StatusOr<std::vector<pki::Certificate>> chain =
      pki::Certificate::ChainFromPem(pem);
  if (!chain.ok()) {
    FUZZ_CHECK(chain.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(!chain->empty());
  for (const pki::Certificate& cert : *chain) {
    absl::StatusOr<pki::Certificate> again =
        pki::Certificate::FromDer(cert.der());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->Fingerprint() == cert.Fingerprint());
    // Every accessor a caller may use on a loaded certificate.
    (void)cert.SerialHex();
    (void)cert.NotBefore();
    (void)cert.NotAfter();
    (void)cert.UriSans();
    (void)cert.DnsSans();
    (void)cert.IpSans();
    (void)cert.IsCa();
    (void)cert.PublicKey();
  }
  (void)pki::ChainToPem(*chain);
}

void CheckKey(absl::string_view pem, absl::string_view passphrase) {
  absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::FromPem(pem, passphrase);
  if (!key.ok()) {
    FUZZ_CHECK(key.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  (void)key->info().Describe();
  // OpenSSL reads key types rotor never writes (DSA, DH, ...); those need
  // not encode back, but any key that does must read back as itself.
  absl::StatusOr<pki::SecretString> again = key->ToPem();
  if (!again.ok()) return;
  absl::StatusOr<pki::PrivateKey> reread =
      pki::PrivateKey::FromPem(again->view());
  // OpenSSL reads some inconsistent keys (an RSA key with mutated
  // components) and writes them in a form it then refuses; that is
  // OpenSSL's behaviour, not rotor's. A key read back must be the same key.
  if (!reread.ok()) return;
  if (EVP_PKEY* public_key = reread->get(); public_key != nullptr) {
    FUZZ_CHECK(key->Matches(public_key));
  }
}

}  // namespace
}  // namespace rotor

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view pem(reinterpret_cast<const char*>(data), size);
  rotor::CheckCertificates(pem);
  rotor::CheckKey(pem, {});
  rotor::CheckKey(pem, rotor::kPassphrase);
  return 0;
}
