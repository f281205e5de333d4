// Backend connections over TCP or TLS: the pools' client contexts, the per-thread TLS targets,
// and the connect-then-handshake step with its counting and (throttled) logging.
#include "infergate/upstream/backend_socket.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "infergate/core/log.h"

namespace infergate::upstream {
namespace {

using boost::system::error_code;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr auto kLogInterval = std::chrono::seconds(10);

// A failed handshake in the log with the backend's name: the first of a kind at once, then at
// most one per kLogInterval (every connect to a backend with a bad certificate fails alike).
void LogFailure(TlsTarget& t, tls::HandshakeFailure why, const std::string& reason) {
  const auto now = std::chrono::steady_clock::now();
  const int kind = static_cast<int>(why);
  if (kind == t.last_logged && now - t.last_log < kLogInterval) return;
  t.last_log = now;
  t.last_logged = kind;
  IG_WARN("pool %s: TLS with backend %s (server name %s) failed (%s): %s", t.pool.c_str(),
          t.backend.c_str(), t.server_name.c_str(),
          std::string(tls::HandshakeFailureName(why)).c_str(), reason.c_str());
}

void Count(observability::Counter* c) {
  if (c != nullptr) c->Inc();
}

}  // namespace

std::vector<std::shared_ptr<tls::ClientContext>> LoadPoolTls(const config::Config& config,
                                                             std::string* error) {
  std::vector<std::shared_ptr<tls::ClientContext>> out(config.pools.size());
  for (size_t p = 0; p < config.pools.size(); ++p) {
    const config::PoolConfig& pool = config.pools[p];
    if (!pool.tls) continue;
    tls::ClientOptions o;
    o.ca = pool.tls->ca;
    o.certificate = pool.tls->client_certificate;
    o.private_key = pool.tls->client_private_key;
    o.min_version = pool.tls->tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION;
    o.verify = !pool.tls->insecure_skip_verify;
    std::string why;
    out[p] = tls::ClientContext::Load(o, &why);
    if (!out[p] && error->empty()) *error = "pool " + pool.name + " tls: " + why;
    if (pool.tls->insecure_skip_verify) {
      IG_WARN(
          "pool %s: tls.insecure_skip_verify is on: its backends' certificates are NOT verified, "
          "so anyone on the network path can impersonate them and read every request, "
          "credentials included",
          pool.name.c_str());
    }
  }
  return out;
}

TlsCounters TlsCounters::For(observability::Registry* metrics, const std::string& pool) {
  TlsCounters c;
  if (metrics == nullptr) return c;
  const std::string label = "pool=\"" + observability::Registry::EscapeLabel(pool) + "\"";
  static constexpr std::string_view kHandshakes = "infergate_upstream_tls_handshakes_total";
  static constexpr std::string_view kHandshakesHelp =
      "TLS handshakes with the backends of https:// pools that completed, by whether they "
      "resumed a session.";
  c.full = metrics->GetCounter(kHandshakes, kHandshakesHelp, label + ",resumed=\"false\"");
  c.resumed = metrics->GetCounter(kHandshakes, kHandshakesHelp, label + ",resumed=\"true\"");
  for (int i = 0; i < tls::kHandshakeFailureCount; ++i) {
    const auto why = static_cast<tls::HandshakeFailure>(i);
    c.failures[i] = metrics->GetCounter(
        "infergate_upstream_tls_failures_total",
        "TLS handshakes with the backends of https:// pools that failed, by reason: untrusted, "
        "expired, not_yet_valid, name_mismatch, verify_failed (the certificate), handshake "
        "(protocol or alert), cancelled (connect timeout or the request ended).",
        label + ",reason=\"" + std::string(tls::HandshakeFailureName(why)) + "\"");
  }
  return c;
}

std::shared_ptr<TlsTarget> MakeTlsTarget(std::shared_ptr<tls::ClientContext> context,
                                         const config::PoolConfig& pool,
                                         const config::BackendConfig& backend,
                                         observability::Registry* metrics) {
  auto t = std::make_shared<TlsTarget>();
  t->context = std::move(context);
  t->server_name =
      pool.tls && !pool.tls->server_name.empty() ? pool.tls->server_name : backend.address.host;
  t->pool = pool.name;
  t->backend = backend.name;
  t->counters = TlsCounters::For(metrics, pool.name);
  return t;
}

BackendSocket::~BackendSocket() {
  if (tls_) tls::KeepSessionResumable(tls_->native_handle());
}

void BackendSocket::Close() {
  closed_ = true;
  error_code ignored;
  if (tls_) {
    tls_->lowest_layer().close(ignored);
  } else {
    tcp_.close(ignored);
  }
}

asio::awaitable<std::optional<ConnectFailure>> BackendSocket::Connect(
    const std::vector<tcp::endpoint>& endpoints, std::shared_ptr<TlsTarget> tls) {
  auto [ec, ep] = co_await asio::async_connect(tcp_, endpoints, kNoThrow);
  if (ec) co_return ConnectFailure{false, tls::HandshakeFailure::kHandshake, ec.message()};
  error_code ignored;
  tcp_.set_option(tcp::no_delay(true), ignored);
  if (!tls) co_return std::nullopt;
  TlsTarget& t = *tls;
  std::string why;
  SSL* ssl = t.context ? t.context->NewSsl(t.server_name, &t.session, &why) : nullptr;
  if (ssl == nullptr) {
    if (!t.context) why = "the pool's TLS context did not load";
    Count(t.counters.failures[static_cast<int>(tls::HandshakeFailure::kHandshake)]);
    co_return ConnectFailure{true, tls::HandshakeFailure::kHandshake, why};
  }
  target_ = std::move(tls);
  tls_.emplace(std::move(tcp_), ssl);
  auto [hec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kNoThrow);
  if (!hec && !closed_) {
    Count(SSL_session_reused(ssl) == 1 ? t.counters.resumed : t.counters.full);
    co_return std::nullopt;
  }
  tls::HandshakeFailure kind = tls::HandshakeFailure::kCancelled;
  std::string reason = "cancelled";
  if (!closed_) {
    kind = tls::ClassifyHandshakeFailure(ssl, &reason);
    if (kind == tls::HandshakeFailure::kHandshake) reason = hec.message();
    LogFailure(t, kind, reason);
  }
  t.session.Clear();  // a backend that fails a handshake starts afresh
  Count(t.counters.failures[static_cast<int>(kind)]);
  co_return ConnectFailure{true, kind, reason};
}

}  // namespace infergate::upstream
