// Gateway process fixture for integration tests.
#include "support/gateway.h"

#include <sstream>
#include <thread>

namespace infergate::testing {

std::string WithoutModelPolls(const std::string& yaml) {
  if (yaml.starts_with("models:") || yaml.find("\nmodels:") != std::string::npos) return yaml;
  return yaml + (yaml.empty() || yaml.back() == '\n' ? "" : "\n") + "models:\n  refresh: 0s\n";
}

bool Gateway::RewriteConfig(const std::string& yaml) {
  return config_->Rewrite(WithoutModelPolls(yaml));
}

std::unique_ptr<Gateway> Gateway::Start(const std::string& yaml,
                                        std::vector<std::string> extra_args, std::string* why,
                                        std::vector<std::string> launcher) {
  std::unique_ptr<Gateway> g(new Gateway());
  g->config_ = std::make_unique<TempFile>(WithoutModelPolls(yaml), ".yaml");
  std::vector<std::string> argv = std::move(launcher);
  argv.insert(argv.end(), {BinaryPath("infergate"), "-c", g->config_->path()});
  bool has_workers = false;
  for (const auto& a : extra_args) has_workers |= a == "--workers";
  if (!has_workers) {
    argv.push_back("--workers");
    argv.push_back("2");
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  g->process_ = Process::Start(argv);
  if (!g->process_) {
    if (why) *why = "could not start infergate";
    return nullptr;
  }
  auto port =
      g->process_->WaitForOutput(R"(listener public on [^\s]+:(\d+)\s)", std::chrono::seconds(20));
  if (!port) {
    if (why) *why = g->process_->Output();
    return nullptr;
  }
  g->port_ = static_cast<uint16_t>(std::stoi(*port));
  if (yaml.find("admin:") != std::string::npos) {
    auto admin = g->process_->WaitForOutput(R"(admin listening on [^\s]+:(\d+)\s)",
                                            std::chrono::seconds(10));
    if (admin) g->admin_port_ = static_cast<uint16_t>(std::stoi(*admin));
  }
  return g;
}

Gateway::~Gateway() {
  if (process_) process_->Stop(std::chrono::seconds(5));
}

HttpResponse Gateway::AdminReload(const std::string& token) {
  HttpClient c(admin_port_);
  Headers headers;
  if (!token.empty()) headers.push_back({"authorization", "Bearer " + token});
  return c.Post("/admin/reload", "", headers, std::chrono::seconds(30));
}

std::string Gateway::Metrics() {
  if (admin_port_ == 0) return {};
  HttpClient c(admin_port_);
  if (!c.Connect()) return {};
  return c.Get("/metrics").body;
}

std::optional<double> Gateway::Metric(const std::string& name, const std::string& labels) {
  std::string text = Metrics();
  std::string key = labels.empty() ? name + " " : name + "{" + labels + "} ";
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(key.size()));
  }
  return std::nullopt;
}

std::optional<double> Gateway::WaitForMetric(const std::string& name, const std::string& labels,
                                             double value, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<double> v;
  while (true) {
    v = Metric(name, labels);
    if ((v && *v == value) || std::chrono::steady_clock::now() >= deadline) return v;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string PoolYaml(const std::string& name, const std::vector<std::string>& addresses,
                     const std::string& extra) {
  std::string out = "  - name: " + name + "\n" + extra + "    backends:\n";
  for (const auto& a : addresses) out += "      - http://" + a + "\n";
  return out;
}

}  // namespace infergate::testing
