// The daemon: N shared-nothing workers, each with its own io_context, its own SO_REUSEPORT
// listener sockets and its own upstream pools; an admin listener on its own thread; signal
// handling and graceful drain on the main thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "infergate/config/config.h"

namespace infergate::server {

// How a reload ended.
struct ReloadOutcome {
  bool ok = false;
  uint64_t generation = 0;            // the config generation serving now
  std::vector<std::string> errors;    // why it was rejected (file:line:column: key: message)
  std::vector<std::string> warnings;  // applied, but: settings that need a restart
};

struct ServerOptions {
  int workers = 0;          // 0: the config's value, else the number of CPUs
  std::string config_path;  // read again by a reload
  // Hand-over (see server/handover.h): where this process serves hand-over requests ("" none),
  // and the socket of a running process to take the listening sockets over from ("" none).
  std::string handover_socket;
  std::string take_over;
  // The command line, for SIGUSR2: the binary at `binary` (resolved at start, so an upgraded
  // file is the one run) started again with it plus --take-over.
  std::string binary;
  std::vector<std::string> argv;
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
  // Reads, validates and applies the config file again (SIGHUP and POST /admin/reload do this),
  // with the TLS listeners' certificate files. New exchanges take the new config; exchanges in
  // flight finish on theirs. What the gateway learned is kept by identity (backends by pool and
  // host:port, compartments, routes, tenants, listeners by name and address). A config that does
  // not load, or whose files do not, changes nothing. Call on the thread that runs Run().
  ReloadOutcome Reload();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::server
