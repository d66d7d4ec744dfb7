#include "agent/systemd_notify.h"

#include <string>

#include "util/log.h"
#include "util/sd_notify.h"

namespace rotor::agent {
namespace {

// A failure is logged, never fatal: the agent works without systemd.
void Notify(const char* state) {
  const absl::Status status = SdNotify(state);
  if (!status.ok()) {
    LogWarning("sd_notify failed", {{"error", std::string(status.message())}});
  }
}

}  // namespace

void NotifyReady() { Notify("READY=1"); }
void NotifyReloading() { Notify("RELOADING=1"); }
void NotifyStopping() { Notify("STOPPING=1"); }

}  // namespace rotor::agent
