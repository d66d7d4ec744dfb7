// Usage errors: mistakes on the command line (an unknown flag, a missing
// --ca, a serial that is not hex), which rotorctl reports with exit code 2,
// as opposed to failures of the call itself (the server's refusal, an
// unreachable CA, an unwritable --out file), which exit 1. A usage error is
// an InvalidArgument status carrying a marker payload, so it travels through
// the same absl::Status plumbing as every other error.
//
// Thread-safety: pure functions.
#ifndef ROTOR_CTL_USAGE_ERROR_H_
#define ROTOR_CTL_USAGE_ERROR_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rotor::ctl {

// InvalidArgument with `message`, marked as a usage error.
absl::Status UsageError(absl::string_view message);

// Marks an existing error (e.g. from FlagSet::Parse) as a usage error,
// keeping its code and message. OK stays OK.
absl::Status AsUsageError(absl::Status status);

bool IsUsageError(const absl::Status& status);

// 0 for OK, 2 for a usage error, 1 for anything else.
int ExitCode(const absl::Status& status);

}  // namespace rotor::ctl

#endif  // ROTOR_CTL_USAGE_ERROR_H_
