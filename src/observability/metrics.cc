// Sharded Prometheus counters, gauges and histograms, and their text exposition.
#include "infergate/observability/metrics.h"

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>

namespace infergate::observability {
namespace {
thread_local int t_shard = 0;
enum Type { kCounter = 0, kGauge = 1, kHistogram = 2 };

void AppendDouble(std::string& out, double v, const char* format = "%.9g") {
  char buf[40];
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  int n = std::snprintf(buf, sizeof(buf), format, v);
  out.append(buf, static_cast<size_t>(n));
}
}  // namespace

void SetThreadShard(int shard) { t_shard = shard; }
int ThreadShard() { return t_shard; }

Counter::Counter(int shards) : slots_(new Slot[shards]), shards_(shards) {}
uint64_t Counter::Value() const {
  uint64_t total = 0;
  for (int i = 0; i < shards_; ++i) total += slots_[i].v.load(std::memory_order_relaxed);
  return total;
}

Gauge::Gauge(int shards) : slots_(new Slot[shards]), shards_(shards) {}
int64_t Gauge::Value() const {
  int64_t total = 0;
  for (int i = 0; i < shards_; ++i) total += slots_[i].v.load(std::memory_order_relaxed);
  return total;
}

Histogram::Histogram(int shards, std::vector<double> bounds)
    : bounds_(std::move(bounds)), stride_(((bounds_.size() + 1 + 7) / 8) * 8), shards_(shards) {
  buckets_.reset(new std::atomic<uint64_t>[stride_ * shards]);
  sum_micros_.reset(new std::atomic<uint64_t>[8 * shards]);
  for (size_t i = 0; i < stride_ * shards; ++i) buckets_[i].store(0);
  for (int i = 0; i < 8 * shards; ++i) sum_micros_[i].store(0);
}

void Histogram::Observe(double seconds) {
  size_t b = 0;
  while (b < bounds_.size() && seconds > bounds_[b]) ++b;
  size_t base = stride_ * static_cast<size_t>(ThreadShard());
  buckets_[base + b].fetch_add(1, std::memory_order_relaxed);
  const double micros = std::round(seconds * 1e6);  // 0.03 s is 30000 us, not 29999
  sum_micros_[8 * ThreadShard()].fetch_add(micros > 0 ? static_cast<uint64_t>(micros) : 0,
                                           std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.cumulative.assign(bounds_.size() + 1, 0);
  uint64_t sum_us = 0;
  for (int sh = 0; sh < shards_; ++sh) {
    for (size_t b = 0; b <= bounds_.size(); ++b) {
      s.cumulative[b] += buckets_[stride_ * sh + b].load(std::memory_order_relaxed);
    }
    sum_us += sum_micros_[8 * sh].load(std::memory_order_relaxed);
  }
  for (size_t b = 1; b < s.cumulative.size(); ++b) s.cumulative[b] += s.cumulative[b - 1];
  s.count = s.cumulative.back();
  s.sum = static_cast<double>(sum_us) / 1e6;
  return s;
}

struct Registry::Series {
  std::string labels;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> read;  // a callback series (counter or gauge family)
};

struct Registry::Family {
  std::string name;
  std::string help;
  int type;
  std::vector<std::unique_ptr<Series>> series;
  Series* Find(std::string_view labels) {
    for (auto& s : series) {
      if (s->labels == labels) return s.get();
    }
    return nullptr;
  }
};

Registry::Registry(int shards) : shards_(shards) {}
Registry::~Registry() = default;

Registry::Family& Registry::FamilyFor(std::string_view name, std::string_view help, int type) {
  for (auto& f : families_) {
    if (f->name == name) return *f;
  }
  auto f = std::make_unique<Family>();
  f->name = std::string(name);
  f->help = std::string(help);
  f->type = type;
  families_.push_back(std::move(f));
  return *families_.back();
}

template <typename T, typename Make>
T* Registry::GetSeries(std::string_view name, std::string_view help, std::string_view labels,
                       int type, std::unique_ptr<T> Series::*member, Make make) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, type);
  if (Series* s = f.Find(labels)) return (s->*member).get();
  auto s = std::make_unique<Series>();
  s->labels = std::string(labels);
  (*s).*member = make();
  f.series.push_back(std::move(s));
  return (f.series.back().get()->*member).get();
}

Counter* Registry::GetCounter(std::string_view name, std::string_view help,
                              std::string_view labels) {
  return GetSeries(name, help, labels, kCounter, &Series::counter,
                   [this] { return std::make_unique<Counter>(shards_); });
}

Gauge* Registry::GetGauge(std::string_view name, std::string_view help, std::string_view labels) {
  return GetSeries(name, help, labels, kGauge, &Series::gauge,
                   [this] { return std::make_unique<Gauge>(shards_); });
}

Histogram* Registry::GetHistogram(std::string_view name, std::string_view help,
                                  std::string_view labels) {
  return GetHistogram(name, help, labels, LatencyBounds());
}

Histogram* Registry::GetHistogram(std::string_view name, std::string_view help,
                                  std::string_view labels, const std::vector<double>& bounds) {
  return GetSeries(name, help, labels, kHistogram, &Series::histogram,
                   [this, &bounds] { return std::make_unique<Histogram>(shards_, bounds); });
}

void Registry::SetCallback(std::string_view name, std::string_view help, CallbackType type,
                           std::string_view labels, std::function<double()> read) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, type == CallbackType::kCounter ? kCounter : kGauge);
  Series* s = f.Find(labels);
  if (s == nullptr) {
    auto made = std::make_unique<Series>();
    made->labels = std::string(labels);
    s = made.get();
    f.series.push_back(std::move(made));
  }
  s->read = std::move(read);
}

void Registry::RemoveCallback(std::string_view name, std::string_view labels) {
  std::lock_guard lock(mu_);
  for (auto& f : families_) {
    if (f->name != name) continue;
    std::erase_if(f->series, [labels](const std::unique_ptr<Series>& s) {
      return s->read && s->labels == labels;
    });
  }
}

const std::vector<double>& Registry::LatencyBounds() {
  static const std::vector<double> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  return kBounds;
}

std::string Registry::EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  static const char* kTypeNames[] = {"counter", "gauge", "histogram"};
  for (const auto& f : families_) {
    if (f->series.empty()) continue;
    out += "# HELP " + f->name + " " + f->help + "\n";
    out += "# TYPE " + f->name + " " + kTypeNames[f->type] + "\n";
    for (const auto& s : f->series) {
      std::string braces = s->labels.empty() ? "" : "{" + s->labels + "}";
      if (s->read) {
        out += f->name + braces + " ";
        AppendDouble(out, s->read(), "%.15g");
        out += "\n";
      } else if (f->type == kCounter) {
        out += f->name + braces + " " + std::to_string(s->counter->Value()) + "\n";
      } else if (f->type == kGauge) {
        out += f->name + braces + " " + std::to_string(s->gauge->Value()) + "\n";
      } else {
        auto snap = s->histogram->Read();
        const auto& bounds = s->histogram->bounds();
        std::string prefix = s->labels.empty() ? "" : s->labels + ",";
        for (size_t b = 0; b <= bounds.size(); ++b) {
          out += f->name + "_bucket{" + prefix + "le=\"";
          AppendDouble(out, b < bounds.size() ? bounds[b] : INFINITY);
          out += "\"} " + std::to_string(snap.cumulative[b]) + "\n";
        }
        out += f->name + "_sum" + braces + " ";
        AppendDouble(out, snap.sum);
        out += "\n" + f->name + "_count" + braces + " " + std::to_string(snap.count) + "\n";
      }
    }
  }
  return out;
}

}  // namespace infergate::observability
