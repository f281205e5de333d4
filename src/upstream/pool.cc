// Per-worker backend runtimes, idle connection reuse and load balancing.
#include "infergate/upstream/pool.h"

#include <algorithm>

#include "infergate/core/log.h"

namespace infergate::upstream {
namespace {

bool Excluded(std::span<const size_t> exclude, size_t i) {
  return std::find(exclude.begin(), exclude.end(), i) != exclude.end();
}

std::vector<tcp::endpoint> Resolve(const config::HostPort& hp) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(hp.host, ec);
  if (!ec) return {tcp::endpoint(addr, hp.port)};
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
  std::vector<tcp::endpoint> out;
  if (ec) return out;
  for (const auto& r : results) out.push_back(r.endpoint());
  return out;
}

}  // namespace

PoolRuntime::PoolRuntime(const config::PoolConfig& config, std::vector<BackendRuntime> backends)
    : config_(&config), backends_(std::move(backends)) {}

int PoolRuntime::Pick(Rng& rng, std::span<const size_t> exclude) {
  const size_t n = backends_.size();
  if (n == 0) return -1;
  switch (config_->load_balancing) {
    case config::LoadBalancing::kRoundRobin: {
      for (size_t k = 0; k < n; ++k) {
        size_t i = (rr_next_++) % n;
        if (!Excluded(exclude, i)) return static_cast<int>(i);
      }
      return -1;
    }
    case config::LoadBalancing::kWeightedRoundRobin: {
      // Smooth weighted round robin: every candidate gains its weight, the richest is chosen and
      // pays the total. Spreads picks evenly within each cycle.
      int64_t total = 0;
      int best = -1;
      for (size_t i = 0; i < n; ++i) {
        if (Excluded(exclude, i)) continue;
        auto& b = backends_[i];
        b.current_weight += b.config->weight;
        total += b.config->weight;
        if (best < 0 || b.current_weight > backends_[best].current_weight)
          best = static_cast<int>(i);
      }
      if (best >= 0) backends_[best].current_weight -= total;
      return best;
    }
    case config::LoadBalancing::kLeastRequest: {
      // Power of two choices on in-flight requests, weighted (in_flight / weight).
      thread_local std::vector<size_t> candidates;
      candidates.clear();
      for (size_t i = 0; i < n; ++i) {
        if (!Excluded(exclude, i)) candidates.push_back(i);
      }
      const size_t m = candidates.size();
      if (m == 0) return -1;
      if (m == 1) return static_cast<int>(candidates[0]);
      size_t x = rng.Below(m);
      size_t y = rng.Below(m - 1);
      if (y >= x) ++y;
      const size_t a = candidates[x], b = candidates[y];
      const auto& ba = backends_[a];
      const auto& bb = backends_[b];
      uint64_t la = static_cast<uint64_t>(ba.in_flight) * bb.config->weight;
      uint64_t lb = static_cast<uint64_t>(bb.in_flight) * ba.config->weight;
      if (la == lb) return static_cast<int>(ba.config->weight >= bb.config->weight ? a : b);
      return static_cast<int>(la < lb ? a : b);
    }
  }
  return -1;
}

std::unique_ptr<UpstreamConnection> PoolRuntime::TakeIdle(size_t backend) {
  auto& idle = backends_[backend].idle;
  if (idle.empty()) return nullptr;
  auto conn = std::move(idle.back());
  idle.pop_back();
  return conn;
}

void PoolRuntime::ReturnIdle(std::unique_ptr<UpstreamConnection> conn) {
  auto& idle = backends_[conn->backend].idle;
  if (idle.size() >= config_->max_idle_connections) return;  // closed by the destructor
  conn->begin = conn->end = 0;
  idle.push_back(std::move(conn));
}

UpstreamSet::UpstreamSet(const config::Config& config, asio::any_io_executor) {
  pools_.reserve(config.pools.size());
  for (const auto& pc : config.pools) {
    std::vector<BackendRuntime> backends;
    for (const auto& bc : pc.backends) {
      BackendRuntime b;
      b.config = &bc;
      b.endpoints = Resolve(bc.address);
      if (b.endpoints.empty()) {
        IG_ERROR("pool %s: cannot resolve backend %s; it will be treated as down", pc.name.c_str(),
                 bc.url.c_str());
      }
      b.host_header = bc.address.host.find(':') != std::string::npos
                          ? "[" + bc.address.host + "]:" + std::to_string(bc.address.port)
                          : bc.address.host + ":" + std::to_string(bc.address.port);
      backends.push_back(std::move(b));
    }
    pools_.emplace_back(pc, std::move(backends));
  }
}

}  // namespace infergate::upstream
