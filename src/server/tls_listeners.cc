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

bool TlsListeners::Add(const config::ListenerConfig& lc, std::string* error) {
  Listener& l = listeners_.emplace_back();
  l.name = lc.name;
  if (!lc.tls) return true;
  for (const auto& c : lc.tls->certificates)
    l.options.certificates.push_back({c.certificate, c.private_key});
  l.options.min_version = lc.tls->tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION;
  l.options.alpn = lc.tls->alpn;
  l.options.client_ca = lc.tls->client_ca;
  l.options.tickets = std::make_shared<tls::TicketKeys>();
  const std::string label = "listener=\"" + observability::Registry::EscapeLabel(lc.name) + "\"";
  constexpr const char* kReloadHelp =
      "Certificate reloads by listener and result: failed keeps the old certificate";
  l.reload_ok = registry_.GetCounter("infergate_tls_certificate_reloads_total", kReloadHelp,
                                     label + ",result=\"ok\"");
  l.reload_failed = registry_.GetCounter("infergate_tls_certificate_reloads_total", kReloadHelp,
                                         label + ",result=\"failed\"");
  l.not_after = registry_.GetGauge(
      "infergate_tls_certificate_expiry_timestamp_seconds",
      "The earliest notAfter of the certificates a listener serves, in Unix seconds", label);
  std::string why;
  l.current = Load(l, &why);
  if (!l.current) {
    *error = "listener " + lc.name + " tls: " + why;
    return false;
  }
  return true;
}

std::shared_ptr<const ListenerTls> TlsListeners::Load(Listener& l, std::string* error) {
  std::shared_ptr<tls::ServerContext> context = tls::ServerContext::Load(l.options, error);
  if (!context) return nullptr;
  auto out = std::make_shared<ListenerTls>();
  SSL_CTX_up_ref(context->native());  // Asio's context frees its own reference
  out->asio = std::make_unique<boost::asio::ssl::context>(context->native());
  out->context = std::move(context);
  l.not_after->Add(out->context->not_after() - l.not_after_value);
  l.not_after_value = out->context->not_after();
  return out;
}

std::vector<TlsListeners::Reloaded> TlsListeners::Reload() {
  std::vector<Reloaded> out;
  for (size_t i = 0; i < listeners_.size(); ++i) {
    Listener& l = listeners_[i];
    if (!l.current) continue;
    std::string why;
    std::shared_ptr<const ListenerTls> next = Load(l, &why);
    if (!next) {
      l.reload_failed->Inc();
      IG_ERROR("listener %s: certificate reload failed, still serving the previous certificate: %s",
               l.name.c_str(), why.c_str());
      continue;
    }
    l.reload_ok->Inc();
    IG_INFO("listener %s: certificates reloaded (%s)", l.name.c_str(),
            Join(next->context->names()).c_str());
    l.current = next;
    out.push_back({i, std::move(next)});
  }
  return out;
}

}  // namespace infergate::server
