// infergate-loadgen: command-line entry of the benchmark load generator (closed-loop requests,
// concurrency-1 latency, concurrent SSE streams with per-token timing, idle connections).
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "infergate/core/units.h"
#include "loadgen/loadgen.h"

namespace {

using infergate::loadgen::Histogram;
using infergate::loadgen::Mode;
using infergate::loadgen::Options;
using infergate::loadgen::Results;

constexpr const char* kUsage =
    "usage: infergate-loadgen --url http://127.0.0.1:PORT/PATH [flags]\n"
    "  --mode MODE              rps (default), latency, stream or idle\n"
    "  --url URL                http://HOST:PORT/PATH; HOST must be a literal IP\n"
    "  --connections N          concurrent connections / streams (default 64; latency: 1)\n"
    "  --duration DUR           run length; idle: how long to hold (default 5s)\n"
    "  --warmup DUR             rps/latency: time at the start that is not recorded (0s)\n"
    "  --ramp DUR               stream: spread the connection starts over DUR (0s)\n"
    "  --timeout DUR            per request or per stream (30s)\n"
    "  --setup-timeout DUR      idle: time to open all connections; the hold starts then (60s)\n"
    "  --streams-per-conn N     stream: streams per connection, 0 = loop until the end (1)\n"
    "  --expect-tokens N        stream: a complete stream carries exactly N tokens (0 = any)\n"
    "  --gap-threshold DUR      stream: count inter-token gaps above DUR (0s = off)\n"
    "  --open-concurrency N     idle: connections set up at once (64)\n"
    "  --body FILE              request body (default: a ~300-byte chat completion)\n"
    "  --model NAME             model in the default body (mock-model)\n"
    "  --stream                 ask for a streamed response in the default body\n"
    "  --header 'NAME: VALUE'   extra request header, repeatable\n"
    "  --json                   print one JSON object on stdout (the summary goes to stderr)\n"
    "  --help                   show this text\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "infergate-loadgen: %s\n%s", message.c_str(), kUsage);
  return 2;
}

bool ParseInt(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  auto v = infergate::ParseBoundedInt(text, min, max);
  if (v) *out = *v;
  return v.has_value();
}

bool ParseUrl(std::string_view url, Options* o) {
  if (!url.starts_with("http://")) return false;
  url.remove_prefix(7);
  const size_t slash = url.find('/');
  const std::string_view authority = url.substr(0, slash);
  o->path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return false;
  int64_t port = 0;
  if (!ParseInt(authority.substr(colon + 1), 1, 65535, &port)) return false;
  o->host = std::string(authority.substr(0, colon));
  o->port = static_cast<uint16_t>(port);
  return !o->host.empty();
}

void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

double Micros(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string HistogramJson(const Histogram& h) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                R"({"count":%llu,"min":%.1f,"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,)"
                R"("max":%.1f,"mean":%.1f})",
                static_cast<unsigned long long>(h.count()), Micros(h.min()),
                Micros(h.Percentile(0.5)), Micros(h.Percentile(0.9)), Micros(h.Percentile(0.99)),
                Micros(h.Percentile(0.999)), Micros(h.max()), h.mean() / 1000.0);
  return buf;
}

std::string HistogramText(const char* name, const Histogram& h) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "%-8s n=%llu p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms\n", name,
                static_cast<unsigned long long>(h.count()), Micros(h.Percentile(0.5)) / 1000,
                Micros(h.Percentile(0.9)) / 1000, Micros(h.Percentile(0.99)) / 1000,
                Micros(h.Percentile(0.999)) / 1000, Micros(h.max()) / 1000);
  return buf;
}

std::string ToJson(const Options& o, const Results& r) {
  std::ostringstream out;
  const double rate = r.elapsed_s > 0 ? static_cast<double>(r.requests) / r.elapsed_s : 0;
  out << R"({"mode":")" << r.mode << R"(","connections":)"
      << (o.mode == Mode::kLatency ? 1 : o.connections) << R"(,"elapsed_s":)" << r.elapsed_s
      << R"(,"requests":)" << r.requests << R"(,"rps":)" << rate << R"(,"errors":)" << r.errors
      << R"(,"error_kinds":{)";
  bool first = true;
  for (const auto& [kind, count] : r.error_kinds) {
    out << (first ? "" : ",") << '"' << kind << "\":" << count;
    first = false;
  }
  out << R"(},"latency_us":)" << HistogramJson(r.latency);
  if (o.mode == Mode::kStream) {
    out << R"(,"streams_started":)" << r.streams_started << R"(,"streams_completed":)"
        << r.streams_completed << R"(,"streams_cut_at_end":)" << r.streams_cut_at_end
        << R"(,"peak_open_streams":)" << r.peak_open_streams << R"(,"tokens":)" << r.tokens
        << R"(,"gaps_over_threshold":)" << r.gaps_over_threshold << R"(,"ttft_us":)"
        << HistogramJson(r.ttft) << R"(,"gap_us":)" << HistogramJson(r.gap);
  }
  if (o.mode == Mode::kIdle) {
    out << R"(,"held":)" << r.held << R"(,"closed_during_hold":)" << r.closed_during_hold
        << R"(,"setup_s":)" << r.setup_s;
  }
  out << R"(,"hard_deadline_hit":)" << (r.hard_deadline_hit ? "true" : "false") << "}\n";
  return out.str();
}

std::string ToText(const Options& o, const Results& r) {
  std::ostringstream out;
  const double rate = r.elapsed_s > 0 ? static_cast<double>(r.requests) / r.elapsed_s : 0;
  char line[256];
  std::snprintf(
      line, sizeof(line), "mode %s, %d connections, %.2fs: %llu ok, %.1f req/s, %llu errors\n",
      r.mode.c_str(), o.mode == Mode::kLatency ? 1 : o.connections, r.elapsed_s,
      static_cast<unsigned long long>(r.requests), rate, static_cast<unsigned long long>(r.errors));
  out << line;
  for (const auto& [kind, count] : r.error_kinds)
    out << "  error " << kind << ": " << count << "\n";
  if (r.latency.count() > 0) out << HistogramText("latency", r.latency);
  if (o.mode == Mode::kStream) {
    std::snprintf(line, sizeof(line),
                  "streams: %llu started, %llu complete, %llu cut at end, peak %llu open, "
                  "%llu tokens, %llu gaps over threshold\n",
                  static_cast<unsigned long long>(r.streams_started),
                  static_cast<unsigned long long>(r.streams_completed),
                  static_cast<unsigned long long>(r.streams_cut_at_end),
                  static_cast<unsigned long long>(r.peak_open_streams),
                  static_cast<unsigned long long>(r.tokens),
                  static_cast<unsigned long long>(r.gaps_over_threshold));
    out << line << HistogramText("ttft", r.ttft) << HistogramText("gap", r.gap);
  }
  if (o.mode == Mode::kIdle) {
    std::snprintf(line, sizeof(line), "idle: %llu held, %llu closed during hold, setup %.2fs\n",
                  static_cast<unsigned long long>(r.held),
                  static_cast<unsigned long long>(r.closed_during_hold), r.setup_s);
    out << line;
  }
  if (r.hard_deadline_hit) out << "warning: stopped by the outer time limit\n";
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool json = false;
  bool have_url = false;
  std::string body_file;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--json") {
      json = true;
      continue;
    }
    if (arg == "--stream") {
      o.stream = true;
      continue;
    }
    std::string_view value;
    const size_t eq = arg.find('=');
    if (arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Fail("missing value for " + std::string(arg));
    }
    int64_t n = 0;
    auto duration = [&](infergate::Duration* out) {
      auto d = infergate::ParseDuration(value);
      if (!d) return false;
      *out = *d;
      return true;
    };
    if (arg == "--mode") {
      if (value == "rps") {
        o.mode = Mode::kRps;
      } else if (value == "latency") {
        o.mode = Mode::kLatency;
      } else if (value == "stream") {
        o.mode = Mode::kStream;
      } else if (value == "idle") {
        o.mode = Mode::kIdle;
      } else {
        return Fail("bad --mode: " + std::string(value));
      }
    } else if (arg == "--url") {
      if (!ParseUrl(value, &o)) return Fail("bad --url: " + std::string(value));
      have_url = true;
    } else if (arg == "--connections") {
      if (!ParseInt(value, 1, 1000000, &n)) return Fail("bad --connections");
      o.connections = static_cast<int>(n);
    } else if (arg == "--duration") {
      if (!duration(&o.duration)) return Fail("bad --duration");
    } else if (arg == "--warmup") {
      if (!duration(&o.warmup)) return Fail("bad --warmup");
    } else if (arg == "--ramp") {
      if (!duration(&o.ramp)) return Fail("bad --ramp");
    } else if (arg == "--timeout") {
      if (!duration(&o.timeout) || o.timeout <= infergate::Duration::zero()) {
        return Fail("bad --timeout");
      }
    } else if (arg == "--setup-timeout") {
      if (!duration(&o.setup_timeout)) return Fail("bad --setup-timeout");
    } else if (arg == "--gap-threshold") {
      if (!duration(&o.gap_threshold)) return Fail("bad --gap-threshold");
    } else if (arg == "--streams-per-conn") {
      if (!ParseInt(value, 0, 1000000000, &o.streams_per_conn)) {
        return Fail("bad --streams-per-conn");
      }
    } else if (arg == "--expect-tokens") {
      if (!ParseInt(value, 0, 1000000000, &o.expect_tokens)) return Fail("bad --expect-tokens");
    } else if (arg == "--open-concurrency") {
      if (!ParseInt(value, 1, 100000, &n)) return Fail("bad --open-concurrency");
      o.open_concurrency = static_cast<int>(n);
    } else if (arg == "--body") {
      body_file = std::string(value);
    } else if (arg == "--model") {
      if (value.empty() || value.find_first_of("\"\\\r\n") != std::string_view::npos) {
        return Fail("bad --model");
      }
      o.model = std::string(value);
    } else if (arg == "--header") {
      const size_t colon = value.find(':');
      if (colon == std::string_view::npos || colon == 0 ||
          value.find_first_of("\r\n") != std::string_view::npos) {
        return Fail("bad --header (want 'name: value'): " + std::string(value));
      }
      o.headers.emplace_back(value);
    } else {
      return Fail("unknown flag " + std::string(arg));
    }
  }
  if (!have_url) return Fail("--url is required");
  if (o.warmup >= o.duration && o.mode != Mode::kIdle && o.mode != Mode::kStream) {
    return Fail("--warmup must be shorter than --duration");
  }
  if (!body_file.empty()) {
    std::ifstream in(body_file, std::ios::binary);
    if (!in) return Fail("cannot read --body " + body_file);
    std::ostringstream text;
    text << in.rdbuf();
    o.body = text.str();
    if (o.body.empty()) return Fail("empty --body " + body_file);
  }
  RaiseFileLimit();
  std::signal(SIGPIPE, SIG_IGN);
  Results results;
  try {
    results = infergate::loadgen::Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "infergate-loadgen: %s\n", e.what());
    return 1;
  }
  const std::string text = ToText(o, results);
  if (json) {
    std::fputs(text.c_str(), stderr);
    std::fputs(ToJson(o, results).c_str(), stdout);
  } else {
    std::fputs(text.c_str(), stdout);
  }
  return results.hard_deadline_hit ? 3 : 0;
}
