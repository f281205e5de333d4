// The TLS state of the listeners, kept across certificate reloads: each TLS listener's files,
// session-ticket keys and current context. A reload reads the files again and builds a new
// context for the next handshakes; handshakes, connections and streams already begun keep the
// context they started with. Used on the main thread; workers get each new context by a post.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>
#include <vector>

#include "infergate/config/config.h"
#include "infergate/observability/metrics.h"
#include "infergate/tls/context.h"

namespace infergate::server {

// A listener's TLS context as the workers hold it: the loaded context and Asio's view of it. A
// handshake holds it to its end; an established connection keeps only its SSL_CTX references.
// That is enough because the context's callbacks (ALPN, SNI, which take a raw pointer to the
// ServerContext) run only during a handshake: renegotiation is off, so none comes later.
struct ListenerTls {
  std::shared_ptr<tls::ServerContext> context;
  std::unique_ptr<boost::asio::ssl::context> asio;
};

class TlsListeners {
 public:
  explicit TlsListeners(observability::Registry& registry) : registry_(registry) {}

  // Loads the next listener's context (none for a cleartext listener). False with the error,
  // which names the listener and the file.
  bool Add(const config::ListenerConfig& listener, std::string* error);
  // Listener `i`'s current context; null for a cleartext listener.
  std::shared_ptr<const ListenerTls> current(size_t i) const { return listeners_[i].current; }

  // Reads every TLS listener's certificate files again. A listener whose files load gets a new
  // context (returned, by listener index, for the workers); one whose files fail keeps its
  // context, the error is logged with the path and counted. The ticket keys are kept either way.
  struct Reloaded {
    size_t listener;
    std::shared_ptr<const ListenerTls> tls;
  };
  std::vector<Reloaded> Reload();

 private:
  struct Listener {
    std::string name;
    tls::ServerOptions options;  // the files, with the listener's ticket keys
    std::shared_ptr<const ListenerTls> current;
    observability::Counter* reload_ok = nullptr;
    observability::Counter* reload_failed = nullptr;
    observability::Gauge* not_after = nullptr;
    int64_t not_after_value = 0;
  };
  std::shared_ptr<const ListenerTls> Load(Listener& l, std::string* error);

  observability::Registry& registry_;
  std::vector<Listener> listeners_;
};

}  // namespace infergate::server
