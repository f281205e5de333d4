// systemd integration through libsystemd's sd_notify (Type=notify units): READY=1 once every
// listener is bound, RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a reload, STOPPING=1
// on drain, STATUS= with a short summary, and WATCHDOG=1 while every worker's event loop makes
// progress. Without NOTIFY_SOCKET (not under systemd) every call does nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace infergate::server {

class Systemd {
 public:
  Systemd();
  void Ready(const std::string& status) const;
  // READY=1 from a process that takes over from the service's main process (a hand-over):
  // MAINPID= names this process first (the unit needs NotifyAccess=all), and returns once
  // systemd has processed it, so the old main process may exit.
  void ReadyAsMain(const std::string& status) const;
  void Reloading() const;
  void Stopping(const std::string& status) const;
  void Status(const std::string& status) const;

  // The watchdog interval systemd asked for (WATCHDOG_USEC, for this process), if any. Pings go
  // out at half of it.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }
  // Pings the watchdog when every counter in `beats` moved since the previous call (each worker
  // bumps its own from a timer on its event loop); otherwise withholds the ping, so systemd
  // restarts a process with a wedged worker, and logs which worker once. True when it pinged.
  bool Check(const std::vector<const std::atomic<uint64_t>*>& beats);

 private:
  std::optional<std::chrono::microseconds> watchdog_;
  std::vector<uint64_t> last_;
  bool warned_ = false;
  mutable std::string status_;  // the last STATUS= (restored when a stuck worker recovers)
};

}  // namespace infergate::server
