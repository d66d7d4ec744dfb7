#include "pki/key.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "pki/ssl_error.h"
#include "util/status_macros.h"

namespace rotor::pki {
namespace {

struct KeyTypeNameEntry {
  KeyType type;
  absl::string_view name;
};
constexpr KeyTypeNameEntry kKeyTypeNames[] = {
    {KeyType::kEcP256, "ec-p256"},   {KeyType::kEcP384, "ec-p384"},
    {KeyType::kEd25519, "ed25519"},  {KeyType::kRsa2048, "rsa-2048"},
    {KeyType::kRsa3072, "rsa-3072"}, {KeyType::kRsa4096, "rsa-4096"},
};

absl::StatusOr<SslPtr<EVP_PKEY>> GenerateWith(EVP_PKEY* raw) {
  if (raw == nullptr) return SslInternalError("key generation failed");
  return SslPtr<EVP_PKEY>(raw);
}

// Passphrase callback for PEM reading: copies the passphrase given as `u`.
int PassphraseCallback(char* buf, int size, int /*rwflag*/, void* u) {
  auto* passphrase = static_cast<absl::string_view*>(u);
  if (passphrase == nullptr || passphrase->empty()) return -1;
  if (passphrase->size() > static_cast<size_t>(size)) return -1;
  std::memcpy(buf, passphrase->data(), passphrase->size());
  return static_cast<int>(passphrase->size());
}

absl::Status CheckPassphraseLength(absl::string_view passphrase) {
  if (passphrase.size() <= kMaxPassphraseBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "passphrase of ", passphrase.size(), " bytes is longer than the ",
      kMaxPassphraseBytes, "-byte limit"));
}

}  // namespace

absl::StatusOr<KeyType> ParseKeyType(absl::string_view name) {
  for (const auto& entry : kKeyTypeNames) {
    if (entry.name == name) return entry.type;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown key type \"", name,
      "\"; use one of ec-p256, ec-p384, ed25519, rsa-2048, rsa-3072, "
      "rsa-4096"));
}

absl::string_view KeyTypeName(KeyType type) {
  for (const auto& entry : kKeyTypeNames) {
    if (entry.type == type) return entry.name;
  }
  return "unknown";
}

std::string KeyInfo::Describe() const {
  switch (algorithm) {
    case KeyAlgorithm::kEc:
      return absl::StrCat("EC ", curve.empty() ? "(unnamed curve)" : curve);
    case KeyAlgorithm::kEd25519:
      return "Ed25519";
    case KeyAlgorithm::kRsa:
      return absl::StrCat("RSA ", bits);
    case KeyAlgorithm::kOther:
      break;
  }
  if (curve.empty()) return absl::StrCat("unknown ", bits, "-bit key");
  return bits > 0 ? absl::StrCat(curve, " ", bits) : curve;
}

KeyInfo DescribeKey(const EVP_PKEY* key) {
  KeyInfo info;
  info.bits = EVP_PKEY_get_bits(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      info.algorithm = KeyAlgorithm::kEc;
      char name[80] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, "group", name, sizeof(name),
                                         &len) == 1) {
        int nid = OBJ_sn2nid(name);
        const char* nist = nid == NID_undef ? nullptr : EC_curve_nid2nist(nid);
        info.curve = nist != nullptr ? nist : name;
      }
      ClearSslErrors();
      break;
    }
    case EVP_PKEY_ED25519:
      info.algorithm = KeyAlgorithm::kEd25519;
      break;
    case EVP_PKEY_RSA:
      info.algorithm = KeyAlgorithm::kRsa;
      break;
    default: {
      int id = EVP_PKEY_get_base_id(key);
      const char* name = id != NID_undef ? OBJ_nid2sn(id) : nullptr;
      info.curve = name != nullptr ? name : EVP_PKEY_get0_type_name(key);
      break;
    }
  }
  return info;
}

absl::Status CheckKeyAllowed(const EVP_PKEY* key) {
  KeyInfo info = DescribeKey(key);
  constexpr absl::string_view kAccepted =
      "use EC P-256, EC P-384, Ed25519 or RSA 2048-4096";
  switch (info.algorithm) {
    case KeyAlgorithm::kEc:
      if (info.curve == "P-256" || info.curve == "P-384") {
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "EC curve ", info.curve.empty() ? "(unnamed)" : info.curve,
          " is not supported; use P-256 or P-384"));
    case KeyAlgorithm::kEd25519:
      return absl::OkStatus();
    case KeyAlgorithm::kRsa:
      if (info.bits < 2048) {
        return absl::InvalidArgumentError(absl::StrCat(
            "RSA key of ", info.bits, " bits is below the 2048-bit minimum"));
      }
      if (info.bits > 4096) {
        return absl::InvalidArgumentError(absl::StrCat(
            "RSA key of ", info.bits, " bits is above the 4096-bit maximum"));
      }
      return absl::OkStatus();
    case KeyAlgorithm::kOther:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      info.curve.empty() ? "this key type is" : info.curve + " keys are",
      " not supported; ", kAccepted));
}

const EVP_MD* SignatureDigest(const EVP_PKEY* key) {
  KeyInfo info = DescribeKey(key);
  if (info.algorithm == KeyAlgorithm::kEd25519) return nullptr;
  if (info.algorithm == KeyAlgorithm::kEc && info.curve == "P-384") {
    return EVP_sha384();
  }
  return EVP_sha256();
}

absl::StatusOr<PrivateKey> PrivateKey::Generate(KeyType type) {
  SslPtr<EVP_PKEY> key;
  switch (type) {
    case KeyType::kEcP256: {
      ROTOR_ASSIGN_OR_RETURN(key, GenerateWith(EVP_EC_gen("P-256")));
      break;
    }
    case KeyType::kEcP384: {
      ROTOR_ASSIGN_OR_RETURN(key, GenerateWith(EVP_EC_gen("P-384")));
      break;
    }
    case KeyType::kEd25519: {
      ROTOR_ASSIGN_OR_RETURN(
          key, GenerateWith(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")));
      break;
    }
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
    case KeyType::kRsa4096: {
      size_t bits = type == KeyType::kRsa2048   ? 2048
                    : type == KeyType::kRsa3072 ? 3072
                                                : 4096;
      ROTOR_ASSIGN_OR_RETURN(
          key, GenerateWith(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits)));
      break;
    }
  }
  if (key == nullptr) return absl::InvalidArgumentError("unknown key type");
  return PrivateKey(std::move(key));
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(absl::string_view pem,
                                               absl::string_view passphrase) {
  ClearSslErrors();
  if (pem.size() > INT_MAX) {
    return absl::InvalidArgumentError("private key PEM is too large");
  }
  if (pem.find("-----BEGIN") == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "not a PEM private key (no -----BEGIN line)");
  }
  if (pem.find("PRIVATE KEY-----") == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "PEM holds no private key (expected a BEGIN PRIVATE KEY block)");
  }
  bool encrypted = pem.find("ENCRYPTED") != absl::string_view::npos;
  ROTOR_RETURN_IF_ERROR(CheckPassphraseLength(passphrase));
  if (encrypted && passphrase.empty()) {
    return absl::InvalidArgumentError(
        "private key is encrypted; a passphrase is needed to read it");
  }
  SslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return SslInternalError("BIO_new_mem_buf");
  absl::string_view pass = passphrase;
  SslPtr<EVP_PKEY> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, PassphraseCallback, &pass));
  if (key == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    encrypted ? "cannot decrypt private key (wrong passphrase?)"
                              : "cannot parse private key");
  }
  return PrivateKey(std::move(key));
}

absl::StatusOr<PrivateKey> PrivateKey::Load(const std::string& path,
                                            absl::string_view passphrase) {
  auto with_path = [&path](const absl::Status& status) {
    return absl::Status(status.code(),
                        absl::StrCat("failed to load private key from ", path,
                                     ": ", status.message()));
  };
  absl::StatusOr<std::string> pem_text = ReadFile(path, 1 << 20);
  if (!pem_text.ok()) return with_path(pem_text.status());
  SecretString pem(*std::move(pem_text));
  absl::StatusOr<PrivateKey> key = FromPem(pem.view(), passphrase);
  if (!key.ok()) return with_path(key.status());
  return key;
}

PrivateKey PrivateKey::Adopt(SslPtr<EVP_PKEY> key) {
  return PrivateKey(std::move(key));
}

absl::StatusOr<SecretString> PrivateKey::ToPem(
    absl::string_view passphrase) const {
  ClearSslErrors();
  SslPtr<BIO> bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr) bio.reset(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return SslInternalError("BIO_new");
  int ok;
  if (passphrase.empty()) {
    ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr,
                                       0, nullptr, nullptr);
  } else {
    ROTOR_RETURN_IF_ERROR(CheckPassphraseLength(passphrase));
    // PKCS#5 v2.0: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC.
    ok = PEM_write_bio_PKCS8PrivateKey(
        bio.get(), key_.get(), EVP_aes_256_cbc(), passphrase.data(),
        static_cast<int>(passphrase.size()), nullptr, nullptr);
  }
  if (ok != 1) return SslInternalError("cannot encode private key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return SecretString(data, static_cast<size_t>(len));
}

absl::Status PrivateKey::Save(const std::string& path, mode_t mode,
                              absl::string_view passphrase,
                              WriteMode write_mode) const {
  ROTOR_ASSIGN_OR_RETURN(SecretString pem, ToPem(passphrase));
  return WriteFileAtomically(path, pem.view(), mode, write_mode);
}

absl::StatusOr<std::string> PrivateKey::PublicKeyDer() const {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key_.get(), &der);
  if (len <= 0) return SslInternalError("cannot encode public key");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

bool PrivateKey::Matches(const EVP_PKEY* public_key) const {
  bool eq = EVP_PKEY_eq(key_.get(), public_key) == 1;
  ClearSslErrors();
  return eq;
}

}  // namespace rotor::pki
