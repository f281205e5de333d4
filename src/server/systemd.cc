// sd_notify messages; libsystemd does the protocol (the socket, abstract names, credentials).
#include "server/systemd.h"

#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

#include <cstring>

#include "infergate/core/log.h"

namespace infergate::server {

namespace {

void Send(const std::string& message) {
  const int rc = sd_notify(0, message.c_str());
  if (rc < 0) IG_WARN("sd_notify failed: %s", std::strerror(-rc));
}

uint64_t MonotonicMicros() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

Systemd::Systemd() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
    watchdog_ = std::chrono::microseconds(static_cast<int64_t>(usec));
}

void Systemd::Ready(const std::string& status) const {
  status_ = status;
  Send("READY=1\nSTATUS=" + status);
}

void Systemd::ReadyAsMain(const std::string& status) const {
  status_ = status;
  Send("MAINPID=" + std::to_string(::getpid()) + "\nREADY=1\nSTATUS=" + status);
  if (std::getenv("NOTIFY_SOCKET") != nullptr) {
    const int rc = sd_notify_barrier(0, 5 * 1000000ull);
    if (rc < 0) IG_WARN("sd_notify_barrier failed: %s", std::strerror(-rc));
  }
}

void Systemd::Reloading() const {
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(MonotonicMicros()) + "\nSTATUS=reloading");
}

void Systemd::Stopping(const std::string& status) const { Send("STOPPING=1\nSTATUS=" + status); }

void Systemd::Status(const std::string& status) const {
  status_ = status;
  Send("STATUS=" + status);
}

bool Systemd::Check(const std::vector<const std::atomic<uint64_t>*>& beats) {
  if (last_.size() != beats.size()) {
    last_.assign(beats.size(), 0);
    for (size_t i = 0; i < beats.size(); ++i) last_[i] = beats[i]->load();
    Send("WATCHDOG=1");
    return true;
  }
  bool all = true;
  for (size_t i = 0; i < beats.size(); ++i) {
    const uint64_t now = beats[i]->load();
    if (now == last_[i]) {
      all = false;
      if (!warned_) {
        warned_ = true;
        // `systemctl status` says why the watchdog is about to fire.
        Send("STATUS=worker-" + std::to_string(i + 1) +
             "'s event loop is stuck; the watchdog ping is withheld");
        IG_ERROR(
            "worker-%zu's event loop has made no progress for %lld ms: withholding the "
            "systemd watchdog ping (systemd restarts the service when it expires)",
            i + 1, static_cast<long long>(watchdog_ ? watchdog_->count() / 2000 : 0));
      }
    }
    last_[i] = now;
  }
  if (!all) return false;
  Send(warned_ ? "WATCHDOG=1\nSTATUS=" + status_ : std::string("WATCHDOG=1"));
  warned_ = false;
  return true;
}

}  // namespace infergate::server
