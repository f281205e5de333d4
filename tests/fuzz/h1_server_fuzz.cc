// Fuzz driver for the whole HTTP/1.1 server path, from client bytes to a fake upstream and back.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "h2_check.h"
#include "h2_input.h"
#include "infergate/config/config.h"
#include "infergate/core/log.h"
#include "infergate/exchange/context.h"
#include "infergate/exchange/timers.h"
#include "infergate/http/h1/transport.h"
#include "infergate/http/h1_codec.h"
#include "infergate/upstream/health_controller.h"
#include "infergate/upstream/pool.h"
#include "slicer.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace infergate;
using namespace std::chrono_literals;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "h1_server_fuzz: %s\n", what);
  std::abort();
}

void Require(bool ok, const char* what) {
  if (!ok) Fail(what);
}

// INFERGATE_FUZZ_VERBOSE=1 prints what the upstream got and what each client got.
bool Verbose() {
  static const bool verbose = std::getenv("INFERGATE_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

// ---- the input: a flags byte, the client's bytes, then the upstream's answers

// Flags: the first byte minus '0'. Bits 4-5 add clients (at most two) that send the same bytes.
constexpr unsigned kUpstreamCloses = 1;  // the upstream closes after one answer (else keep-alive)
constexpr unsigned kAnswerFirst = 2;     // it answers before reading the request
constexpr unsigned kEarlyHalfClose = 4;  // clients half-close once their bytes are sent
constexpr unsigned kStreamed = 8;        // the upstream sends an answer's head, then a line a tick
constexpr unsigned kHttp2 = 64;  // the client's part is an HTTP/2 frame program (h2_input.h)
constexpr std::string_view kSeparator = "\n~~~\n";

struct Input {
  unsigned flags = 0;
  std::string_view client;
  std::vector<std::string_view> answers;  // the upstream's answers, used in turn
};

// A separator line "~~~" ends the client's bytes and each answer; the newline before it stays
// with the part it ends.
Input Split(std::string_view data) {
  Input in;
  if (data.empty()) return in;
  in.flags = static_cast<uint8_t>(data[0] - '0');
  data.remove_prefix(1);
  size_t cut = data.find(kSeparator);
  in.client = data.substr(0, cut == std::string_view::npos ? data.size() : cut + 1);
  while (cut != std::string_view::npos) {
    data.remove_prefix(cut + kSeparator.size());
    cut = data.find(kSeparator);
    in.answers.push_back(data.substr(0, cut == std::string_view::npos ? data.size() : cut + 1));
  }
  return in;
}

// ---- what one input's run shares with its upstream connections

struct Run {
  unsigned flags = 0;
  std::vector<std::string_view> answers;
  size_t next_answer = 0;
  // The client's complete requests, in order, as the gateway's codec reads them.
  std::vector<std::string> methods;
  std::vector<std::string> targets;  // path_and_query: what may be forwarded
  // The method of a last request whose head came and body did not: answered from its head (an
  // error, or a limit) as a request of that method (no body to HEAD).
  std::string unfinished;
  size_t expects = 0;  // requests with Expect: 100-continue
  std::vector<std::weak_ptr<tcp::socket>> sockets;
  std::set<std::string> request_ids;   // the x-request-id of each request the upstream got
  int live = 0;                        // upstream sessions still running
  exchange::Timers* timers = nullptr;  // the gateway's time, for streamed answers
};

struct Gateway {
  Gateway();
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // the fake upstream's two ports
  std::unique_ptr<observability::Registry> registry;
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const exchange::Snapshot> snapshot;
  std::unique_ptr<upstream::BackendRegistry> backends;
  std::unique_ptr<exchange::ListenerRuntime> listener;
  std::shared_ptr<Run> run;  // the input being run; accepted upstream connections join it
};

// One listener; pools "main" (both fake ports) and "spare" (the second); routes by path, by
// model (one with a compartment and a static fallback, one with a pool fallback), by header.
std::string ConfigYaml(uint16_t p1, uint16_t p2) {
  std::string yaml = R"(workers: 1
listeners:
  - {name: fuzz, listen: "127.0.0.1:0", max_request_header_bytes: 8KiB, max_request_headers: 32,
     max_request_body_bytes: 16KiB, header_timeout: 100ms, body_timeout: 100ms,
     keepalive_timeout: 200ms, send_timeout: 100ms, max_connections: 2}
compartments:
  - {name: tight, max_concurrent: 1, max_queue: 1, max_wait: 50ms, on_full: degrade}
  - {name: tenant-box, max_concurrent: 1}
tiers:
  - name: paid
  - {name: free, reserve_percent: 0}
tenant_identification: {header: x-tenant}
tenants:  # the API keys are "sk-acme" and "sk-hobby"
  - {name: acme, tier: paid,
     api_keys_sha256: 5f8eee912cd7c0ccb238560e8a22e7f78909e6dac18288188f7f4ea35112700d}
  - {name: hobby, tier: free, compartment: tenant-box,
     api_keys_sha256: a67e5b020e552e6ba71fc65cbdfe2a7d612a4a4ffee4714758af9ac4de12186a}
pools:
  - {name: main, load_balancing: round_robin, connect_timeout: 100ms,
     affinity: {header: x-session-id},
     backends: ["http://127.0.0.1:PORT1", "http://127.0.0.1:PORT2"]}
  - {name: spare, load_balancing: round_robin, connect_timeout: 100ms, max_idle_connections: 0,
     backends: ["http://127.0.0.1:PORT2"]}
routes:
  - name: models
    match: {path: /v1/models, methods: [GET, HEAD]}
    to: main
    timeouts: &short {first_byte: 100ms, idle: 100ms}
  - name: big
    match: {path_prefix: /v1/, model: "big*"}
    to: main
    rewrite_model: big-upstream
    compartment: tight
    timeouts: {first_byte: 100ms, idle: 100ms, total: 1s}
    fallbacks:
      - {static: "The assistant is busy; please retry.", model: static-model}
  - name: small
    match: {path_prefix: /v1/, model: "small*"}
    to: main
    retries: 0
    timeouts: *short
    fallbacks:
      - {pool: spare, rewrite_model: spare-model}
  - name: by-header
    match: {headers: {x-pool: spare}}
    to: spare
    retries: 0
    timeouts: *short
  - name: api
    match: {path_prefix: /v1/}
    to: main
    retries: 2
    retry: {backoff_base: 10ms, backoff_max: 20ms, max_retry_after: 1s}
    timeouts: *short
)";
  for (auto [token, port] : {std::pair{"PORT1", p1}, std::pair{"PORT2", p2}}) {
    for (size_t at; (at = yaml.find(token)) != std::string::npos;)
      yaml.replace(at, 5, std::to_string(port));
  }
  return yaml;
}

asio::awaitable<void> AcceptLoop(Gateway* g, tcp::acceptor* acc);

Gateway::Gateway() {
  SetLogLevel(LogLevel::kError);
  for (int i = 0; i < 2; ++i) {
    auto acc = std::make_unique<tcp::acceptor>(io);
    boost::system::error_code ec;
    acc->open(tcp::v4(), ec);
    if (!ec) acc->bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0), ec);
    if (!ec) acc->listen(64, ec);
    Require(!ec, "cannot listen on 127.0.0.1 for the fake upstream");
    acceptors.push_back(std::move(acc));
  }
  auto loaded = config::LoadConfigString(
      ConfigYaml(acceptors[0]->local_endpoint().port(), acceptors[1]->local_endpoint().port()),
      "h1_server_fuzz.yaml");
  if (!loaded.ok()) {
    for (const auto& e : loaded.error()) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    Fail("the driver's config does not load");
  }
  config = *loaded;
  registry = std::make_unique<observability::Registry>(2);
  snapshot = std::make_shared<exchange::Snapshot>(config, *registry);
  backends = std::make_unique<upstream::BackendRegistry>(*config, 2);
  listener = std::make_unique<exchange::ListenerRuntime>(config->listeners[0].max_connections,
                                                         *registry, config->listeners[0].name);
  for (auto& acc : acceptors) asio::co_spawn(io, AcceptLoop(this, acc.get()), asio::detached);
}

Gateway& TheGateway() {
  static Gateway* g = new Gateway();  // never destroyed: the io_context outlives every input
  return *g;
}

// ---- the fake upstream

void CheckForwarded(const Run& run, const http::RequestHead& h) {
  const bool asterisk = h.method == "OPTIONS" && h.target == "*";
  Require(asterisk || (!h.target.empty() && h.target.front() == '/'),
          "the upstream got a request target that is not origin-form");
  Require(h.target == h.path_and_query, "the upstream got a target that is not origin-form");
  Require(std::find(run.targets.begin(), run.targets.end(), h.target) != run.targets.end(),
          "the upstream got a target the client never sent");
  Require(std::find(run.methods.begin(), run.methods.end(), h.method) != run.methods.end(),
          "the upstream got a method the client never sent");
  Require(h.host.starts_with("127.0.0.1:"), "the upstream got a Host other than its own");
}

constexpr Duration kTick = 10ms;  // the step of the gateway's time when it is idle

// Writes the next answer: at once, or (kStreamed) its head, then each line a tick later.
asio::awaitable<void> Answer(Run& run, tcp::socket& s) {
  if (run.answers.empty()) co_return;
  std::string_view a = run.answers[run.next_answer++ % run.answers.size()];
  auto upto = [&a](std::string_view end) {  // the bytes up to `end`, or all of them
    const size_t at = a.find(end);
    return at == std::string_view::npos ? a.size() : at + end.size();
  };
  size_t cut = run.flags & kStreamed ? upto("\r\n\r\n") : a.size();
  exchange::Wake wake(s.get_executor());
  std::unique_ptr<exchange::Alarm> alarm = run.timers->MakeAlarm(s.get_executor());
  while (!a.empty()) {
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(a.data(), cut), kNoThrow);
    if (ec) co_return;
    a.remove_prefix(cut);
    if (a.empty()) break;
    cut = upto("\n");
    alarm->ArmAt(run.timers->Now() + kTick, [&wake] { wake.Fire(); });
    co_await wake.Wait();
  }
}

// One upstream connection: reads each request the gateway sends (it must parse and be one the
// client sent) and answers it with the input's next answer; closes after one when told to.
asio::awaitable<void> UpstreamSession(std::shared_ptr<Run> run, std::shared_ptr<tcp::socket> s) {
  struct Live {
    explicit Live(Run& r) : run(r) { ++run.live; }
    ~Live() { --run.live; }
    Run& run;
  } live(*run);
  const bool closes = run->flags & kUpstreamCloses;
  const bool first = run->flags & kAnswerFirst;
  http::RequestDecoder decoder(http::RequestLimits{1 << 20, 10000, 1 << 26});
  std::string pending;
  char buf[4096];
  while (true) {
    if (first) co_await Answer(*run, *s);
    decoder.Reset();
    while (true) {
      size_t used = 0;
      auto st = decoder.Feed(pending, &used);
      pending.erase(0, used);
      Require(st.ok(), "the gateway sent the upstream a request its own codec refuses");
      if (*st == http::RequestDecoder::Status::kComplete) break;
      if (*st == http::RequestDecoder::Status::kHeadComplete) continue;
      auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), kNoThrow);
      if (ec) co_return;  // the gateway closed (or gave up on) the connection
      pending.append(buf, n);
    }
    if (Verbose()) {
      const http::RequestHead& h = decoder.head();
      std::fprintf(stderr, "--- upstream got %.*s %.*s (%zu body bytes)\n",
                   static_cast<int>(h.method.size()), h.method.data(),
                   static_cast<int>(h.target.size()), h.target.data(), decoder.body().size());
    }
    CheckForwarded(*run, decoder.head());
    run->request_ids.emplace(decoder.head().Get("x-request-id"));
    if (!first) co_await Answer(*run, *s);
    if (closes) {
      boost::system::error_code ignored;
      s->shutdown(tcp::socket::shutdown_send, ignored);
      while (true) {
        auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), kNoThrow);
        if (ec) co_return;
      }
    }
  }
}

asio::awaitable<void> AcceptLoop(Gateway* g, tcp::acceptor* acc) {
  while (acc->is_open()) {
    auto [ec, socket] = co_await acc->async_accept(kNoThrow);
    if (ec) continue;
    if (!g->run) continue;  // between inputs: closed at once
    auto s = std::make_shared<tcp::socket>(std::move(socket));
    g->run->sockets.push_back(s);
    asio::co_spawn(g->io, UpstreamSession(g->run, s), asio::detached);
  }
}

// ---- the client side and what it received

struct Client {
  int fd = -1;  // the driver's end of the socket pair
  size_t sent = 0;
  bool connected = false;
  bool shut = false;  // write side shut down
  bool done = false;  // EOF read and fd closed
  std::string out;
  infergate::fuzz::h2fuzz::Pacer pacer;  // the HTTP/2 program's pauses
};

void Connect(Gateway& g, exchange::WorkerContext& ctx, Client& c) {
  int fds[2];
  Require(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair failed");
  Require(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0, "fcntl failed");
  c.fd = fds[1];
  c.connected = true;
  tcp::socket s(g.io);
  boost::system::error_code ec;
  s.assign(tcp::v4(), fds[0], ec);  // remote_endpoint() fails harmlessly on a Unix socket
  Require(!ec, "cannot assign the socket");
  if (!h1::TakeConnectionSlot(ctx, 0)) {
    s.close(ec);  // at max_connections and nothing to shed: closed, as the accept loop does
    return;
  }
  h1::ServeConnection(ctx, 0, std::move(s));
}

// Reads what is there; true when something (bytes or EOF) came.
bool ReadOutput(Client& c) {
  if (!c.connected || c.done) return false;
  bool got = false;
  char buf[4096];
  while (true) {
    ssize_t n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      c.out.append(buf, static_cast<size_t>(n));
      got = true;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return got;
    close(c.fd);  // EOF (or a reset): the gateway is done with this client
    c.done = true;
    return true;
  }
}

class Sink final : public http::ResponseSink {
 public:
  void OnHead(const http::H1ResponseHead& h) override {
    status = h.status;
    json = has_id = false;
    body.clear();
    marker.clear();
    for (const HeaderField& f : h.headers) {
      if (IEquals(f.name, "content-type")) json = f.value == "application/json";
      if (IEquals(f.name, "x-request-id")) has_id = true;
      if (IEquals(f.name, "x-fuzz-answer")) marker = f.value;
    }
  }
  void OnBody(std::string_view d) override {
    if (body.size() < 16) body.append(d.substr(0, 16 - body.size()));
  }
  int status = 0;
  bool json = false;
  bool has_id = false;
  std::string body;    // its first 16 bytes
  std::string marker;  // x-fuzz-answer (HTTP/2 mode: which answer a response came from)
};

// Whether the gateway relays this answer whole: its first final response is complete (a
// close-delimited one only when the upstream closes after it).
bool AnswerComplete(std::string_view a, bool closes) {
  http::ResponseDecoder d;
  Sink sink;
  while (true) {
    d.Start(false);
    size_t used = 0;
    auto st = d.Feed(a, &used, sink);
    if (!st.ok()) return false;
    a.remove_prefix(used);
    if (*st == http::ResponseDecoder::Status::kNeedMore) {
      if (!closes) return false;
      auto eof = d.FeedEof(sink);
      return eof.ok() && sink.status >= 200;
    }
    if (sink.status >= 200) return true;
  }
}

// The x-fuzz-answer field of an answer's first final response head ("" without one).
std::string AnswerMarker(std::string_view a) {
  http::ResponseDecoder d;
  Sink sink;
  while (sink.status < 200) {
    d.Start(false);
    size_t used = 0;
    auto st = d.Feed(a, &used, sink);
    if (!st.ok() || *st == http::ResponseDecoder::Status::kNeedMore) break;
    a.remove_prefix(used);
  }
  return sink.marker;
}

bool StatusInAnswers(const Run& run, int status) {
  const std::string digits = std::to_string(status);
  for (std::string_view a : run.answers) {
    if (a.find(digits) != std::string_view::npos) return true;
  }
  return false;
}

// Everything one client received: HTTP/1.1 responses that parse, at most one final response per
// request plus one error, gateway errors in the OpenAI shape, a cut only when allowed.
void CheckOutput(const Client& c, const Run& run, bool cut_allowed) {
  std::string_view rest = c.out;
  size_t finals = 0;
  size_t interim = 0;
  http::ResponseDecoder d;
  Sink sink;
  while (!rest.empty()) {
    // Each branch a view of its own: a conditional expression mixing them would make a
    // temporary std::string that the view outlives.
    std::string_view method;
    if (finals < run.methods.size()) {
      method = run.methods[finals];
    } else if (finals == run.methods.size()) {
      method = run.unfinished;
    }
    const bool head = method == "HEAD";
    d.Start(head, 1 << 20);
    size_t used = 0;
    auto st = d.Feed(rest, &used, sink);
    Require(st.ok(), "what the gateway wrote does not parse as HTTP/1.1 responses");
    rest.remove_prefix(used);
    if (*st == http::ResponseDecoder::Status::kNeedMore) {
      auto eof = d.FeedEof(sink);
      if (!eof.ok()) {
        Require(cut_allowed, "a response was cut although the upstream answered in full");
        return;
      }
    }
    Require(sink.status >= 100 && sink.status <= 599, "a status outside 100..599");
    if (sink.status < 200) {
      ++interim;
      continue;
    }
    ++finals;
    Require(sink.has_id, "a final response without x-request-id");
    Require(!head || rest.empty() || rest.starts_with("HTTP/"), "a response to HEAD with a body");
    if (!head && sink.status >= 400 && sink.json && !StatusInAnswers(run, sink.status)) {
      Require(sink.body.starts_with("{\"error\":"), "a gateway error not in the OpenAI shape");
    }
    Require(d.reusable() || rest.empty(), "bytes after a response that closes the connection");
  }
  Require(finals <= run.methods.size() + 1, "more final responses than requests");
  Require(interim <= run.expects, "a 100 Continue nobody asked for");
}

// The client's requests as the listener's codec reads them, up to the first that closes.
void ReadClientRequests(std::string_view bytes, const config::ListenerConfig& l, Run& run) {
  http::RequestDecoder d(http::RequestLimits{l.max_request_header_bytes, l.max_request_headers,
                                             l.max_request_body_bytes});
  bool head_seen = false;  // a 100 Continue may follow a head whose body never comes
  while (true) {
    size_t used = 0;
    auto st = d.Feed(bytes, &used);
    bytes.remove_prefix(used);
    if (!st.ok() || *st == http::RequestDecoder::Status::kNeedMore) {
      if (st.ok() && head_seen) run.unfinished = std::string(d.head().method);
      return;
    }
    const http::RequestHead& h = d.head();
    if (!head_seen && h.expect_continue && h.version >= 11) ++run.expects;
    head_seen = true;
    if (*st == http::RequestDecoder::Status::kHeadComplete) continue;
    run.methods.emplace_back(h.method);
    run.targets.emplace_back(h.path_and_query);
    if (!h.keep_alive) return;
    d.Reset();
    head_seen = false;
  }
}

// How much a client sends at once: one byte, a few, up to 256, or all that is left.
size_t SliceSize(infergate::fuzz::Slicer& slicer) {
  const uint64_t r = slicer.Next();
  const size_t sizes[] = {1, 1 + (r >> 8) % 8, 1 + (r >> 8) % 256, SIZE_MAX};
  return sizes[r % 4];
}

void PrintOutput(const std::vector<Client>& clients, size_t i, Duration elapsed, bool h2) {
  std::fprintf(
      stderr, "--- client %zu got (%.0f ms of gateway time):\n%s\n", i + 1,
      std::chrono::duration<double, std::milli>(elapsed).count(),
      h2 ? infergate::fuzz::h2fuzz::Describe(clients[i].out).c_str() : clients[i].out.c_str());
}

constexpr size_t kMaxClients = 3;
constexpr int kMaxSteps = 400000;
constexpr Duration kMaxTime = 60s;  // of the gateway's (manual) time; every timeout is far less

}  // namespace

extern "C" int FuzzH1Server(const uint8_t* data, size_t size) {
  Gateway& g = TheGateway();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const Input in = Split(bytes);
  auto run = std::make_shared<Run>();
  run->flags = in.flags;
  run->answers = in.answers;
  // HTTP/2: the client's part is a frame program; the bytes it compiles to are sent as they are.
  // Client bytes that start with the preface speak HTTP/2 either way.
  namespace h2f = infergate::fuzz::h2fuzz;
  const bool h2_program = in.flags & kHttp2;
  const h2f::Program program = h2_program ? h2f::Compile(in.client) : h2f::Program{};
  const std::string_view client_bytes = h2_program ? std::string_view(program.bytes) : in.client;
  const bool h2 = client_bytes.starts_with(h2f::frames::kPreface);
  h2f::ClientModel model;
  if (h2) {
    model = h2f::ModelClient(client_bytes);
    run->methods = model.methods;
    run->targets = model.targets;
  } else {
    ReadClientRequests(in.client, g.config->listeners[0], *run);
  }
  infergate::fuzz::Slicer slicer(bytes);
  bool cut_allowed = (in.flags & kEarlyHalfClose) != 0;
  h2f::Expect expect;
  std::set<std::string> whole_markers;
  for (std::string_view a : in.answers) {
    const bool whole = AnswerComplete(a, in.flags & kUpstreamCloses);
    cut_allowed |= !whole;
    // Streamed at a line a tick, a long answer may outlast the route big's total timeout (1 s).
    if (in.flags & kStreamed) cut_allowed |= std::count(a.begin(), a.end(), '\n') > 40;
    // Only an upstream that closes after each answer cuts one: else the next answer's bytes may
    // complete it on the same connection.
    if (std::string marker = AnswerMarker(a); !marker.empty() && (in.flags & kUpstreamCloses))
      (whole ? whole_markers : expect.cut_markers).insert(std::move(marker));
  }
  for (const std::string& m : whole_markers) expect.cut_markers.erase(m);

  // A worker on the shared snapshot, with time that moves only when the gateway is idle.
  exchange::ManualTimers timers;
  auto ctx = std::make_unique<exchange::WorkerContext>();
  ctx->io = &g.io;
  ctx->index = 1;
  ctx->timers = &timers;
  ctx->listeners.push_back(g.listener.get());
  ctx->sheddable.resize(1);
  ctx->connector = h1::MakeUpstreamConnector(g.io.get_executor());
  exchange::InstallSnapshot(*ctx, g.snapshot, g.io.get_executor(), g.backends.get(),
                            g.registry.get());
  run->timers = &timers;
  g.run = run;

  std::vector<Client> clients(std::min<size_t>(kMaxClients, 1 + ((in.flags >> 4) & 3)));
  Duration elapsed{};
  int idle = 0;
  for (int step = 0;; ++step) {
    Require(step < kMaxSteps, "the gateway never went idle");
    bool progress = false;
    for (size_t i = 0; i < clients.size(); ++i) {
      Client& c = clients[i];
      if (!c.connected) {
        // Each client connects once the one before it has sent something.
        const Client* prev = i > 0 ? &clients[i - 1] : nullptr;
        if (prev && prev->sent == 0 && !prev->done && !client_bytes.empty()) break;
        Connect(g, *ctx, c);
        progress = true;
      }
      if (c.done) continue;
      const size_t end = h2_program ? c.pacer.Limit(program, c.sent, elapsed, kTick, &progress)
                                    : client_bytes.size();
      if (c.sent < end) {
        std::string_view piece =
            client_bytes.substr(c.sent, std::min(end - c.sent, SliceSize(slicer)));
        ssize_t n = send(c.fd, piece.data(), piece.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) c.sent += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          c.sent = client_bytes.size();  // the gateway closed: nothing more goes through
        progress |= n != 0;
      }
      if ((in.flags & kEarlyHalfClose) && !c.shut && c.sent == client_bytes.size()) {
        shutdown(c.fd, SHUT_WR);
        c.shut = progress = true;
      }
    }
    const size_t ran = g.io.poll();
    for (Client& c : clients) progress |= ReadOutput(c);
    if (progress || ran > 0) {
      idle = 0;
      continue;
    }
    if (++idle < 3) continue;
    idle = 0;
    bool all_done = true;
    for (const Client& c : clients) all_done &= c.done;
    if (all_done && ctx->active_connections == 0 && ctx->active_requests == 0) break;
    if (elapsed >= kMaxTime && Verbose()) {
      for (size_t i = 0; i < clients.size(); ++i) PrintOutput(clients, i, elapsed, h2);
    }
    Require(elapsed < kMaxTime, "the gateway did not finish in 60 s of its time");
    timers.Advance(kTick);
    elapsed += kTick;
  }

  // Teardown: the worker's pooled upstream connections, then every upstream session.
  ctx->view.reset();
  for (auto& w : run->sockets) {
    if (auto s = w.lock()) {
      boost::system::error_code ignored;
      s->close(ignored);
    }
  }
  for (int i = 0; i < 1000 && run->live > 0; ++i) {
    if (g.io.poll() == 0) timers.Advance(kTick);  // a streamed answer waiting for its next line
  }
  Require(run->live == 0, "an upstream connection did not end");
  g.run.reset();

  Require(ctx->active_requests == 0, "active requests left after the input");
  Require(g.listener->slots.open() == 0, "a listener slot was not given back");
  for (size_t i = 0; i < g.config->compartments.size(); ++i) {
    const isolation::Bulkhead& b = *g.snapshot->isolation->compartment(i).bulkhead;
    Require(b.in_flight() == 0 && b.queued() == 0, "a compartment slot was not given back");
  }
  ctx.reset();
  for (size_t i = 0; i < clients.size(); ++i) {
    if (Verbose()) PrintOutput(clients, i, elapsed, h2);
    if (!h2) {
      CheckOutput(clients[i], *run, cut_allowed);
      continue;
    }
    expect.model = &model;
    expect.partial_ok = (in.flags & kEarlyHalfClose) || clients.size() > 1;
    expect.limits = &g.config->listeners[0].http2;
    expect.elapsed = elapsed;
    h2f::CheckOutput(clients[i].out, expect);
  }
  // Each client sends the program once: a request reaches the upstream (retries and fallbacks
  // keep its x-request-id) only from a stream a client ended.
  Require(!h2 || run->request_ids.size() <= model.completed.size() * clients.size(),
          "the upstream got more requests than the clients' streams ended");
  return 0;
}

#ifdef INFERGATE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return FuzzH1Server(data, size);
}
#endif
