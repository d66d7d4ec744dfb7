#include "pki/ssl_error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace rotor::pki {

std::string GetSslErrors() {
  std::string out;
  unsigned long code;
  const char* data = nullptr;
  int flags = 0;
  while ((code = ERR_get_error_all(nullptr, nullptr, nullptr, &data,
                                   &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
    if (data != nullptr && (flags & ERR_TXT_STRING) && *data != '\0') {
      absl::StrAppend(&out, " (", data, ")");
    }
  }
  if (out.empty()) return "no OpenSSL error details";
  return out;
}

void ClearSslErrors() { ERR_clear_error(); }

absl::Status SslError(absl::StatusCode code, absl::string_view what) {
  return absl::Status(code, absl::StrCat(what, ": ", GetSslErrors()));
}

absl::Status SslInternalError(absl::string_view what) {
  return SslError(absl::StatusCode::kInternal, what);
}

}  // namespace rotor::pki
