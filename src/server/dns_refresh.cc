// Backends named by a host name: resolved again every pool's dns_refresh on the main thread
// (Asio's resolver runs the lookups off the event loops), and published like a reload when their
// addresses changed. A lookup that fails keeps the addresses the name had.
#include <boost/asio/ip/tcp.hpp>

#include <algorithm>

#include "infergate/core/log.h"
#include "infergate/core/units.h"
#include "server/server_impl.h"

namespace infergate::server {
namespace {

bool IsAddress(const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  return !ec;
}

std::vector<tcp::endpoint> Sorted(std::vector<tcp::endpoint> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::string Join(const std::vector<tcp::endpoint>& v) {
  std::string out;
  for (const auto& ep : v) out += (out.empty() ? "" : ", ") + ep.address().to_string();
  return out.empty() ? "nothing" : out;
}

observability::Counter* Counted(observability::Registry& r, const std::string& pool,
                                const char* result) {
  return r.GetCounter(
      "infergate_dns_resolutions_total",
      "Lookups of backends' host names (dns_refresh), by pool and result: "
      "changed published new addresses; failed kept the previous ones.",
      "pool=\"" + observability::Registry::EscapeLabel(pool) + "\",result=\"" + result + "\"");
}

}  // namespace

void Server::Impl::ScheduleDns() {
  const auto now = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> next;
  std::map<std::string, std::chrono::steady_clock::time_point> due;
  for (const config::PoolConfig& pc : config->pools) {
    const bool named = std::any_of(pc.backends.begin(), pc.backends.end(),
                                   [](const auto& b) { return !IsAddress(b.address.host); });
    if (!named || pc.dns_refresh <= Duration::zero()) continue;
    auto it = dns_due.find(pc.name);
    const auto at = it != dns_due.end() ? it->second : now + pc.dns_refresh;
    due[pc.name] = at;
    if (!next || at < *next) next = at;
  }
  dns_due = std::move(due);
  dns_timer.cancel();
  if (!next || dns_in_flight) return;  // a lookup in flight schedules the next when it ends
  dns_timer.expires_at(*next);
  dns_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) RefreshDns();
  });
}

void Server::Impl::RefreshDns() {
  using Answers = std::map<std::pair<std::string, std::string>,
                           std::pair<boost::system::error_code, std::vector<tcp::endpoint>>>;
  struct Batch {
    Answers answers;
    size_t pending = 0;
    std::vector<std::unique_ptr<tcp::resolver>> resolvers;
  };
  auto batch = std::make_shared<Batch>();
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::tuple<std::string, std::string, config::HostPort>> lookups;
  for (const config::PoolConfig& pc : config->pools) {
    auto due = dns_due.find(pc.name);
    if (due == dns_due.end() || due->second > now) continue;
    due->second = now + pc.dns_refresh;
    for (const config::BackendConfig& b : pc.backends) {
      if (!IsAddress(b.address.host)) lookups.emplace_back(pc.name, b.name, b.address);
    }
  }
  if (lookups.empty()) {
    ScheduleDns();
    return;
  }
  dns_in_flight = true;
  batch->pending = lookups.size();
  for (auto& [pool, backend, address] : lookups) {
    batch->resolvers.push_back(std::make_unique<tcp::resolver>(main_io));
    batch->resolvers.back()->async_resolve(
        address.host, std::to_string(address.port),
        [this, batch, key = std::make_pair(pool, backend)](const boost::system::error_code& ec,
                                                           tcp::resolver::results_type results) {
          std::vector<tcp::endpoint> found;
          for (const auto& r : results) found.push_back(r.endpoint());
          batch->answers[key] = {ec, std::move(found)};
          if (--batch->pending > 0) return;
          dns_in_flight = false;
          if (!draining) ApplyDns(batch->answers);
          ScheduleDns();
        });
  }
}

void Server::Impl::ApplyDns(
    const std::map<std::pair<std::string, std::string>,
                   std::pair<boost::system::error_code, std::vector<tcp::endpoint>>>& answers) {
  upstream::BackendRegistry::Addresses addresses(config->pools.size());
  bool changed = false;
  std::vector<std::string> moves;     // logged once every worker has the new addresses
  std::vector<std::string> failures;  // logged once counted
  for (size_t p = 0; p < config->pools.size(); ++p) {
    const config::PoolConfig& pc = config->pools[p];
    bool pool_changed = false, pool_failed = false, pool_asked = false;
    for (size_t b = 0; b < pc.backends.size(); ++b) {
      const std::vector<tcp::endpoint>& had = backends->endpoints(p, b);
      addresses[p].push_back(had);
      auto it = answers.find({pc.name, pc.backends[b].name});
      if (it == answers.end()) continue;  // not asked, or the config changed meanwhile
      pool_asked = true;
      const auto key = it->first;
      const auto& [ec, found] = it->second;
      if (ec || found.empty()) {
        pool_failed = true;
        if (dns_failing.insert(key).second) {
          failures.push_back("pool " + pc.name + ": backend " + pc.backends[b].name +
                             " does not resolve (" + (ec ? ec.message() : "no address") +
                             "); keeping its addresses (" + Join(had) +
                             ") and asking again every " + FormatDuration(pc.dns_refresh));
        }
        continue;
      }
      if (dns_failing.erase(key) > 0)
        IG_INFO("pool %s: backend %s resolves again", pc.name.c_str(), pc.backends[b].name.c_str());
      if (Sorted(found) == Sorted(had)) continue;
      moves.push_back("pool " + pc.name + ": backend " + pc.backends[b].name + " now resolves to " +
                      Join(found) + " (was " + Join(had) + ")");
      addresses[p].back() = found;
      pool_changed = true;
    }
    if (!pool_asked) continue;
    Counted(*registry, pc.name,
            pool_changed  ? "changed"
            : pool_failed ? "failed"
                          : "unchanged")
        ->Inc();
    changed |= pool_changed;
  }
  for (const std::string& f : failures) IG_WARN("%s", f.c_str());
  if (!changed) return;
  auto next = std::make_shared<upstream::BackendRegistry>(*backends, std::move(addresses));
  auto snapshot_next = std::make_shared<exchange::Snapshot>(config, *registry, &isolation_state);
  snapshot_next->listener_slots = snapshot->listener_slots;
  snapshot_next->generation = snapshot->generation;
  health->Reconcile(config, next);
  Publish(snapshot_next, next, nullptr);
  for (const std::string& m : moves) IG_INFO("%s", m.c_str());
}

}  // namespace infergate::server
