#include "ctl/usage_error.h"

#include <utility>

#include "absl/strings/cord.h"

namespace rotor::ctl {
namespace {

constexpr char kUsagePayload[] = "rotor.dev/ctl/usage-error";

}  // namespace

absl::Status UsageError(absl::string_view message) {
  return AsUsageError(absl::InvalidArgumentError(message));
}

absl::Status AsUsageError(absl::Status status) {
  if (!status.ok()) status.SetPayload(kUsagePayload, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

int ExitCode(const absl::Status& status) {
  if (status.ok()) return 0;
  return IsUsageError(status) ? 2 : 1;
}

}  // namespace rotor::ctl
