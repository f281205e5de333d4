// infergate: flags, config load, run. Everything else lives in the parts.
#include <boost/asio/ip/address.hpp>

#include <unistd.h>
#include <chrono>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "infergate/config/config.h"
#include "infergate/core/log.h"
#include "infergate/core/units.h"
#include "infergate/observability/access_log.h"
#include "infergate/server/server.h"
#include "infergate/tls/context.h"
#include "infergate/upstream/pool.h"

namespace {

constexpr const char* kUsage =
    "usage: infergate [-c FILE] [--check-config] [--workers N] [--log-level LEVEL]\n"
    "                 [--log-format text|json] [--drain-timeout DURATION]\n"
    "                 [--handover-socket PATH] [--take-over PATH] [--version] [--help]\n"
    "\n"
    "  -c, --config FILE       configuration file (default /etc/infergate/infergate.yaml)\n"
    "  -t, --check-config      validate the configuration and exit (0 valid, 1 invalid)\n"
    "  --workers N             worker threads (default: the config's workers, else one per CPU)\n"
    "  --log-level LEVEL       debug | info | warn | error (default info; debug logs every "
    "request)\n"
    "  --log-format FORMAT     text | json: the daemon log's lines (default: the config's "
    "log_format, else text)\n"
    "  --drain-timeout DUR     on SIGTERM, how long in-flight requests may finish (default 30s)\n"
    "  --handover-socket PATH  serve hand-overs on this Unix socket (see --take-over)\n"
    "  --take-over PATH        take the listening sockets over from the infergate serving\n"
    "                          hand-overs on PATH, then tell it to drain once this one is ready\n"
    "  --version               print the version and exit\n";

int Usage(const char* problem) {
  std::fprintf(stderr, "infergate: %s\n%s", problem, kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "/etc/infergate/infergate.yaml";
  bool check_only = false;
  std::optional<infergate::LogFormat> log_format;
  infergate::server::ServerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)flag;
      return argv[++i];
    };
    if (a == "-c" || a == "--config") {
      const char* v = value("--config");
      if (!v) return Usage("--config needs a file");
      config_path = v;
    } else if (a == "-t" || a == "--check-config") {
      check_only = true;
    } else if (a == "--workers") {
      const char* v = value("--workers");
      auto n = v ? infergate::ParseBoundedInt(v, 1, 1024) : std::nullopt;
      if (!n) return Usage("--workers needs a number from 1 to 1024");
      options.workers = static_cast<int>(*n);
    } else if (a == "--log-level") {
      const char* v = value("--log-level");
      infergate::LogLevel level;
      if (!v || !infergate::ParseLogLevel(v, &level))
        return Usage("--log-level takes debug, info, warn or error");
      infergate::SetLogLevel(level);
    } else if (a == "--log-format") {
      const char* v = value("--log-format");
      infergate::LogFormat format;
      if (!v || !infergate::ParseLogFormat(v, &format))
        return Usage("--log-format takes text or json");
      log_format = format;
      infergate::SetLogFormat(format);
    } else if (a == "--drain-timeout") {
      const char* v = value("--drain-timeout");
      auto d = v ? infergate::ParseDuration(v) : std::nullopt;
      if (!d) return Usage("--drain-timeout takes a duration such as 30s");
      options.drain_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    } else if (a == "--handover-socket" || a == "--take-over") {
      const char* v = value(a.c_str());
      if (!v || !*v) return Usage((a + " needs a path").c_str());
      (a == "--take-over" ? options.take_over : options.handover_socket) = v;
    } else if (a == "--version" || a == "-v") {
      std::printf("infergate %s\n", INFERGATE_VERSION);
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      return Usage(("unknown argument \"" + a + "\"").c_str());
    }
  }

  auto loaded = infergate::config::LoadConfigFile(config_path);
  if (!loaded) {
    for (const auto& e : loaded.error()) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    std::fprintf(stderr, "infergate: %zu error%s in %s; nothing started\n", loaded.error().size(),
                 loaded.error().size() == 1 ? "" : "s", config_path.c_str());
    return 1;
  }
  const auto& cfg = **loaded;
  infergate::SetLogFormat(log_format.value_or(cfg.log_format));
  if (check_only) {
    for (const std::string& w : cfg.warnings) std::fprintf(stderr, "%s\n", w.c_str());
    // The listeners' certificates and keys as the server loads them (parsed, matched), so a
    // key that does not match its certificate fails the check, not the start.
    size_t bad = 0;
    for (const auto& l : cfg.listeners) {
      if (!l.tls) continue;
      infergate::tls::ServerOptions o;
      for (const auto& c : l.tls->certificates)
        o.certificates.push_back({c.certificate, c.private_key});
      o.client_ca = l.tls->client_ca;
      std::string why;
      if (!infergate::tls::ServerContext::Load(o, &why)) {
        std::fprintf(stderr, "%s: listener %s tls: %s\n", config_path.c_str(), l.name.c_str(),
                     why.c_str());
        ++bad;
      }
    }
    // Names that do not resolve now do not stop a start (the backend is down and looked up
    // again), but the operator hears of them here.
    for (const auto& pool : cfg.pools) {
      for (const auto& b : pool.backends) {
        boost::system::error_code ec;
        boost::asio::ip::make_address(b.address.host, ec);
        if (!ec || !infergate::upstream::ResolveBackend(b.address).empty()) continue;
        const long long every =
            std::chrono::duration_cast<std::chrono::seconds>(pool.dns_refresh).count();
        std::fprintf(stderr,
                     "%s: warning: pools.%s: backend %s: %s does not resolve now; infergate "
                     "would start with this backend down and %s\n",
                     config_path.c_str(), pool.name.c_str(), b.url.c_str(), b.address.host.c_str(),
                     pool.dns_refresh.count() > 0
                         ? ("look the name up again every " + std::to_string(every) + "s").c_str()
                         : "not look it up again before a reload (dns_refresh: 0s)");
      }
    }
    if (const auto& al = cfg.access_log) {
      std::string why;
      if (!infergate::observability::CheckAccessLogPath(al->path, &why)) {
        std::fprintf(stderr, "%s: access_log.path: %s\n", config_path.c_str(), why.c_str());
        ++bad;
      }
    }
    if (bad > 0) {
      std::fprintf(stderr, "infergate: %zu error%s in %s; nothing started\n", bad,
                   bad == 1 ? "" : "s", config_path.c_str());
      return 1;
    }
    std::printf("infergate: %s is valid (%zu listener%s, %zu pool%s, %zu route%s)\n",
                config_path.c_str(), cfg.listeners.size(), cfg.listeners.size() == 1 ? "" : "s",
                cfg.pools.size(), cfg.pools.size() == 1 ? "" : "s", cfg.routes.size(),
                cfg.routes.size() == 1 ? "" : "s");
    return 0;
  }

  options.config_path = config_path;
  for (int i = 1; i < argc; ++i) options.argv.emplace_back(argv[i]);
  {
    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) options.binary.assign(exe, static_cast<size_t>(n));
  }
  infergate::server::Server server(*loaded, options);
  std::string error;
  if (!server.Bind(&error)) {
    IG_ERROR("%s", error.c_str());
    return 1;
  }
  return server.Run();
}
