// Fakes for unit-testing the exchange: a server stream that records what the exchange sends, a
// fault-injecting upstream (connect failures, resets, stalls, streams that break after N
// pieces), and a harness that runs exchanges on an io_context with a manual clock.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <deque>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "infergate/exchange/exchange.h"

namespace infergate::exchange::testing {

namespace asio = boost::asio;

// What the exchange did to the server stream, in order.
enum class Op { kHead, kBody, kEnd, kDiscard, kFlush, kReset };

class FakeServerStream final : public ServerStream {
 public:
  FakeServerStream(std::string method, std::string target, std::string body,
                   std::vector<std::pair<std::string, std::string>> headers = {})
      : method_(std::move(method)),
        target_(std::move(target)),
        body_(std::move(body)),
        header_storage_(std::move(headers)) {
    body_.reserve(body_.size() + 64);
    for (const auto& [n, v] : header_storage_) fields_.push_back({n, v});
    request_.method = method_;
    request_.scheme = "http";
    request_.authority = "gw.test";
    request_.path_and_query = target_;
    request_.path = std::string_view(target_).substr(0, target_.find('?'));
    request_.headers = fields_;
    request_.body = &body_;
    request_.had_body = !body_.empty();
  }

  const http::Request& request() const override { return request_; }
  const config::ListenerConfig& listener() const override { return listener_; }
  std::string_view client_address() const override { return "192.0.2.7"; }
  PeerGone& peer_gone() override { return peer_gone_; }
  // Counts the asks; the body is complete from the start, unless `body_error` is set.
  asio::awaitable<std::optional<Error>> ReceiveBody() override {
    ++body_asks;
    co_return body_error;
  }

  void WriteHead(const http::ResponseHead& head) override {
    ops.push_back(Op::kHead);
    status = head.status;
    headers.clear();
    for (const auto& f : head.headers) headers[std::string(f.name)] = std::string(f.value);
  }
  void WriteBody(std::string_view piece) override {
    ops.push_back(Op::kBody);
    pending.emplace_back(piece);
  }
  void WriteEnd() override {
    ops.push_back(Op::kEnd);
    ended = true;
  }
  void Discard() override {
    ops.push_back(Op::kDiscard);
    status = 0;
    pending.clear();
  }
  asio::awaitable<bool> Flush() override {
    ops.push_back(Op::kFlush);
    if (fail_flush) {
      peer_gone_.Fire();
      co_return false;
    }
    for (auto& p : pending) body += p;
    flushed_pieces += pending.size();
    pending.clear();
    co_return true;
  }
  asio::awaitable<void> Reset() override {
    ops.push_back(Op::kReset);
    for (auto& p : pending) body += p;
    pending.clear();
    reset = true;
    co_return;
  }

  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;  // flushed body bytes
  std::vector<std::string> pending;
  std::vector<Op> ops;
  size_t flushed_pieces = 0;
  bool ended = false;
  bool reset = false;
  bool fail_flush = false;
  int body_asks = 0;
  std::optional<Error> body_error;
  config::ListenerConfig listener_;

 private:
  std::string method_, target_, body_;
  std::vector<std::pair<std::string, std::string>> header_storage_;
  std::vector<HeaderField> fields_;
  http::Request request_;
  PeerGone peer_gone_;
};

// How one fake upstream attempt behaves.
struct Script {
  // kHeadThenError: the head is delivered, then Send fails (a body broken in the same read).
  enum class Kind { kAnswer, kConnectFail, kResetBeforeHead, kStallBeforeHead, kHeadThenError };
  Kind kind = Kind::kAnswer;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> pieces;  // one per Read
  int stall_at_piece = -1;          // Read number `stall_at_piece` waits until aborted
  int break_at_piece = -1;          // Read number `break_at_piece` fails (body broken)
};

struct UpstreamLog {
  int opened = 0;
  int aborted = 0;
  int finished = 0;                  // kept for reuse
  int reads = 0;                     // body reads asked for, all streams together
  std::vector<std::string> targets;  // request targets sent
  std::vector<std::string> bodies;
  std::vector<size_t> backends;
  std::vector<std::string> traceparents;  // the gateway's traceparent sent with each request
};

class FakeUpstream final : public UpstreamStream {
 public:
  FakeUpstream(asio::any_io_executor ex, Script script, UpstreamLog& log, size_t backend)
      : script_(std::move(script)), log_(log), wake_(ex), backend_(backend) {}

  bool reused() const override { return false; }
  asio::awaitable<std::optional<Error>> Connect() override {
    if (script_.kind == Script::Kind::kConnectFail)
      co_return Error{ErrorKind::kConnectFailed, "refused (fake)"};
    co_return std::nullopt;
  }
  asio::awaitable<std::optional<Error>> Send(const UpstreamRequest& r,
                                             ResponseEvents& events) override {
    log_.targets.emplace_back(r.request->path_and_query);
    log_.bodies.push_back(*r.request->body);
    log_.backends.push_back(backend_);
    log_.traceparents.emplace_back(r.forward.traceparent);
    if (script_.kind == Script::Kind::kResetBeforeHead)
      co_return Error{ErrorKind::kUpstreamReset, "reset (fake)"};
    if (script_.kind == Script::Kind::kStallBeforeHead) {
      co_await wake_.Wait();
      co_return Error{ErrorKind::kUpstreamReset, "aborted while stalled (fake)"};
    }
    for (const auto& [n, v] : script_.headers) fields_.push_back({n, v});
    head_.status = script_.status;
    head_.headers = fields_;
    events.OnHead(head_);
    if (script_.kind == Script::Kind::kHeadThenError)
      co_return Error{ErrorKind::kBadUpstreamResponse, "bad chunk right after the head (fake)"};
    complete_ = script_.pieces.empty() && script_.break_at_piece < 0 && script_.stall_at_piece < 0;
    co_return std::nullopt;
  }
  asio::awaitable<std::optional<Error>> Read(ResponseEvents& events) override {
    const int n = reads_++;
    ++log_.reads;
    if (n == script_.stall_at_piece) {
      co_await wake_.Wait();
      co_return Error{ErrorKind::kUpstreamBodyBroken, "aborted while stalled (fake)"};
    }
    if (n == script_.break_at_piece) co_return Error{ErrorKind::kUpstreamBodyBroken, "cut (fake)"};
    if (static_cast<size_t>(n) < script_.pieces.size()) events.OnBody(script_.pieces[n]);
    complete_ = static_cast<size_t>(n + 1) >= script_.pieces.size() &&
                script_.break_at_piece <= n && script_.stall_at_piece <= n;
    co_return std::nullopt;
  }
  bool complete() const override { return complete_; }
  void Abort() override {
    ++log_.aborted;
    wake_.Fire();
  }
  void Finish() override { ++log_.finished; }

 private:
  Script script_;
  UpstreamLog& log_;
  Wake wake_;
  size_t backend_;
  int reads_ = 0;
  bool complete_ = false;
  std::vector<HeaderField> fields_;
  http::ResponseHead head_;
};

// Hands out scripted streams per backend, in order; an unscripted attempt answers 200.
class FakeConnector final : public UpstreamConnector {
 public:
  explicit FakeConnector(asio::any_io_executor ex) : ex_(ex) {}
  std::unique_ptr<UpstreamStream> Open(upstream::PoolRuntime&, size_t backend) override {
    ++log.opened;
    Script s;
    auto& q = scripts[backend];
    if (!q.empty()) {
      s = std::move(q.front());
      q.pop_front();
    }
    return std::make_unique<FakeUpstream>(ex_, std::move(s), log, backend);
  }
  std::map<size_t, std::deque<Script>> scripts;
  UpstreamLog log;

 private:
  asio::any_io_executor ex_;
};

// A worker with a config from YAML, a manual clock and the fake upstream.
class Harness {
 public:
  explicit Harness(const std::string& yaml) {
    worker.timers = &timers;
    Install(yaml);
  }
  // Installs another config as the worker's current snapshot.
  void Install(const std::string& yaml) {
    auto loaded = config::LoadConfigString(yaml, "test.yaml");
    if (!loaded) {
      std::string why;
      for (const auto& e : loaded.error()) why += e.message + "\n";
      throw std::runtime_error("bad test config: " + why);
    }
    InstallSnapshot(worker, std::make_shared<Snapshot>(*loaded, registry), io.get_executor(),
                    nullptr, nullptr);
  }
  // Starts `ex.Run(stream)` and runs what is ready; `done` is set when it returns.
  void Start(Exchange& ex, ServerStream& stream, bool* done) {
    *done = false;
    asio::co_spawn(
        io,
        [&ex, &stream, done]() -> asio::awaitable<void> {
          co_await ex.Run(stream);
          *done = true;
        },
        asio::detached);
    io.poll();
    io.restart();
  }
  // Moves the manual clock and runs what came due.
  void Advance(Duration d) {
    timers.Advance(d);
    io.poll();
    io.restart();
  }
  Env env() { return Env{&worker, &timers, &rng, &connector, io.get_executor()}; }
  upstream::PoolRuntime& pool(size_t i) { return worker.view->upstreams->pool(i); }

  asio::io_context io;
  ManualTimers timers;
  Rng rng{42};
  observability::Registry registry{1};
  WorkerContext worker;
  FakeConnector connector{io.get_executor()};
};

}  // namespace infergate::exchange::testing
