// infergate-loadgen runner: one Asio io_context on one thread, one coroutine per connection,
// HTTP/1.1 keep-alive, per-request and per-token timing into log-linear histograms.
#include "loadgen/loadgen.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "loadgen/response_parser.h"

namespace infergate::loadgen {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using namespace std::chrono_literals;

constexpr auto kToken = asio::as_tuple(asio::use_awaitable);
constexpr size_t kInitialBuffer = 4 * 1024;
constexpr size_t kMaxBuffer = 1 << 20;

uint64_t Nanos(Clock::duration d) {
  return static_cast<uint64_t>(
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
}

// How one attempt ended.
enum class Outcome { kOk, kReset, kParse, kTimeout, kStopped };

// One client connection: socket, read buffer, parser and the request-in-flight clock the
// watchdog looks at.
struct Conn {
  explicit Conn(const asio::any_io_executor& ex) : socket(ex), buf(kInitialBuffer) {}
  tcp::socket socket;
  std::vector<char> buf;
  size_t begin = 0;
  size_t end = 0;
  ResponseParser parser;
  Clock::time_point started;    // when the request in flight was sent
  Clock::time_point last_read;  // when the latest read completed
  bool busy = false;
  bool timed_out = false;

  void Close() {
    error_code ignored;
    socket.close(ignored);
    begin = end = 0;
  }
};

}  // namespace

std::string BuildRequest(const Options& o) {
  std::string body = o.body;
  if (body.empty()) {
    body = R"({"model":")" + o.model +
           R"(","messages":[{"role":"system","content":"You are a helpful assistant."},)"
           R"({"role":"user","content":"Summarise the benefits of a reverse proxy in front of )"
           R"(GPU inference servers in one short sentence, please."}],"max_tokens":16,)"
           R"("temperature":0.2,"user":"bench","stream":)" +
           (o.stream ? std::string("true") : std::string("false")) + "}";
  }
  std::string out = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" +
                    std::to_string(o.port) + "\r\nContent-Type: application/json\r\n";
  out += o.stream ? "Accept: text/event-stream\r\n" : "Accept: application/json\r\n";
  for (const std::string& h : o.headers) out += h + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

namespace {

class Runner {
 public:
  explicit Runner(const Options& o)
      : o_(o),
        request_(BuildRequest(o)),
        endpoint_(asio::ip::make_address(o.host), o.port),
        deadline_(io_),
        setup_timer_(io_),
        watchdog_(io_),
        signals_(io_, SIGINT, SIGTERM) {
    results_.mode = o.mode == Mode::kRps       ? "rps"
                    : o.mode == Mode::kLatency ? "latency"
                    : o.mode == Mode::kStream  ? "stream"
                                               : "idle";
  }

  Results Run() {
    start_ = Clock::now();
    warm_start_ = start_ + o_.warmup;
    const int n = o_.mode == Mode::kLatency ? 1 : o_.connections;
    conns_.assign(n, nullptr);
    signals_.async_wait([this](const error_code& ec, int) {
      if (!ec) Stop();
    });
    auto ex = io_.get_executor();
    if (o_.mode == Mode::kIdle) {
      held_.resize(n);
      // Setting up ends when every connection is open or at the setup timeout; the hold
      // (deadline_) starts then.
      setup_timer_.expires_at(start_ + o_.setup_timeout);
      setup_timer_.async_wait([this](const error_code& ec) {
        if (!ec && !stopping_ && !all_held_) AllHeld();
      });
      const int workers = std::clamp(o_.open_concurrency, 1, n);
      for (int i = 0; i < workers; ++i) Spawn(IdleOpener());
    } else {
      deadline_.expires_at(start_ + o_.duration);
      deadline_.async_wait([this](const error_code& ec) {
        if (!ec) Stop();
      });
      for (int i = 0; i < n; ++i) {
        if (o_.mode == Mode::kStream) {
          const auto delay = n > 1 ? o_.ramp * i / n : Duration::zero();
          Spawn(StreamConnection(i, delay));
        } else {
          Spawn(RequestConnection(i));
        }
      }
    }
    Spawn(Watchdog());
    // Outer bound: nothing may outlive the run's own limits by more than a few seconds.
    auto hard = start_ + o_.ramp + o_.duration + o_.timeout + 10s;
    if (o_.mode == Mode::kIdle) hard += o_.setup_timeout;
    io_.run_until(hard);
    if (!io_.stopped() && active_ > 0) {
      results_.hard_deadline_hit = true;
      io_.stop();
    }
    if (stop_time_ == Clock::time_point{}) stop_time_ = Clock::now();
    const auto window_start = o_.mode == Mode::kIdle ? start_ : warm_start_;
    results_.elapsed_s =
        std::chrono::duration<double>(stop_time_ - std::min(window_start, stop_time_)).count();
    for (const auto& [kind, count] : results_.error_kinds) results_.errors += count;
    return std::move(results_);
  }

 private:
  void Spawn(asio::awaitable<void> task) {
    ++active_;
    asio::co_spawn(io_, std::move(task), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::fprintf(stderr, "infergate-loadgen: task failed: %s\n", ex.what());
          AddError("internal");
        }
      }
      if (--active_ == 1 && !stopping_) Stop();  // only the watchdog is left
    });
  }

  void Stop() {
    if (stopping_) return;
    stopping_ = true;
    stop_time_ = Clock::now();
    error_code ignored;
    deadline_.cancel();
    setup_timer_.cancel();
    watchdog_.cancel();
    signals_.cancel(ignored);
    for (Conn* c : conns_) {
      if (c) c->socket.close(ignored);
    }
    for (auto& c : held_) {
      if (c) c->socket.close(ignored);
    }
  }

  void AddError(const std::string& kind) { ++results_.error_kinds[kind]; }

  void AddOutcomeError(Outcome outcome) {
    switch (outcome) {
      case Outcome::kReset:
        AddError("reset");
        break;
      case Outcome::kParse:
        AddError("parse");
        break;
      case Outcome::kTimeout:
        AddError("timeout");
        break;
      case Outcome::kOk:
      case Outcome::kStopped:
        break;
    }
  }

  void AddStatusError(int status) {
    AddError(status >= 500 ? "status_5xx" : status >= 400 ? "status_4xx" : "status_other");
  }

  // Periodically closes connections whose request has run past the timeout.
  asio::awaitable<void> Watchdog() {
    while (!stopping_) {
      watchdog_.expires_after(50ms);
      co_await watchdog_.async_wait(kToken);
      if (stopping_) break;
      const auto now = Clock::now();
      for (Conn* c : conns_) {
        if (c) ExpireIfLate(*c, now);
      }
      for (auto& c : held_) {
        if (c) ExpireIfLate(*c, now);
      }
    }
  }

  void ExpireIfLate(Conn& c, Clock::time_point now) {
    if (c.busy && now - c.started > o_.timeout) {
      c.timed_out = true;
      c.busy = false;
      error_code ignored;
      c.socket.close(ignored);
    }
  }

  asio::awaitable<bool> Connect(Conn& c) {
    c.begin = c.end = 0;
    c.timed_out = false;
    error_code ignored;
    c.socket.close(ignored);
    auto [ec] = co_await c.socket.async_connect(endpoint_, kToken);
    if (ec) {
      if (!stopping_) AddError("connect");
      c.Close();
      co_return false;
    }
    c.socket.set_option(tcp::no_delay(true), ignored);
    co_return true;
  }

  // Sends the request and reads one response through `sink`.
  asio::awaitable<Outcome> Exchange(Conn& c, ResponseParser::BodySink* sink) {
    c.started = Clock::now();
    c.busy = true;
    c.timed_out = false;
    auto [wec, written] = co_await asio::async_write(c.socket, asio::buffer(request_), kToken);
    if (wec) {
      c.busy = false;
      co_return stopping_ ? Outcome::kStopped : c.timed_out ? Outcome::kTimeout : Outcome::kReset;
    }
    Outcome outcome = co_await ReadResponse(c, sink);
    c.busy = false;
    co_return outcome;
  }

  asio::awaitable<Outcome> ReadResponse(Conn& c, ResponseParser::BodySink* sink) {
    c.parser.Reset();
    // Bounded by the buffer limit and, through the watchdog and Stop(), by time.
    while (true) {
      if (c.begin < c.end) {
        size_t consumed = 0;
        const std::string_view data(c.buf.data() + c.begin, c.end - c.begin);
        const auto status = c.parser.Feed(data, &consumed, sink);
        c.begin += consumed;
        if (status == ResponseParser::Status::kComplete) {
          if (c.begin == c.end) c.begin = c.end = 0;
          co_return Outcome::kOk;
        }
        if (status == ResponseParser::Status::kError) co_return Outcome::kParse;
      }
      if (c.begin == c.end) {
        c.begin = c.end = 0;
      } else if (c.end == c.buf.size()) {
        if (c.begin > 0) {
          std::memmove(c.buf.data(), c.buf.data() + c.begin, c.end - c.begin);
          c.end -= c.begin;
          c.begin = 0;
        } else if (c.buf.size() < kMaxBuffer) {
          c.buf.resize(c.buf.size() * 2);
        } else {
          co_return Outcome::kParse;
        }
      }
      auto [ec, n] = co_await c.socket.async_read_some(
          asio::buffer(c.buf.data() + c.end, c.buf.size() - c.end), kToken);
      c.last_read = Clock::now();
      if (ec == asio::error::eof && !stopping_ && !c.timed_out) {
        if (c.parser.FeedEof() == ResponseParser::Status::kComplete) co_return Outcome::kOk;
        co_return Outcome::kReset;
      }
      if (ec) {
        co_return stopping_ ? Outcome::kStopped : c.timed_out ? Outcome::kTimeout : Outcome::kReset;
      }
      c.end += n;
    }
  }

  // rps and latency modes: a closed loop of requests on one keep-alive connection.
  asio::awaitable<void> RequestConnection(int index) {
    Conn c(io_.get_executor());
    conns_[index] = &c;
    while (!stopping_) {
      if (!c.socket.is_open()) {
        const bool connected = co_await Connect(c);
        if (!connected) {
          if (stopping_) break;
          asio::steady_timer backoff(io_, 20ms);  // a refused connect must not spin
          co_await backoff.async_wait(kToken);
          continue;
        }
      }
      const Outcome outcome = co_await Exchange(c, nullptr);
      if (outcome == Outcome::kStopped) break;
      if (outcome != Outcome::kOk) {
        AddOutcomeError(outcome);
        c.Close();
        continue;
      }
      const auto now = c.last_read;
      if (c.parser.status() < 200 || c.parser.status() > 299) {
        AddStatusError(c.parser.status());
      } else if (now >= warm_start_ && !stopping_) {
        ++results_.requests;
        results_.latency.Record(Nanos(now - c.started));
      }
      if (!c.parser.keep_alive()) c.Close();
    }
    conns_[index] = nullptr;
  }

  // Times each SSE event of one streamed response.
  class StreamSink : public ResponseParser::BodySink {
   public:
    StreamSink(Runner& runner, Conn& conn) : r_(runner), c_(conn) {}
    void OnBody(std::string_view data) override {
      sse_.Feed(data, [this](std::string_view event) { OnEvent(event); });
    }
    int64_t tokens = 0;
    bool done = false;
    bool first_seen = false;

   private:
    void OnEvent(std::string_view event) {
      // Only the data lines matter; comments and other fields are skipped.
      while (!event.empty() && (event.front() == '\n' || event.front() == '\r')) {
        event.remove_prefix(1);
      }
      if (!event.starts_with("data:")) return;
      std::string_view payload = event.substr(5);
      while (!payload.empty() && payload.front() == ' ') payload.remove_prefix(1);
      if (payload.starts_with("[DONE]")) {
        done = true;
        return;
      }
      const auto now = c_.last_read;
      if (tokens == 0) {
        r_.results_.ttft.Record(Nanos(now - c_.started));
        first_seen = true;
        r_.FirstToken();
      } else {
        const auto gap = now - prev_;
        r_.results_.gap.Record(Nanos(gap));
        if (r_.o_.gap_threshold > Duration::zero() && gap > r_.o_.gap_threshold) {
          ++r_.results_.gaps_over_threshold;
        }
      }
      prev_ = now;
      ++tokens;
      ++r_.results_.tokens;
    }

    Runner& r_;
    Conn& c_;
    SseSplitter sse_;
    Clock::time_point prev_;
  };

  // Reports once on stderr that every stream of a one-stream-per-connection run is open (or
  // failed), so a caller can sample memory while they are all held.
  void FirstToken() {
    ++first_tokens_;
    MaybeReportOpen();
  }
  void MaybeReportOpen() {
    if (reported_open_ || o_.streams_per_conn != 1) return;
    if (first_tokens_ + failed_before_first_ >= static_cast<uint64_t>(o_.connections)) {
      reported_open_ = true;
      std::fprintf(stderr, "infergate-loadgen: streams open: %llu of %d\n",
                   static_cast<unsigned long long>(first_tokens_), o_.connections);
      std::fflush(stderr);
    }
  }

  asio::awaitable<void> StreamConnection(int index, Duration delay) {
    Conn c(io_.get_executor());
    conns_[index] = &c;
    if (delay > Duration::zero()) {
      asio::steady_timer wait(io_, delay);
      co_await wait.async_wait(kToken);
    }
    const int64_t limit = o_.streams_per_conn;
    for (int64_t k = 0; (limit == 0 || k < limit) && !stopping_; ++k) {
      if (!c.socket.is_open()) {
        const bool connected = co_await Connect(c);
        if (!connected) {
          if (stopping_) break;
          ++failed_before_first_;
          MaybeReportOpen();
          if (limit == 0) {
            asio::steady_timer backoff(io_, 20ms);
            co_await backoff.async_wait(kToken);
          }
          continue;
        }
      }
      ++results_.streams_started;
      ++open_streams_;
      results_.peak_open_streams = std::max(results_.peak_open_streams, open_streams_);
      StreamSink sink(*this, c);
      const Outcome outcome = co_await Exchange(c, &sink);
      --open_streams_;
      if (!sink.first_seen) ++failed_before_first_;
      if (outcome == Outcome::kStopped) {
        if (limit == 0) {
          ++results_.streams_cut_at_end;
        } else {
          AddError("unfinished");
        }
        break;
      }
      if (outcome != Outcome::kOk) {
        AddOutcomeError(outcome);
        c.Close();
      } else if (c.parser.status() < 200 || c.parser.status() > 299) {
        AddStatusError(c.parser.status());
      } else if (!sink.done || !c.parser.saw_last_chunk() ||
                 (o_.expect_tokens > 0 && sink.tokens != o_.expect_tokens)) {
        AddError("short_stream");
      } else {
        ++results_.streams_completed;
      }
      if (!sink.first_seen) MaybeReportOpen();
      if (c.socket.is_open() && !c.parser.keep_alive()) c.Close();
    }
    conns_[index] = nullptr;
  }

  // idle mode: sets up connections (one request each), then holds them open.
  asio::awaitable<void> IdleOpener() {
    const size_t n = held_.size();
    while (!stopping_ && !all_held_ && next_idle_ < n) {
      const size_t index = next_idle_++;
      auto conn = std::make_unique<Conn>(io_.get_executor());
      Conn& c = *conn;
      held_[index] = std::move(conn);
      bool ok = co_await Connect(c);
      if (ok) {
        const Outcome outcome = co_await Exchange(c, nullptr);
        if (outcome == Outcome::kStopped) break;
        if (outcome != Outcome::kOk) {
          AddOutcomeError(outcome);
          ok = false;
        } else if (c.parser.status() < 200 || c.parser.status() > 299) {
          AddStatusError(c.parser.status());
          ok = false;
        } else if (!c.parser.keep_alive()) {
          AddError("not_keep_alive");
          ok = false;
        }
      }
      if (ok) {
        ++results_.requests;
        results_.latency.Record(Nanos(c.last_read - c.started));
        ++results_.held;
        Spawn(HoldWatch(c));
      } else {
        c.Close();
      }
      if (++idle_done_ == n && !all_held_) AllHeld();
    }
  }

  void AllHeld() {
    all_held_ = true;
    results_.setup_s = std::chrono::duration<double>(Clock::now() - start_).count();
    std::fprintf(stderr, "infergate-loadgen: holding %llu of %zu connections\n",
                 static_cast<unsigned long long>(results_.held), held_.size());
    std::fflush(stderr);
    deadline_.expires_after(o_.duration);
    deadline_.async_wait([this](const error_code& ec) {
      if (!ec) Stop();
    });
  }

  // Notices a held connection that the server closes (or writes to) before the end.
  asio::awaitable<void> HoldWatch(Conn& c) {
    char byte = 0;
    co_await c.socket.async_read_some(asio::buffer(&byte, 1), kToken);
    if (!stopping_) {
      ++results_.closed_during_hold;
      --results_.held;
    }
  }

  const Options& o_;
  const std::string request_;
  asio::io_context io_{1};
  tcp::endpoint endpoint_;
  asio::steady_timer deadline_;
  asio::steady_timer setup_timer_;
  asio::steady_timer watchdog_;
  asio::signal_set signals_;
  Results results_;
  std::vector<Conn*> conns_;
  std::vector<std::unique_ptr<Conn>> held_;
  size_t next_idle_ = 0;
  size_t idle_done_ = 0;
  uint64_t active_ = 0;
  uint64_t open_streams_ = 0;
  uint64_t first_tokens_ = 0;
  uint64_t failed_before_first_ = 0;
  bool reported_open_ = false;
  bool all_held_ = false;
  bool stopping_ = false;
  Clock::time_point start_;
  Clock::time_point warm_start_;
  Clock::time_point stop_time_;
};

}  // namespace

Results Run(const Options& options) {
  Runner runner(options);
  return runner.Run();
}

}  // namespace infergate::loadgen
