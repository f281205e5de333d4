// Starting the real infergate binary for integration tests: writes the YAML to a temp file,
// starts the daemon on loopback ports chosen by the kernel, and reads the ports it printed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/http_client.h"
#include "support/process.h"
#include "support/test_env.h"

namespace infergate::testing {

class Gateway {
 public:
  // A `yaml` without a top-level `models:` key gets `models: {refresh: 0s}` (here and in
  // RewriteConfig): the gateway then does not poll the backends' /v1/models, so tests that count
  // a mock's requests or connections see only their own. Tests of the model list set `models:`.
  // `yaml` should use `listen: 127.0.0.1:0` for the listener named "public" (and optionally an
  // admin listener on 127.0.0.1:0). Returns null (with the daemon's output in *why) when it did
  // not start.
  // `launcher` goes before the binary, e.g. {"prlimit", "--nofile=64:64"}.
  static std::unique_ptr<Gateway> Start(const std::string& yaml,
                                        std::vector<std::string> extra_args = {},
                                        std::string* why = nullptr,
                                        std::vector<std::string> launcher = {});
  ~Gateway();

  uint16_t port() const { return port_; }
  uint16_t admin_port() const { return admin_port_; }
  Process& process() { return *process_; }
  // The config file the daemon reads (a reload reads it again), and a new text for it.
  const std::string& config_path() const { return config_->path(); }
  bool RewriteConfig(const std::string& yaml);
  // POST /admin/reload (with `token` as the bearer token when not empty).
  HttpResponse AdminReload(const std::string& token = "");

  // The admin /metrics text, and one sample's value (labels as written, e.g.
  // `kind="first_byte_timeout"`; empty for none). nullopt when absent.
  std::string Metrics();
  std::optional<double> Metric(const std::string& name, const std::string& labels = "");
  // Polls /metrics until the sample equals `value` (an exchange is recorded just after its last
  // byte is written, so a client can see the response before the metric moves). Returns the
  // last value seen.
  std::optional<double> WaitForMetric(const std::string& name, const std::string& labels,
                                      double value,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  Gateway() = default;
  std::unique_ptr<TempFile> config_;
  std::unique_ptr<Process> process_;
  uint16_t port_ = 0;
  uint16_t admin_port_ = 0;
};

// A pool block with one backend per address, e.g. PoolYaml("large", {mock->address()}).
std::string PoolYaml(const std::string& name, const std::vector<std::string>& addresses,
                     const std::string& extra = "");

}  // namespace infergate::testing
