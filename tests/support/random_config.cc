// Random configs, requests and answer checks for the randomized integration test. Every config
// generated here must pass `infergate --check-config`; the test fails otherwise, as a bug of this
// generator.
#include "support/random_config.h"

#include <algorithm>
#include <regex>
#include <utility>

#include "support/json.h"
#include "support/openai_sdk.h"

namespace infergate::testing {

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::Below(uint64_t bound) { return Next() % bound; }

int SplitMix64::Between(int lo, int hi) {
  return lo + static_cast<int>(Below(static_cast<uint64_t>(hi - lo + 1)));
}

bool SplitMix64::Chance(int percent) { return Below(100) < static_cast<uint64_t>(percent); }

const std::vector<std::string> kMockModels = {"m-a", "m-b", "m-c", "rw-a", "rw-b"};

namespace {

// API keys and their SHA-256 (printf %s KEY | sha256sum).
const std::pair<const char*, const char*> kKeys[] = {
    {"rk-0", "6439edbcef543dc08a108630220e405420f6a9e0430e4e453e1e6ecd640a8b76"},
    {"rk-1", "321b0542e7696510998b92f0078057bd74c9d65ca9539e1bb789ad11e53cf459"},
    {"rk-2", "d06dd9c295e2002c9a490f8a000bed5c8abe714bae936fbeba42831f8a8a0d83"},
    {"rk-3", "b1fb9fb2b4b3b9096283e1ee1760f94ca934f8d407e7223576a963e8da47ecc5"},
    {"rk-4", "77735c8d81a7e54195e4926c70f9893b726f87d504c196c6501b3c862b489844"},
    {"rk-5", "0238fecc193c40f93f39eb291f9d750731143df8ba9a839b7b833bbabf2f5da5"},
};

const std::vector<std::string> kStaticTexts = {
    "busy", "The model is \"busy\"; retry\nsoon.", "übersetzt – later",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"};

// A YAML double-quoted scalar.
std::string Q(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Ms(int ms) { return Q(std::to_string(ms) + "ms"); }

// `k` distinct items of `items` (k <= size), in random order.
std::vector<std::string> PickDistinct(SplitMix64& rng, std::vector<std::string> items, size_t k) {
  for (size_t i = 0; i + 1 < items.size(); ++i) {
    std::swap(items[i], items[i + rng.Below(items.size() - i)]);
  }
  items.resize(std::min(k, items.size()));
  return items;
}

// Joins "key: value" fields into a flow mapping.
std::string Flow(const std::vector<std::string>& fields) {
  std::string out = "{";
  for (size_t i = 0; i < fields.size(); ++i) out += (i ? ", " : "") + fields[i];
  return out + "}";
}

std::string FlowList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + "]";
}

struct Compartment {
  std::string name;
  bool threads = false;
};

struct Pool {
  std::string name;
  bool load_report = false;
};

std::string CompartmentYaml(SplitMix64& rng, const Compartment& c) {
  std::vector<std::string> f = {"name: " + Q(c.name)};
  if (rng.Chance(80)) f.push_back("max_concurrent: " + std::to_string(rng.Between(1, 6)));
  if (rng.Chance(50)) f.push_back("max_queue: " + std::to_string(rng.Between(0, 4)));
  // Always a short wait: a fallback whose compartment the exchange already holds waits for it.
  f.push_back("max_wait: " + Ms(rng.Between(10, 200)));
  if (rng.Chance(60))
    f.push_back(std::string("on_full: ") + (rng.Chance(50) ? "reject" : "degrade"));
  if (rng.Chance(20)) f.push_back("retry_after: " + Q(std::to_string(rng.Between(1, 3)) + "s"));
  if (c.threads) {
    f.push_back("thread_pool: {threads: " + std::to_string(rng.Between(1, 2)) +
                ", queue: " + std::to_string(rng.Between(0, 4)) + "}");
  }
  return "  - " + Flow(f) + "\n";
}

std::string BackendsYaml(SplitMix64& rng, bool live, const RandomTopology& t) {
  std::vector<std::string> items =
      PickDistinct(rng, live ? t.live : t.dead, rng.Chance(60) ? 1 : 2);
  std::vector<std::string> priorities(items.size(), "0");
  if (live && rng.Chance(25)) {  // a dead backend among live ones
    items.push_back(rng.Pick(t.dead));
    priorities.push_back(rng.Chance(50) ? "0" : "1");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string url = Q("http://" + items[i]);
    if (rng.Chance(40)) {
      out.push_back(url);
    } else {
      out.push_back(Flow({"url: " + url, "weight: " + std::to_string(rng.Between(1, 5)),
                          "priority: " + priorities[i]}));
    }
  }
  return FlowList(out);
}

std::string RandomPoolYaml(SplitMix64& rng, Pool& p, bool live, const RandomTopology& t) {
  std::vector<std::string> f = {"name: " + Q(p.name), "backends: " + BackendsYaml(rng, live, t)};
  p.load_report = rng.Chance(30);
  if (p.load_report) {
    const int format = rng.Between(0, 2);
    f.push_back(format == 0 ? "load_report: {format: vllm, interval: \"100ms\", timeout: \"50ms\"}"
                : format == 1 ? "load_report: {format: tgi, interval: \"100ms\", timeout: \"50ms\"}"
                              : "load_report: {format: gauge, queue_gauge: "
                                "\"vllm:num_requests_waiting\", interval: \"100ms\", "
                                "timeout: \"50ms\"}");
  }
  std::vector<std::string> lbs = {"round_robin", "weighted_round_robin", "least_request"};
  if (p.load_report) lbs.push_back("least_queue");
  if (rng.Chance(70)) f.push_back("load_balancing: " + rng.Pick(lbs));
  if (rng.Chance(50)) f.push_back("connect_timeout: " + Ms(rng.Between(50, 300)));
  if (rng.Chance(30)) f.push_back("max_idle_connections: " + std::to_string(rng.Between(0, 4)));
  if (const int h = rng.Between(0, 9); h < 3) {
    f.push_back("health_check: false");
  } else if (h < 7) {
    f.push_back("health_check: {interval: " + Ms(rng.Between(30, 200)) + ", timeout: " + Ms(100) +
                ", unhealthy_threshold: " + std::to_string(rng.Between(1, 3)) +
                ", healthy_threshold: " + std::to_string(rng.Between(1, 2)) + "}");
  }
  if (const int d = rng.Between(0, 9); d < 2) {
    f.push_back("failure_detector: false");
  } else if (d < 3) {
    f.push_back("failure_detector: {threshold: " + std::to_string(rng.Between(4, 12)) + "}");
  }
  if (const int b = rng.Between(0, 19); b < 5) {
    f.push_back("circuit_breaker: false");
  } else if (b < 12) {
    f.push_back("circuit_breaker: {window_size: " + std::to_string(rng.Between(5, 20)) +
                ", minimum_calls: " + std::to_string(rng.Between(2, 10)) +
                ", open_duration: " + Ms(rng.Between(200, 800)) +
                ", half_open_permits: " + std::to_string(rng.Between(1, 3)) + "}");
  }
  if (const int o = rng.Between(0, 19); o < 5) {
    f.push_back("outlier_ejection: false");
  } else if (o < 12) {
    f.push_back("outlier_ejection: {consecutive_failures: " + std::to_string(rng.Between(1, 5)) +
                ", base_ejection_time: " + Ms(rng.Between(200, 800)) +
                ", max_ejection_percent: " + std::to_string(rng.Between(0, 100)) + "}");
  }
  if (rng.Chance(30)) f.push_back("panic_threshold: " + std::to_string(rng.Between(0, 100)));
  if (rng.Chance(15)) f.push_back("overprovisioning_factor: " + std::to_string(rng.Between(1, 3)));
  if (rng.Chance(30)) {
    f.push_back("retry_budget: {budget_percent: " + std::to_string(rng.Between(0, 100)) +
                ", min_retry_concurrency: " + std::to_string(rng.Between(0, 3)) + "}");
  }
  if (rng.Chance(20)) {
    f.push_back(rng.Chance(50) ? "affinity: {header: x-session-id}" : "affinity: {body: user}");
  }
  if (rng.Chance(20)) {
    const int min = rng.Between(1, 4);
    f.push_back("adaptive_concurrency: {initial_limit: " + std::to_string(rng.Between(min, 10)) +
                ", min_limit: " + std::to_string(min) +
                ", max_limit: 16, sample_window: " + Ms(50) + "}");
  }
  if (rng.Chance(15)) f.push_back("slow_start: {window: " + Ms(rng.Between(100, 500)) + "}");
  return "  - " + Flow(f) + "\n";
}

std::string MatchYaml(SplitMix64& rng) {
  std::vector<std::string> f;
  switch (rng.Between(0, 4)) {
    case 1:
    case 2:
      f.push_back("path_prefix: \"/v1/\"");
      break;
    case 3:
      f.push_back("path: \"/v1/chat/completions\"");
      break;
    case 4:
      f.push_back("path: \"/v1/completions\"");
      break;
    default:
      break;
  }
  if (rng.Chance(25)) f.push_back(rng.Chance(50) ? "methods: [POST]" : "methods: POST");
  if (rng.Chance(45)) {
    static const std::vector<std::string> kGlobs = {"[\"m-a\"]", "\"m-*\"", "[\"m-?\", \"rw-*\"]",
                                                    "[\"m-a\", \"m-b\"]", "\"*\""};
    f.push_back("model: " + rng.Pick(kGlobs));
  }
  if (rng.Chance(20)) {
    static const std::vector<std::string> kHeaders = {
        "{x-team: research}", "{x-team: {present: true}}", "{x-debug: {absent: true}}",
        "{x-client: {regex: \"(web|cli)/[0-9.]+\"}}", "{x-team: {exact: research}}"};
    f.push_back("headers: " + rng.Pick(kHeaders));
  }
  if (rng.Chance(10)) {
    f.push_back(rng.Chance(50) ? "host: \"*.example.test\"" : "host: \"api.example.test\"");
  }
  return f.empty() ? "" : "match: " + Flow(f);
}

std::string RouteYaml(SplitMix64& rng, int index, bool catch_all, const std::vector<Pool>& pools,
                      const std::vector<bool>& pool_live, const std::vector<Compartment>& comps,
                      const std::vector<std::string>& runners) {
  std::vector<std::string> f = {"name: " + Q("r" + std::to_string(index))};
  if (std::string m = MatchYaml(rng); !m.empty() && !catch_all) f.push_back(m);
  std::vector<std::string> names;
  for (const auto& p : pools) names.push_back(p.name);
  std::vector<std::string> to = PickDistinct(rng, names, rng.Chance(70) ? 1 : rng.Between(2, 3));
  if (to.size() == 1 && rng.Chance(70)) {
    f.push_back("to: " + Q(to[0]));
  } else {
    std::vector<std::string> items;
    for (const auto& p : to) {
      items.push_back(rng.Chance(20) ? Flow({"pool: " + Q(p)})
                                     : Flow({"pool: " + Q(p),
                                             "weight: " + std::to_string(rng.Between(1, 100))}));
    }
    f.push_back("to: " + FlowList(items));
  }
  static const std::vector<std::string> kRewrites = {"rw-a", "rw-b", "m-a", "rw-missing"};
  if (rng.Chance(25)) f.push_back("rewrite_model: " + Q(rng.Pick(kRewrites)));
  // Always a short first-byte timeout: a hung backend must not stall the test.
  f.push_back("timeouts: {first_byte: " + Ms(rng.Between(200, 600)) +
              ", idle: " + Ms(rng.Between(400, 800)) +
              ", total: " + (rng.Chance(70) ? Q("0s") : Ms(rng.Between(4000, 6000))) + "}");
  if (rng.Chance(80))
    f.push_back("retries: " + std::to_string(rng.Chance(90) ? rng.Between(0, 3) : 5));
  if (rng.Chance(50)) {
    std::vector<std::string> r = {"backoff_base: " + Ms(1),
                                  "backoff_max: " + Ms(rng.Between(1, 20))};
    if (const int s = rng.Between(0, 3); s == 1) {
      r.push_back("on_status: []");
    } else if (s == 2) {
      r.push_back("on_status: [500, 502, 503]");
    } else if (s == 3) {
      r.push_back("on_status: 503");
    }
    if (rng.Chance(30)) r.push_back("per_try_timeout: " + Ms(rng.Between(100, 300)));
    if (rng.Chance(30)) r.push_back("max_retry_after: " + Q(rng.Chance(50) ? "0s" : "1s"));
    f.push_back("retry: " + Flow(r));
  }
  std::vector<std::string> comp_names;
  for (const auto& c : comps) comp_names.push_back(c.name);
  // A deep route walks a long chain of pool fallbacks, each with its own compartment, on top
  // of the route's and the tenant's: the shape that takes the most slots in one exchange.
  const bool deep = rng.Chance(30);
  if (!comps.empty() && rng.Chance(deep ? 90 : 50)) {
    f.push_back("compartment: " + Q(rng.Pick(comp_names)));
  }

  std::vector<std::string> fallbacks;
  std::vector<std::string> unused_runners = PickDistinct(rng, runners, runners.size());
  bool has_static = false;
  const int n = deep ? rng.Between(3, 4) : rng.Between(0, 4);
  for (int i = 0; i < n; ++i) {
    const int kind = deep ? rng.Between(0, 60) : rng.Between(0, 99);
    if (kind >= 75 && !has_static) {
      has_static = true;
      std::vector<std::string> s = {"static: " + Q(rng.Pick(kStaticTexts))};
      if (rng.Chance(30)) s.push_back("model: \"static-model\"");
      fallbacks.push_back(Flow(s));
    } else if (kind >= 55 && !unused_runners.empty()) {
      fallbacks.push_back(Flow({"runner: " + Q(unused_runners.back())}));
      unused_runners.pop_back();
    } else {
      // Dead pools are favoured so that chains are walked far.
      size_t p = rng.Below(pools.size());
      for (int tries = 0; tries < 2 && pool_live[p] && rng.Chance(50); ++tries) {
        p = rng.Below(pools.size());
      }
      std::vector<std::string> pf = {"pool: " + Q(pools[p].name)};
      if (rng.Chance(40)) pf.push_back("rewrite_model: " + Q(rng.Pick(kRewrites)));
      if (!comps.empty() && rng.Chance(deep ? 85 : 50)) {
        pf.push_back("compartment: " + Q(rng.Pick(comp_names)));
      }
      fallbacks.push_back(Flow(pf));
    }
  }
  if (fallbacks.empty()) return "  - " + Flow(f) + "\n";
  f.push_back("fallbacks: " + FlowList(fallbacks));
  if (rng.Chance(65)) {
    std::vector<std::string> d;
    bool all_report = true;
    for (const auto& p : to) {
      for (const auto& pool : pools) all_report &= pool.name != p || pool.load_report;
    }
    const bool saturation = all_report && rng.Chance(50);
    if (saturation) {
      d.push_back(rng.Chance(50)
                      ? "saturation: {queue_above: " + std::to_string(rng.Between(0, 20)) + "}"
                      : "saturation: {queue_above: 4, kv_cache_above: 0.9}");
    }
    const bool predicted = rng.Chance(25);
    if (predicted) d.push_back("max_predicted_wait: " + Ms(rng.Between(50, 500)));
    if (rng.Chance(60)) d.push_back("recover_after: " + Ms(rng.Between(0, 300)));
    if (rng.Chance(35)) {
      std::vector<std::string> triggers = {"no_backend", "compartment_full", "concurrency_limit",
                                           "retries_exhausted", "first_byte_timeout"};
      if (saturation) triggers.push_back("saturation");
      if (predicted) triggers.push_back("predicted_wait");
      d.push_back("on: " + FlowList(PickDistinct(rng, triggers, rng.Between(1, 3))));
    }
    if (!d.empty()) f.push_back("degrade: " + Flow(d));
  }
  return "  - " + Flow(f) + "\n";
}

}  // namespace

GeneratedConfig GenerateConfig(SplitMix64& rng, const RandomTopology& topology) {
  GeneratedConfig out;
  std::string y;

  std::vector<Compartment> comps(rng.Between(0, 6));
  for (size_t i = 0; i < comps.size(); ++i) {
    comps[i].name = "c" + std::to_string(i);
    comps[i].threads = rng.Chance(35);
  }
  std::vector<std::string> runners(rng.Between(0, 2));
  std::vector<std::string> threaded;
  for (const auto& c : comps) {
    if (c.threads) threaded.push_back(c.name);
  }
  if (!runners.empty() && threaded.empty()) {
    comps.push_back({"cpu", true});
    threaded.push_back("cpu");
  }
  if (!comps.empty()) {
    y += "compartments:\n";
    for (const auto& c : comps) y += CompartmentYaml(rng, c);
  }
  if (!runners.empty()) {
    y += "runners:\n";
    for (size_t i = 0; i < runners.size(); ++i) {
      runners[i] = "run" + std::to_string(i);
      std::vector<std::string> f = {"name: " + Q(runners[i]),
                                    "compartment: " + Q(rng.Pick(threaded))};
      if (rng.Chance(60)) f.push_back("tokens: " + std::to_string(rng.Between(1, 8)));
      if (rng.Chance(60)) f.push_back("token_cost: " + Q(rng.Chance(50) ? "0s" : "200us"));
      if (rng.Chance(30)) f.push_back("model: \"runner-model\"");
      if (rng.Chance(20)) f.push_back("kind: synthetic");
      y += "  - " + Flow(f) + "\n";
    }
  }

  static const std::vector<std::string> kTierNames = {"gold", "silver", "bronze"};
  const int tiers = rng.Between(0, 3);
  if (tiers > 0) {
    y += "tiers:\n";
    for (int i = 0; i < tiers; ++i) {
      std::vector<std::string> f = {"name: " + Q(kTierNames[i])};
      if (i > 0 && rng.Chance(50))
        f.push_back("reserve_percent: " + std::to_string(rng.Between(0, 60)));
      y += "  - " + Flow(f) + "\n";
    }
  }
  std::vector<std::string> keys;
  for (const auto& k : kKeys) keys.push_back(k.first);
  keys = PickDistinct(rng, keys, keys.size());
  const int tenants = rng.Between(0, 3);
  bool any_key = false;
  if (tenants > 0) {
    y += "tenants:\n";
    for (int i = 0; i < tenants; ++i) {
      const std::string name = "t" + std::to_string(i);
      out.tenant_names.push_back(name);
      std::vector<std::string> f = {"name: " + Q(name)};
      const int nkeys = rng.Chance(15) ? 0 : rng.Between(1, 2);
      std::vector<std::string> hashes;
      for (int k = 0; k < nkeys && !keys.empty(); ++k) {
        for (const auto& [key, hash] : kKeys) {
          if (keys.back() == key) hashes.push_back(Q(hash));
        }
        out.tenant_keys.push_back(keys.back());
        keys.pop_back();
      }
      if (hashes.size() == 1 && rng.Chance(30)) {
        f.push_back("api_keys_sha256: " + hashes[0]);
      } else if (!hashes.empty()) {
        f.push_back("api_keys_sha256: " + FlowList(hashes));
      }
      any_key |= !hashes.empty();
      if (tiers > 1 || (tiers == 1 && rng.Chance(60))) {
        f.push_back("tier: " + Q(kTierNames[rng.Below(tiers)]));
      }
      if (!comps.empty() && rng.Chance(60)) f.push_back("compartment: " + Q(rng.Pick(comps).name));
      y += "  - " + Flow(f) + "\n";
    }
    std::vector<std::string> id;
    if (rng.Chance(40)) {
      out.tenant_header = "x-tenant";
      id.push_back("header: x-tenant");
    }
    if (tiers > 0 && rng.Chance(50))
      id.push_back("anonymous_tier: " + Q(kTierNames[rng.Below(tiers)]));
    if (!id.empty()) y += "tenant_identification: " + Flow(id) + "\n";
  }
  out.require_api_key = any_key && rng.Chance(30);

  std::vector<Pool> pools(rng.Between(2, 5));
  std::vector<bool> live(pools.size());
  y += "pools:\n";
  for (size_t i = 0; i < pools.size(); ++i) {
    pools[i].name = "p" + std::to_string(i);
    live[i] = rng.Chance(60);
    y += RandomPoolYaml(rng, pools[i], live[i], topology);
  }
  y += "routes:\n";
  const int routes = rng.Between(1, 4);
  for (int i = 0; i < routes; ++i) {
    // A catch-all last route now and then, so that fewer requests end in route_not_found.
    const bool catch_all = i == routes - 1 && rng.Chance(40);
    y += RouteYaml(rng, i, catch_all, pools, live, comps, runners);
  }

  std::vector<std::string> listener = {"name: public", "listen: \"127.0.0.1:0\""};
  if (out.require_api_key) listener.push_back("require_api_key: true");
  if (rng.Chance(20)) listener.push_back("max_request_body_bytes: " + Q("64KiB"));
  if (rng.Chance(20)) listener.push_back("keepalive_timeout: " + Q("2s"));
  out.yaml = "listeners:\n  - " + Flow(listener) + "\nadmin: {listen: \"127.0.0.1:0\"}\n" + y;
  return out;
}

RandomRequest GenerateRequest(SplitMix64& rng, const GeneratedConfig& config) {
  static const std::vector<std::string> kModels = {"m-a", "m-b", "m-c", "rw-a", "m-zz", "gpt-4o"};
  RandomRequest req;
  req.method = "POST";
  req.stream = rng.Chance(40);
  const std::string model = rng.Pick(kModels);
  std::string stream_fields;
  if (req.stream) {
    stream_fields = ",\"stream\":true";
    if (rng.Chance(30)) stream_fields += ",\"stream_options\":{\"include_usage\":true}";
  }
  if (rng.Chance(15)) stream_fields += ",\"user\":\"u" + std::to_string(rng.Between(0, 3)) + "\"";
  const std::string chat_body = "{\"model\":\"" + model +
                                "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" +
                                stream_fields + "}";
  const int kind = rng.Between(0, 99);
  if (kind < 55) {
    req.path = "/v1/chat/completions";
    req.body = chat_body;
  } else if (kind < 75) {
    req.path = "/v1/completions";
    req.body = "{\"model\":\"" + model + "\",\"prompt\":\"hi\"" + stream_fields + "}";
  } else if (kind < 82) {
    req.method = "GET";
    req.path = "/v1/models";
    req.stream = false;
  } else if (kind < 87) {
    req.path = rng.Chance(50) ? "/v1/embeddings" : "/other/path";
    req.body = chat_body;
  } else if (kind < 95) {
    static const std::vector<std::string> kBad = {
        "not json", "{\"messages\":[]}", "{\"model\":\"m-a\",\"model\":\"m-b\"}", "[1,2]", ""};
    req.path = "/v1/chat/completions";
    req.body = rng.Pick(kBad);
    req.stream = false;
  } else {
    req.method = "DELETE";
    req.path = "/v1/chat/completions";
    req.stream = false;
  }
  if (!req.body.empty()) req.headers.push_back({"Content-Type", "application/json"});
  if (!config.tenant_keys.empty() && rng.Chance(65)) {
    req.headers.push_back({"Authorization", "Bearer " + rng.Pick(config.tenant_keys)});
  } else if (rng.Chance(15)) {
    req.headers.push_back({"Authorization", "Bearer not-a-key"});
  }
  if (!config.tenant_header.empty() && rng.Chance(40)) {
    req.headers.push_back({config.tenant_header,
                           rng.Chance(80) ? rng.Pick(config.tenant_names) : std::string("nobody")});
  }
  if (rng.Chance(15)) req.headers.push_back({"x-team", "research"});
  if (rng.Chance(10)) req.headers.push_back({"x-client", rng.Chance(50) ? "web/1.2" : "bad"});
  if (rng.Chance(10)) req.headers.push_back({"x-debug", "1"});
  if (rng.Chance(10)) req.headers.push_back({"Host", "api.example.test"});
  if (rng.Chance(20))
    req.headers.push_back({"x-session-id", "s" + std::to_string(rng.Between(0, 5))});
  if (rng.Chance(20)) req.headers.push_back({"x-mock-tokens", std::to_string(rng.Between(1, 12))});
  if (rng.Chance(30)) {
    req.fault = true;
    const int f = rng.Between(0, 99);
    if (f < 35) {
      static const std::vector<std::string> kStatuses = {"500", "502", "503", "429", "400", "404"};
      req.headers.push_back({"x-mock-status", rng.Pick(kStatuses)});
    } else if (f < 50) {
      req.headers.push_back({"x-mock-ttft-ms", "800"});  // past every first_byte timeout
    } else if (f < 70) {
      req.headers.push_back({"x-mock-close-after-tokens", std::to_string(rng.Between(0, 2))});
    } else if (f < 85) {
      req.headers.push_back({"x-mock-tokens", "3"});
      req.headers.push_back({"x-mock-token-interval-ms", "900"});  // past every idle timeout
    } else if (f < 90) {
      req.headers.push_back({"x-mock-hang", "1"});
    } else {
      req.headers.push_back({"x-mock-read-delay-ms", "50"});
    }
  }
  if (rng.Chance(8)) {
    req.disconnect = true;
    req.disconnect_after_reads = rng.Between(0, 2);
  }
  return req;
}

std::string RandomRequest::Describe() const {
  std::string out = method + " " + path;
  for (const auto& [n, v] : headers) out += " | " + n + ": " + v;
  out += " | body: " + body;
  if (disconnect)
    out += " | client disconnects (mode " + std::to_string(disconnect_after_reads) + ")";
  return out;
}

std::string RandomRequest::Raw() const {
  std::string out = method + " " + path + " HTTP/1.1\r\n";
  bool has_host = false;
  for (const auto& [n, v] : headers) {
    has_host |= n == "Host";
    out += n + ": " + v + "\r\n";
  }
  if (!has_host) out += "Host: 127.0.0.1\r\n";
  return out + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

namespace {

bool IsChatPath(const std::string& path) { return path == "/v1/chat/completions"; }

// Every event is a JSON object without an error, and the last one is [DONE].
std::string CheckGenericStream(const HttpResponse& r) {
  std::vector<SseEvent> events = r.Events();
  if (events.empty() || events.back().data != "[DONE]") return "the stream does not end in [DONE]";
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const std::string& d = events[i].data;
    if (!JsonValid(d) || JsonHas(d, "/error") || !JsonHas(d, "/object")) {
      return "a stream event is not a JSON response object: " + d;
    }
  }
  return "";
}

std::string CheckErrorBody(const HttpResponse& r) {
  const std::string& b = r.body;
  if (!JsonValid(b)) return "the error body is not JSON";
  if (!JsonString(b, "/error/message")) return "error.message is not a string";
  if (!JsonString(b, "/error/type")) return "error.type is not a string";
  if (!JsonHas(b, "/error/param")) return "error.param is missing";
  if (!JsonHas(b, "/error/code")) return "error.code is missing";
  return "";
}

}  // namespace

std::string CheckAnswer(const RandomRequest& req, const HttpResponse& r,
                        const GeneratedConfig& config) {
  if (r.status == 0) return "no response head (" + r.error + ")";
  if (r.status < 200 || r.status > 599) return "unexpected status " + std::to_string(r.status);
  const bool from_backend = r.HasHeader("x-mock-server");
  const bool sse = r.Header("content-type").starts_with("text/event-stream");
  const std::string degraded = r.Header("x-infergate-degraded");
  if (!degraded.empty()) {
    static const std::regex kDegraded(
        "(no_backend|compartment_full|concurrency_limit|retries_exhausted|first_byte_timeout|"
        "saturation|predicted_wait); served-by=[^ ;]+");
    if (!std::regex_match(degraded, kDegraded)) return "malformed x-infergate-degraded";
    // A fallback pool's backend may answer with an error of its own (e.g. an unknown model),
    // which is forwarded as it is; the gateway's own degraded answers are 200s.
    if (r.status != 200 && !from_backend)
      return "a degraded answer of the gateway that is not a 200";
  }
  if (r.status >= 300) {
    if (!r.complete) return "an error answer that is cut (" + r.error + ")";
    if (std::string why = CheckErrorBody(r); !why.empty()) return why;
    if (r.status == 401 && !from_backend && !config.require_api_key) {
      return "401 on a listener that does not require API keys";
    }
    if (!from_backend && r.Header("x-request-id").empty())
      return "a gateway error without x-request-id";
    return "";
  }
  if (sse) {
    if (!req.stream) return "an event stream answers a request that asked for none";
    if (!r.complete)
      return req.fault ? "" : "the stream is cut without an injected fault (" + r.error + ")";
    if (IsChatPath(req.path) && req.method == "POST") {
      std::string error;
      if (!ParseChatStream(r.body, &error)) return "chat stream: " + error;
      return "";
    }
    return CheckGenericStream(r);
  }
  if (!r.complete)
    return req.fault ? "" : "the body is cut without an injected fault (" + r.error + ")";
  if (!JsonValid(r.body) || JsonHas(r.body, "/error"))
    return "a 2xx body that is not a JSON result";
  if (req.method == "POST" && IsChatPath(req.path)) {
    std::string error;
    if (!ParseChatCompletion(r.body, &error)) return "chat completion: " + error;
  } else if (req.method == "POST" && req.path == "/v1/completions") {
    if (JsonString(r.body, "/object").value_or("") != "text_completion") {
      return "a completion whose object is not text_completion";
    }
  }
  return "";
}

std::string DescribeAnswer(const HttpResponse& r) {
  std::string out = "status=" + std::to_string(r.status) +
                    " complete=" + (r.complete ? "yes" : "no") +
                    " closed=" + (r.connection_closed ? "yes" : "no") + " error=" + r.error;
  for (const char* h : {"content-type", "x-mock-server", "x-infergate-degraded", "x-request-id"}) {
    if (r.HasHeader(h)) out += " | " + std::string(h) + ": " + r.Header(h);
  }
  return out + " | body: " + r.body.substr(0, 600);
}

}  // namespace infergate::testing
