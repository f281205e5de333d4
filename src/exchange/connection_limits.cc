// Listener connection caps: metric handles, the default cap from the descriptor limit.
#include "infergate/exchange/connection_limits.h"

#include <algorithm>

namespace infergate::exchange {

ListenerRuntime::ListenerRuntime(uint64_t max, observability::Registry& registry,
                                 const std::string& name)
    : name(name),
      slots(max),
      registry_(registry),
      labels_("listener=\"" + observability::Registry::EscapeLabel(name) + "\"") {
  using observability::Registry;
  const std::string& l = labels_;
  registry.SetCallback("infergate_listener_connections",
                       "Open client connections per listener (each counts against its "
                       "max_connections).",
                       Registry::CallbackType::kGauge, l,
                       [this] { return static_cast<double>(slots.open()); });
  registry.SetCallback("infergate_listener_max_connections",
                       "The listener's max_connections: open connections beyond it are refused.",
                       Registry::CallbackType::kGauge, l,
                       [this] { return static_cast<double>(slots.max()); });
  rejected = registry.GetCounter(
      "infergate_connections_rejected_total",
      "Client connections closed at accept: the listener was at max_connections and no idle "
      "connection or unfinished request head could be closed to make room.",
      l);
  const char* shed_help =
      "Client connections closed to make room for new ones at max_connections, by what they "
      "were doing (idle: between keep-alive requests; head: an unfinished request head).";
  shed_idle =
      registry.GetCounter("infergate_connections_shed_total", shed_help, l + ",state=\"idle\"");
  shed_head =
      registry.GetCounter("infergate_connections_shed_total", shed_help, l + ",state=\"head\"");
  const char* accept_help =
      "accept() failures by reason (fd_limit: EMFILE or ENFILE); the listener backs off.";
  accept_fd_limit =
      registry.GetCounter("infergate_accept_errors_total", accept_help, l + ",reason=\"fd_limit\"");
  accept_other =
      registry.GetCounter("infergate_accept_errors_total", accept_help, l + ",reason=\"other\"");
  const char* tls_help =
      "TLS handshakes that failed, by reason (timeout: not done within header_timeout; failed: "
      "refused by either side, e.g. an old protocol version or an untrusted client certificate).";
  tls_timeout = registry.GetCounter("infergate_tls_handshake_failures_total", tls_help,
                                    l + ",reason=\"timeout\"");
  tls_failed = registry.GetCounter("infergate_tls_handshake_failures_total", tls_help,
                                   l + ",reason=\"failed\"");
}

ListenerRuntime::~ListenerRuntime() {
  registry_.RemoveCallback("infergate_listener_connections", labels_);
  registry_.RemoveCallback("infergate_listener_max_connections", labels_);
}

uint64_t DefaultMaxConnections(uint64_t fd_limit, uint64_t reserved, size_t listeners) {
  const uint64_t usable = fd_limit > reserved ? fd_limit - reserved : 0;
  return std::max<uint64_t>(1, usable / 2 / std::max<size_t>(1, listeners));
}

uint64_t RaiseFdLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return rl.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : static_cast<uint64_t>(rl.rlim_cur);
}

}  // namespace infergate::exchange
