#include "agent/systemd_notify.h"

#ifdef ROTOR_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace rotor::agent {
namespace {

void Notify([[maybe_unused]] const char* state) {
#ifdef ROTOR_HAVE_SYSTEMD
  (void)sd_notify(0, state);
#endif
}

}  // namespace

void NotifyReady() { Notify("READY=1"); }
void NotifyReloading() { Notify("RELOADING=1"); }
void NotifyStopping() { Notify("STOPPING=1"); }

}  // namespace rotor::agent
