// The TLS state of the listeners, kept by listener name across reloads: each TLS listener's
// files, session-ticket keys and current context. A reload reads the files again and builds new
// contexts for the next handshakes; handshakes, connections and streams already begun keep the
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

  // The TLS state for a config's listeners (config order), read and checked but not yet in use.
  struct Prepared {
    struct Entry;
    std::vector<std::shared_ptr<Entry>> listeners;
  };
  // Loads every TLS listener's certificates and keys from `listeners`. A listener that keeps its
  // name keeps its session-ticket keys (clients keep their sessions across a reload). Changes
  // nothing in use. False with the error (it names the listener and the file); on a reload the
  // failure is counted in infergate_tls_certificate_reloads_total{result="failed"}.
  bool Prepare(const std::vector<config::ListenerConfig>& listeners, Prepared* out,
               std::string* error);
  // Makes `prepared` the listeners' TLS state (a reload counts result="ok" per TLS listener and
  // logs the names served).
  void Commit(Prepared prepared);
  // Listener `i`'s (config order) current context; null for a cleartext listener.
  std::shared_ptr<const ListenerTls> current(size_t i) const;

 private:
  std::shared_ptr<const ListenerTls> Load(const tls::ServerOptions& options, std::string* error);

  observability::Registry& registry_;
  std::vector<std::shared_ptr<Prepared::Entry>> listeners_;
  bool started_ = false;  // the first Commit is the start, not a reload
};

}  // namespace infergate::server
