// Early-return helpers for absl::Status and absl::StatusOr, which Debian's
// Abseil (20220623) does not ship.
//
//   ROTOR_RETURN_IF_ERROR(WriteFile(path, data));
//   ROTOR_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromDer(der));
//
// Both evaluate their argument exactly once. ROTOR_ASSIGN_OR_RETURN declares
// (or assigns) its left-hand side in the enclosing scope; the temporary it
// uses has a unique name per line, so several may appear in one scope.
#ifndef ROTOR_UTIL_STATUS_MACROS_H_
#define ROTOR_UTIL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ROTOR_RETURN_IF_ERROR(expr)                        \
  do {                                                     \
    ::absl::Status rotor_status_ = (expr);                 \
    if (!rotor_status_.ok()) return rotor_status_;         \
  } while (false)

#define ROTOR_STATUS_CONCAT_INNER_(a, b) a##b
#define ROTOR_STATUS_CONCAT_(a, b) ROTOR_STATUS_CONCAT_INNER_(a, b)

#define ROTOR_ASSIGN_OR_RETURN(lhs, expr) \
  ROTOR_ASSIGN_OR_RETURN_IMPL_(           \
      ROTOR_STATUS_CONCAT_(rotor_statusor_, __LINE__), lhs, expr)

#define ROTOR_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // ROTOR_UTIL_STATUS_MACROS_H_
