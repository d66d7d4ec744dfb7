// Private keys: generation of the key types rotor supports, PKCS#8 PEM
// encoding (optionally encrypted with a passphrase, for CA keys at rest), and
// the checks that decide which public keys rotor accepts in a CSR.
//
// Thread-safety: a PrivateKey is immutable after creation and may be used
// from several threads at once.
#ifndef ROTOR_PKI_KEY_H_
#define ROTOR_PKI_KEY_H_

#include <sys/types.h>

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pki/secret.h"
#include "pki/ssl_ptr.h"
#include "util/file.h"

namespace rotor::pki {

// The key types rotor generates. Names (KeyTypeName) are the config and
// command-line spelling: "ec-p256", "ec-p384", "ed25519", "rsa-2048",
// "rsa-3072", "rsa-4096".
enum class KeyType { kEcP256, kEcP384, kEd25519, kRsa2048, kRsa3072, kRsa4096 };

// Parses a key type name. InvalidArgument naming the accepted names if
// unknown.
absl::StatusOr<KeyType> ParseKeyType(absl::string_view name);
absl::string_view KeyTypeName(KeyType type);

// What a public key is, for policy decisions and messages.
enum class KeyAlgorithm { kEc, kEd25519, kRsa, kOther };
struct KeyInfo {
  KeyAlgorithm algorithm = KeyAlgorithm::kOther;
  int bits = 0;       // modulus size for RSA, field size for EC
  std::string curve;  // "P-256", "P-384", other curve names, or empty
  // "EC P-256", "RSA 2048", "Ed25519", "DSA 2048", ...
  std::string Describe() const;
};

// Describes any key OpenSSL can hold (including ones rotor refuses).
KeyInfo DescribeKey(const EVP_PKEY* key);

// Accepts EC P-256 and P-384, Ed25519 and RSA of 2048 to 4096 bits. Anything
// else fails with InvalidArgument saying why ("RSA key of 1024 bits is below
// the 2048-bit minimum", "EC curve secp256k1 is not supported; use P-256 or
// P-384", "DSA keys are not supported; use EC P-256, EC P-384, Ed25519 or
// RSA 2048-4096").
absl::Status CheckKeyAllowed(const EVP_PKEY* key);

// The digest to sign with for a key: SHA-384 for P-384, none (nullptr) for
// Ed25519, SHA-256 otherwise.
const EVP_MD* SignatureDigest(const EVP_PKEY* key);

// The longest passphrase rotor encrypts or decrypts a key with: OpenSSL's PEM
// reader hands its passphrase callback a buffer of PEM_BUFSIZE (1024) bytes,
// so a longer one could encrypt a key that nothing could ever decrypt.
inline constexpr size_t kMaxPassphraseBytes = 1024;

class PrivateKey {
 public:
  // Generates a new key from the OS CSPRNG.
  static absl::StatusOr<PrivateKey> Generate(KeyType type);

  // Parses a PKCS#8 (or traditional) PEM private key. An encrypted key needs
  // its passphrase; a wrong or missing one, or one longer than
  // kMaxPassphraseBytes, fails with InvalidArgument.
  static absl::StatusOr<PrivateKey> FromPem(absl::string_view pem,
                                            absl::string_view passphrase = {});

  // Reads and parses a key file. Every error starts "failed to load private
  // key from <path>: " and keeps the code of the failure (NotFound for a
  // missing file, InvalidArgument for a bad key or passphrase).
  static absl::StatusOr<PrivateKey> Load(const std::string& path,
                                         absl::string_view passphrase = {});

  // Takes ownership of an existing key. REQUIRES: key is a private key.
  static PrivateKey Adopt(SslPtr<EVP_PKEY> key);

  PrivateKey(PrivateKey&&) = default;
  PrivateKey& operator=(PrivateKey&&) = default;

  // PKCS#8 PEM. With a passphrase the key is encrypted with AES-256-CBC under
  // a PBKDF2-HMAC-SHA256 derived key (PKCS#5 v2.0). InvalidArgument if the
  // passphrase is longer than kMaxPassphraseBytes.
  absl::StatusOr<SecretString> ToPem(absl::string_view passphrase = {}) const;

  // Writes ToPem() to `path` with WriteFileAtomically: the file is created
  // with `mode` before a byte is written. Nothing is left behind on failure.
  absl::Status Save(const std::string& path, mode_t mode = 0600,
                    absl::string_view passphrase = {},
                    WriteMode write_mode = WriteMode::kReplace) const;

  // The public half as DER SubjectPublicKeyInfo.
  absl::StatusOr<std::string> PublicKeyDer() const;

  // True if `public_key` is this key's public half.
  bool Matches(const EVP_PKEY* public_key) const;

  KeyInfo info() const { return DescribeKey(key_.get()); }
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit PrivateKey(SslPtr<EVP_PKEY> key) : key_(std::move(key)) {}
  SslPtr<EVP_PKEY> key_;
};

}  // namespace rotor::pki

#endif  // ROTOR_PKI_KEY_H_
