// The daemon: N shared-nothing workers, each with its own io_context, its own SO_REUSEPORT
// listener sockets and its own upstream pools; an admin listener on its own thread; signal
// handling and graceful drain on the main thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "infergate/config/config.h"

namespace infergate::server {

struct ServerOptions {
  int workers = 0;  // 0: the config's value, else the number of CPUs
  std::chrono::milliseconds drain_timeout{30000};
};

class Server {
 public:
  Server(std::shared_ptr<const config::Config> config, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener on every worker and the admin listener. On failure returns false and
  // says why in `error` (e.g. "listener public: bind 0.0.0.0:8080: Address already in use").
  bool Bind(std::string* error);
  // Serves until SIGINT or SIGTERM, then drains: stops accepting, lets in-flight requests
  // finish (up to drain_timeout) and returns the process exit code.
  int Run();
  // Reads the TLS listeners' certificate files again (SIGHUP does this): the next handshakes use
  // the new certificates; handshakes, connections and streams already begun are untouched. A
  // listener whose files fail keeps its certificate; the error names the file and is counted.
  // Call on the thread that runs Run().
  void ReloadCertificates();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::server
