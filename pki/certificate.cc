#include "pki/certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "pki/fingerprint.h"
#include "pki/serial.h"
#include "pki/ssl_error.h"
#include "util/file.h"
#include "util/status_macros.h"

namespace rotor::pki {
namespace {

absl::StatusOr<std::string> EncodeDer(X509* x509) {
  unsigned char* der = nullptr;
  int len = i2d_X509(x509, &der);
  if (len <= 0) return SslInternalError("cannot encode certificate");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::vector<std::string> SansOfType(X509* x509, int type) {
  std::vector<std::string> out;
  SslPtr<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) {
    ClearSslErrors();
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != type) continue;
    if (type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      char buf[64];
      if (ip->length == 4) {
        snprintf(buf, sizeof(buf), "%d.%d.%d.%d", ip->data[0], ip->data[1],
                 ip->data[2], ip->data[3]);
        out.emplace_back(buf);
      } else if (ip->length == 16) {
        std::string text;
        for (int j = 0; j < 16; j += 2) {
          if (j > 0) text += ":";
          absl::StrAppend(&text,
                          absl::Hex((ip->data[j] << 8) | ip->data[j + 1]));
        }
        out.push_back(text);
      }
      continue;
    }
    const ASN1_IA5STRING* s =
        type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(s->data),
                     static_cast<size_t>(s->length));
  }
  return out;
}

std::string NameToString(const X509_NAME* name) {
  SslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return "";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace

absl::Time Asn1TimeToTime(const ASN1_TIME* t) {
  struct tm tm;
  std::memset(&tm, 0, sizeof(tm));
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ClearSslErrors();
    return absl::InfinitePast();
  }
  return absl::FromTM(tm, absl::UTCTimeZone());
}

absl::StatusOr<Certificate> Certificate::FromDer(absl::string_view der) {
  ClearSslErrors();
  if (der.empty()) return absl::InvalidArgumentError("certificate is empty");
  if (der.size() > INT_MAX) {
    return absl::InvalidArgumentError("certificate is too large");
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslPtr<X509> x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (x509 == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "certificate is not valid DER");
  }
  size_t used = static_cast<size_t>(
      p - reinterpret_cast<const unsigned char*>(der.data()));
  if (used != der.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate has ", der.size() - used,
                     " trailing bytes after its DER"));
  }
  return Certificate(std::move(x509), std::string(der));
}

absl::StatusOr<Certificate> Certificate::FromPem(absl::string_view pem) {
  ROTOR_ASSIGN_OR_RETURN(std::vector<Certificate> chain, ChainFromPem(pem));
  return std::move(chain.front());
}

absl::StatusOr<std::vector<Certificate>> Certificate::ChainFromPem(
    absl::string_view pem) {
  ClearSslErrors();
  if (pem.size() > INT_MAX) {
    return absl::InvalidArgumentError("PEM text is too large");
  }
  SslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return SslInternalError("BIO_new_mem_buf");
  std::vector<Certificate> out;
  while (true) {
    SslPtr<X509> x509(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (x509 == nullptr) break;
    ROTOR_ASSIGN_OR_RETURN(Certificate cert, Adopt(std::move(x509)));
    out.push_back(std::move(cert));
  }
  // Reading stops with a "no start line" error at the end of the text; any
  // other error means a block that did not parse.
  unsigned long err = ERR_peek_last_error();
  if (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    absl::StrCat("certificate ", out.size() + 1,
                                 " of the PEM text does not parse"));
  }
  ClearSslErrors();
  if (out.empty()) {
    return absl::InvalidArgumentError(
        "no certificate found (expected a -----BEGIN CERTIFICATE----- block)");
  }
  return out;
}

absl::StatusOr<std::vector<Certificate>> Certificate::LoadChain(
    const std::string& path) {
  ROTOR_ASSIGN_OR_RETURN(std::string pem, ReadFile(path, 4 << 20));
  absl::StatusOr<std::vector<Certificate>> chain = ChainFromPem(pem);
  if (!chain.ok()) {
    return absl::Status(chain.status().code(),
                        absl::StrCat("failed to load certificates from ", path,
                                     ": ", chain.status().message()));
  }
  return chain;
}

absl::StatusOr<Certificate> Certificate::Adopt(SslPtr<X509> x509) {
  ROTOR_ASSIGN_OR_RETURN(std::string der, EncodeDer(x509.get()));
  return Certificate(std::move(x509), std::move(der));
}

Certificate::Certificate(const Certificate& other)
    : der_(other.der_), key_cache_(other.key_cache_) {
  X509_up_ref(other.x509_.get());
  x509_.reset(other.x509_.get());
}

Certificate& Certificate::operator=(const Certificate& other) {
  if (this != &other) {
    X509_up_ref(other.x509_.get());
    x509_.reset(other.x509_.get());
    der_ = other.der_;
    key_cache_ = other.key_cache_;
  }
  return *this;
}

std::string Certificate::ToPem() const {
  SslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), x509_.get()) != 1) {
    ClearSslErrors();
    return "";
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string Certificate::SerialHex() const {
  return Asn1ToSerial(X509_get0_serialNumber(x509_.get()));
}

absl::Time Certificate::NotBefore() const {
  return Asn1TimeToTime(X509_get0_notBefore(x509_.get()));
}

absl::Time Certificate::NotAfter() const {
  return Asn1TimeToTime(X509_get0_notAfter(x509_.get()));
}

std::vector<std::string> Certificate::UriSans() const {
  return SansOfType(x509_.get(), GEN_URI);
}

std::vector<std::string> Certificate::DnsSans() const {
  return SansOfType(x509_.get(), GEN_DNS);
}

std::vector<std::string> Certificate::IpSans() const {
  return SansOfType(x509_.get(), GEN_IPADD);
}

std::string Certificate::Fingerprint() const { return Sha256Fingerprint(der_); }

std::string Certificate::Subject() const {
  return NameToString(X509_get_subject_name(x509_.get()));
}

std::string Certificate::Issuer() const {
  return NameToString(X509_get_issuer_name(x509_.get()));
}

bool Certificate::IsCa() const {
  return (X509_get_extension_flags(x509_.get()) & EXFLAG_CA) != 0;
}

EVP_PKEY* Certificate::PublicKey() const {
  absl::call_once(key_cache_->once, [this] {
    // A parsed certificate holds the key decoded; take a reference to it.
    EVP_PKEY* parsed = X509_get0_pubkey(x509_.get());
    if (parsed != nullptr && EVP_PKEY_up_ref(parsed) == 1) {
      key_cache_->key.reset(parsed);
      return;
    }
    ClearSslErrors();
    // A built one holds only the SubjectPublicKeyInfo bytes: decode them.
    unsigned char* spki = nullptr;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x509_.get()), &spki);
    if (len > 0) {
      const unsigned char* p = spki;
      key_cache_->key.reset(d2i_PUBKEY(nullptr, &p, len));
    }
    OPENSSL_free(spki);
    ClearSslErrors();
  });
  return key_cache_->key.get();
}

std::string ChainToPem(absl::Span<const Certificate> chain) {
  std::string out;
  for (const Certificate& cert : chain) out += cert.ToPem();
  return out;
}

}  // namespace rotor::pki
