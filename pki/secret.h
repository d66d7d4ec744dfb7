// SecretString: bytes that must not outlive their use (private key PEM,
// passphrases, join tokens). The buffer is wiped with OPENSSL_cleanse when the
// object is destroyed or reassigned. Code that holds raw key bytes uses this
// type, so it is easy to find.
//
// Thread-safety: like std::string.
#ifndef ROTOR_PKI_SECRET_H_
#define ROTOR_PKI_SECRET_H_

#include <openssl/crypto.h>

#include <string>
#include "absl/strings/string_view.h"
#include <utility>

namespace rotor::pki {

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  SecretString(const char* data, size_t size) : value_(data, size) {}
  ~SecretString() { Wipe(); }

  SecretString(SecretString&& other) noexcept
      : value_(std::move(other.value_)) {
    other.Wipe();
  }
  SecretString& operator=(SecretString&& other) noexcept {
    if (this != &other) {
      Wipe();
      value_ = std::move(other.value_);
      other.Wipe();
    }
    return *this;
  }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;

  absl::string_view view() const { return value_; }
  const char* data() const { return value_.data(); }
  size_t size() const { return value_.size(); }
  bool empty() const { return value_.empty(); }

 private:
  void Wipe() {
    // Wipe the whole capacity, not just the size: shrinking leaves bytes.
    if (value_.capacity() > 0) {
      value_.resize(value_.capacity());
      OPENSSL_cleanse(value_.data(), value_.size());
    }
    value_.clear();
  }

  std::string value_;
};

}  // namespace rotor::pki

#endif  // ROTOR_PKI_SECRET_H_
