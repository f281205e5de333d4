// A connection to one backend, plain TCP or TLS (https:// pools), for the workers' upstream
// client and the health controller's probes, canaries and load-report scrapes alike: connect
// (and handshake), write, read some, close. The TLS side verifies the backend with its pool's
// client context, resumes the thread's latest session with that backend, and counts handshakes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/observability/metrics.h"
#include "infergate/tls/client_context.h"

namespace infergate::upstream {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// The client TLS context of each pool of `config`, by pool index (null for http:// pools). A pool
// with insecure_skip_verify is logged at warn level. On a file that cannot be loaded, *error
// names the pool and the file (and that pool's entry is null: its connects fail).
std::vector<std::shared_ptr<tls::ClientContext>> LoadPoolTls(const config::Config& config,
                                                             std::string* error);

// A pool's TLS counters; series shared by every thread (sharded). Null without a registry.
struct TlsCounters {
  observability::Counter* full = nullptr;     // handshakes that were not resumed
  observability::Counter* resumed = nullptr;  // handshakes that resumed a session
  std::array<observability::Counter*, tls::kHandshakeFailureCount> failures{};  // by reason
  static TlsCounters For(observability::Registry* metrics, const std::string& pool);
};

// How one thread reaches one https:// backend. Owned by that thread (a worker's backend runtime,
// or the health controller's tracker); a connection keeps it alive while its SSL may call back.
struct TlsTarget {
  std::shared_ptr<tls::ClientContext> context;  // the pool's; null: it did not load (fail closed)
  std::string server_name;                      // verified and sent as SNI (an IP is not sent)
  std::string pool;                             // names for messages
  std::string backend;
  tls::SessionSlot session;  // this thread's latest session with the backend
  TlsCounters counters;
  // Failure logs: at most one per kLogInterval per thread and backend, unless the reason changes.
  std::chrono::steady_clock::time_point last_log{};
  int last_logged = -1;
};

// For backend `backend` of `pool` (an https:// pool): the name to verify is tls.server_name, or
// the backend URL's host.
std::shared_ptr<TlsTarget> MakeTlsTarget(std::shared_ptr<tls::ClientContext> context,
                                         const config::PoolConfig& pool,
                                         const config::BackendConfig& backend,
                                         observability::Registry* metrics);

// Why a connect failed. Messages hold no address, so they may reach a client.
struct ConnectFailure {
  bool tls = false;  // the TCP connection was made; TLS failed (`why` says how)
  tls::HandshakeFailure why = tls::HandshakeFailure::kHandshake;
  std::string reason;  // "Connection refused", "certificate has expired", ...
};

class BackendSocket {
 public:
  explicit BackendSocket(asio::any_io_executor ex) : tcp_(std::move(ex)) {}
  // A connection whose handshake completed keeps its session resumable (see
  // tls::KeepSessionResumable).
  ~BackendSocket();
  BackendSocket(const BackendSocket&) = delete;
  BackendSocket& operator=(const BackendSocket&) = delete;

  // TCP to the first of `endpoints` that answers, then, with `tls`, the TLS handshake (the
  // session of `tls` offered, the new ones kept there; the outcome counted). Bounded by the
  // caller: Close() from its deadline ends a pending connect or handshake (kCancelled).
  asio::awaitable<std::optional<ConnectFailure>> Connect(
      const std::vector<tcp::endpoint>& endpoints, std::shared_ptr<TlsTarget> tls);

  // Asio's async_write and async_read_some on whichever stream this is (same completion types).
  template <typename Buffers, typename Token>
  auto AsyncWrite(const Buffers& buffers, Token&& token) {
    if (tls_) return asio::async_write(*tls_, buffers, std::forward<Token>(token));
    return asio::async_write(tcp_, buffers, std::forward<Token>(token));
  }
  template <typename Buffers, typename Token>
  auto AsyncReadSome(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return tcp_.async_read_some(buffers, std::forward<Token>(token));
  }

  // Closes the connection now; a pending operation fails.
  void Close();
  bool is_open() const { return tls_ ? tls_->lowest_layer().is_open() : tcp_.is_open(); }
  bool secure() const { return tls_.has_value(); }

 private:
  tcp::socket tcp_;                    // the connection until a TLS handshake takes it over
  std::shared_ptr<TlsTarget> target_;  // outlives tls_: its session slot is the SSL's callback
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  bool closed_ = false;
};

}  // namespace infergate::upstream
