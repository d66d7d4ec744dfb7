// Readiness and status notifications to systemd (sd_notify) when the agent
// runs as a Type=notify service (util/sd_notify.h). Without NOTIFY_SOCKET
// every call does nothing; a failure to notify is logged.
//
// Thread-safety: safe from any thread.
#ifndef ROTOR_AGENT_SYSTEMD_NOTIFY_H_
#define ROTOR_AGENT_SYSTEMD_NOTIFY_H_

#include "absl/strings/string_view.h"

namespace rotor::agent {

// "READY=1": the node has its identity and every certificate was handled.
void NotifyReady();
// "RELOADING=1" while a new config is applied, then NotifyReady().
void NotifyReloading();
// "STOPPING=1" on the way out.
void NotifyStopping();

}  // namespace rotor::agent

#endif  // ROTOR_AGENT_SYSTEMD_NOTIFY_H_
