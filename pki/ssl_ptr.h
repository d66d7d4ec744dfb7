// Owning smart pointers for OpenSSL objects: SslPtr<X509> frees with
// X509_free, and so on, so no path can leak or double-free one.
//
// Use release() only right after a call that took ownership, with a comment
// saying which call took it.
#ifndef ROTOR_PKI_SSL_PTR_H_
#define ROTOR_PKI_SSL_PTR_H_

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace rotor::pki {

template <typename T>
struct SslDeleter;

#define ROTOR_SSL_DELETER(type, free_fn)               \
  template <>                                          \
  struct SslDeleter<type> {                            \
    void operator()(type* p) const { free_fn(p); }     \
  }

// ASN1_INTEGER, ASN1_OCTET_STRING, ASN1_TIME, ASN1_ENUMERATED and the other
// string types are all ASN1_STRING, so one deleter serves them all.
ROTOR_SSL_DELETER(ASN1_STRING, ASN1_STRING_free);
ROTOR_SSL_DELETER(ASN1_OBJECT, ASN1_OBJECT_free);
ROTOR_SSL_DELETER(AUTHORITY_KEYID, AUTHORITY_KEYID_free);
ROTOR_SSL_DELETER(BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free);
ROTOR_SSL_DELETER(BIGNUM, BN_free);
ROTOR_SSL_DELETER(BIO, BIO_free_all);
ROTOR_SSL_DELETER(CRL_DIST_POINTS, CRL_DIST_POINTS_free);
ROTOR_SSL_DELETER(EVP_CIPHER, EVP_CIPHER_free);
ROTOR_SSL_DELETER(EVP_MD_CTX, EVP_MD_CTX_free);
ROTOR_SSL_DELETER(EVP_PKEY, EVP_PKEY_free);
ROTOR_SSL_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free);
ROTOR_SSL_DELETER(EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free);
ROTOR_SSL_DELETER(GENERAL_NAME, GENERAL_NAME_free);
ROTOR_SSL_DELETER(GENERAL_NAMES, GENERAL_NAMES_free);
ROTOR_SSL_DELETER(OCSP_BASICRESP, OCSP_BASICRESP_free);
ROTOR_SSL_DELETER(OCSP_CERTID, OCSP_CERTID_free);
ROTOR_SSL_DELETER(OCSP_REQUEST, OCSP_REQUEST_free);
ROTOR_SSL_DELETER(OCSP_RESPONSE, OCSP_RESPONSE_free);
ROTOR_SSL_DELETER(X509, X509_free);
ROTOR_SSL_DELETER(X509_CRL, X509_CRL_free);
ROTOR_SSL_DELETER(X509_EXTENSION, X509_EXTENSION_free);
ROTOR_SSL_DELETER(X509_NAME, X509_NAME_free);
ROTOR_SSL_DELETER(X509_PUBKEY, X509_PUBKEY_free);
ROTOR_SSL_DELETER(X509_REQ, X509_REQ_free);
ROTOR_SSL_DELETER(X509_REVOKED, X509_REVOKED_free);
ROTOR_SSL_DELETER(X509_STORE, X509_STORE_free);
ROTOR_SSL_DELETER(X509_STORE_CTX, X509_STORE_CTX_free);
ROTOR_SSL_DELETER(X509_VERIFY_PARAM, X509_VERIFY_PARAM_free);

#undef ROTOR_SSL_DELETER

template <typename T>
using SslPtr = std::unique_ptr<T, SslDeleter<T>>;

// A STACK_OF(X509) that frees its certificates too.
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * stack) const {
    sk_X509_pop_free(stack, X509_free);
  }
};
using X509Stack = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

// A STACK_OF(X509_EXTENSION) that frees its extensions too.
struct X509ExtensionStackDeleter {
  void operator()(STACK_OF(X509_EXTENSION) * stack) const {
    sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
  }
};
using X509ExtensionStack =
    std::unique_ptr<STACK_OF(X509_EXTENSION), X509ExtensionStackDeleter>;

}  // namespace rotor::pki

#endif  // ROTOR_PKI_SSL_PTR_H_
