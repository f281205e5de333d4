// Listener TLS contexts: loaded at start, read again on a certificate reload.
#include "server/tls_listeners.h"

#include "infergate/core/log.h"

namespace infergate::server {

namespace {

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

struct TlsListeners::Prepared::Entry {
  std::string name;
  tls::ServerOptions options;  // the files, with the listener's ticket keys
  std::shared_ptr<const ListenerTls> current;
  observability::Counter* reload_ok = nullptr;
  observability::Counter* reload_failed = nullptr;
  observability::Gauge* not_after = nullptr;
};

bool TlsListeners::Prepare(const std::vector<config::ListenerConfig>& listeners, Prepared* out,
                           std::string* error) {
  out->listeners.clear();
  for (const config::ListenerConfig& lc : listeners) {
    auto& e = out->listeners.emplace_back(std::make_shared<Prepared::Entry>());
    e->name = lc.name;
    if (!lc.tls) continue;
    for (const auto& c : lc.tls->certificates)
      e->options.certificates.push_back({c.certificate, c.private_key});
    e->options.min_version = lc.tls->tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION;
    e->options.alpn = lc.tls->alpn;
    e->options.client_ca = lc.tls->client_ca;
    for (const auto& old : listeners_) {
      if (old->name == lc.name && old->options.tickets) e->options.tickets = old->options.tickets;
    }
    if (!e->options.tickets) e->options.tickets = std::make_shared<tls::TicketKeys>();
    const std::string label = "listener=\"" + observability::Registry::EscapeLabel(lc.name) + "\"";
    constexpr const char* kReloadHelp =
        "Certificate loads on a reload, by listener and result: failed rejects the reload, and "
        "the previous certificates keep serving";
    e->reload_ok = registry_.GetCounter("infergate_tls_certificate_reloads_total", kReloadHelp,
                                        label + ",result=\"ok\"");
    e->reload_failed = registry_.GetCounter("infergate_tls_certificate_reloads_total", kReloadHelp,
                                            label + ",result=\"failed\"");
    e->not_after = registry_.GetGauge(
        "infergate_tls_certificate_expiry_timestamp_seconds",
        "The earliest notAfter of the certificates a listener serves, in Unix seconds", label);
    std::string why;
    e->current = Load(e->options, &why);
    if (!e->current) {
      if (started_) {
        e->reload_failed->Inc();
        IG_ERROR(
            "listener %s: certificates did not load, the reload is rejected and the previous "
            "ones keep serving: %s",
            lc.name.c_str(), why.c_str());
      }
      *error = "listener " + lc.name + " tls: " + why;
      return false;
    }
  }
  return true;
}

void TlsListeners::Commit(Prepared prepared) {
  for (const auto& e : prepared.listeners) {
    if (!e->current) continue;
    // The gauge holds the newest notAfter of the listener by this name.
    e->not_after->Add(e->current->context->not_after() - e->not_after->Value());
    if (!started_) continue;
    e->reload_ok->Inc();
    IG_INFO("listener %s: certificates reloaded (%s)", e->name.c_str(),
            Join(e->current->context->names()).c_str());
  }
  listeners_ = std::move(prepared.listeners);
  started_ = true;
}

std::shared_ptr<const ListenerTls> TlsListeners::current(size_t i) const {
  return i < listeners_.size() ? listeners_[i]->current : nullptr;
}

std::shared_ptr<const ListenerTls> TlsListeners::Load(const tls::ServerOptions& options,
                                                      std::string* error) {
  std::shared_ptr<tls::ServerContext> context = tls::ServerContext::Load(options, error);
  if (!context) return nullptr;
  auto out = std::make_shared<ListenerTls>();
  SSL_CTX_up_ref(context->native());  // Asio's context frees its own reference
  out->asio = std::make_unique<boost::asio::ssl::context>(context->native());
  out->context = std::move(context);
  return out;
}

}  // namespace infergate::server
