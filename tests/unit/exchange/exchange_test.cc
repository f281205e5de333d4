// The exchange on fakes: a recording server stream, a fault-injecting upstream and a manual
// clock. Each phase's behaviour is asserted on what reaches the two seams, and every timeout
// is driven by moving the clock, never by waiting.
#include <gtest/gtest.h>

#include "unit/exchange/fakes.h"

namespace infergate::exchange::testing {
namespace {

using namespace std::chrono_literals;
using Kind = Script::Kind;

std::string Yaml(const std::string& route_extra = "",
                 const std::string& timeouts = "{first_byte: 5s, idle: 2s}",
                 const std::string& backends = "http://127.0.0.1:9001, http://127.0.0.1:9002") {
  return "listeners:\n  - name: public\n    listen: 127.0.0.1:0\n"
         "pools:\n  - name: main\n"
         "    backends: [" +
         backends +
         "]\n"
         "    load_balancing: round_robin\n"
         "routes:\n  - name: chat\n    match: {path_prefix: /v1/}\n    to: main\n"
         "    timeouts: " +
         timeouts + "\n" + route_extra;
}

const std::string kChat = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";

Script Answer(std::vector<std::string> pieces, int status = 200) {
  Script s;
  s.status = status;
  s.pieces = std::move(pieces);
  return s;
}

Script Behaviour(Kind k) {
  Script s;
  s.kind = k;
  return s;
}

// Scripts the same behaviour for every backend of the two-backend pool.
void Everywhere(Harness& h, const Script& s, int times = 4) {
  for (size_t b = 0; b < 2; ++b)
    for (int i = 0; i < times; ++i) h.connector.scripts[b].push_back(s);
}

std::string ErrorCode(const FakeServerStream& s) {
  auto pos = s.body.find("\"code\":\"");
  if (pos == std::string::npos) return "";
  pos += 8;
  return s.body.substr(pos, s.body.find('"', pos) - pos);
}

TEST(Exchange, StreamsEachPieceBeforeReadingTheNext) {
  Harness h(Yaml());
  Everywhere(h, Answer({"a", "bb", "ccc"}));
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions?x=1", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  ASSERT_TRUE(done);
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.body, "abbccc");
  EXPECT_TRUE(s.ended);
  EXPECT_FALSE(s.reset);
  EXPECT_FALSE(s.headers["x-request-id"].empty());
  // Head, then every piece is flushed on its own before the next upstream read; then the end.
  const std::vector<Op> want = {Op::kHead,  Op::kFlush, Op::kBody, Op::kFlush, Op::kBody,
                                Op::kFlush, Op::kBody,  Op::kEnd,  Op::kFlush};
  EXPECT_EQ(s.ops, want);
  // Routed on the path, forwarded exactly that path with its query.
  ASSERT_EQ(h.connector.log.targets.size(), 1u);
  EXPECT_EQ(h.connector.log.targets[0], "/v1/chat/completions?x=1");
  EXPECT_EQ(h.connector.log.finished, 1);
  EXPECT_EQ(ex.record().status, 200);
  EXPECT_FALSE(ex.record().error);
  // The lease gave itself back.
  EXPECT_EQ(h.pool(0).backend(0).in_flight + h.pool(0).backend(1).in_flight, 0u);
}

constexpr const char* kDefaultTimeouts = "{first_byte: 5s, idle: 2s}";
constexpr const char* kOneBackend = "http://127.0.0.1:9001";

TEST(Exchange, ConnectFailureIsRetried) {
  Harness h(Yaml("    retries: 1\n", kDefaultTimeouts, kOneBackend));
  h.connector.scripts[0] = {Behaviour(Kind::kConnectFail), Answer({"ok"})};
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  // The retry waits for its backoff on the manual clock.
  for (int i = 0; i < 10 && !done; ++i) h.Advance(100ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(ex.record().attempts, 2);
  EXPECT_EQ(h.connector.log.backends.size(), 1u);  // only the second attempt sent a request
}

TEST(Exchange, ARetryAvoidsTheBackendThatFailed) {
  Harness h(Yaml("    retries: 1\n"));
  h.connector.scripts[0] = {Behaviour(Kind::kResetBeforeHead), Behaviour(Kind::kResetBeforeHead)};
  h.connector.scripts[1] = {Behaviour(Kind::kResetBeforeHead), Behaviour(Kind::kResetBeforeHead)};
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  for (int i = 0; i < 10 && !done; ++i) h.Advance(100ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(s.status, 502);
  ASSERT_EQ(h.connector.log.backends.size(), 2u);
  EXPECT_NE(h.connector.log.backends[0], h.connector.log.backends[1]);
}

TEST(Exchange, BackoffBetweenRetriesIsTheClocks) {
  Harness h(Yaml("    retries: 1\n    retry: {backoff_base: 1s, backoff_max: 1s}\n",
                 kDefaultTimeouts, kOneBackend));
  h.connector.scripts[0] = {Behaviour(Kind::kResetBeforeHead), Answer({"ok"})};
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  EXPECT_FALSE(done);
  EXPECT_EQ(h.connector.log.opened, 1);
  h.Advance(1s);  // full jitter: the delay is at most backoff_max
  EXPECT_EQ(h.connector.log.opened, 2);
  ASSERT_TRUE(done);
  EXPECT_EQ(s.status, 200);
}

TEST(Exchange, FirstByteTimeoutGives504AndAbortsTheUpstream) {
  Harness h(Yaml());
  Everywhere(h, Behaviour(Kind::kStallBeforeHead));
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  h.Advance(4999ms);
  EXPECT_FALSE(done);
  EXPECT_EQ(h.connector.log.aborted, 0);
  h.Advance(1ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(h.connector.log.aborted, 1);
  EXPECT_EQ(s.status, 504);
  EXPECT_EQ(ErrorCode(s), "upstream_first_byte_timeout") << s.body;
  EXPECT_EQ(ex.record().error, ErrorKind::kFirstByteTimeout);
}

TEST(Exchange, IdleTimeoutMidStreamEndsTheResponseAbnormally) {
  Harness h(Yaml());
  Script stall = Answer({"first", "never"});
  stall.stall_at_piece = 1;
  Everywhere(h, stall);
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  EXPECT_EQ(s.body, "first");
  h.Advance(1999ms);
  EXPECT_FALSE(done);
  h.Advance(1ms);
  ASSERT_TRUE(done);
  EXPECT_TRUE(s.reset);
  EXPECT_FALSE(s.ended) << "a cut stream must never look complete";
  EXPECT_EQ(ex.record().error, ErrorKind::kIdleTimeout);
  EXPECT_EQ(h.connector.log.aborted, 1);
  EXPECT_EQ(h.connector.log.finished, 0);
}

TEST(Exchange, UpstreamBreakingMidStreamResetsTheClientStream) {
  Harness h(Yaml());
  Script cut = Answer({"a", "b", "c"});
  cut.break_at_piece = 1;
  Everywhere(h, cut);
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  ASSERT_TRUE(done);
  EXPECT_EQ(s.body, "a");
  EXPECT_TRUE(s.reset);
  EXPECT_FALSE(s.ended);
  EXPECT_EQ(ex.record().error, ErrorKind::kUpstreamBodyBroken);
}

TEST(Exchange, ClientGoneWhileWaitingForTheFirstByteAbortsTheUpstream) {
  Harness h(Yaml());
  Everywhere(h, Behaviour(Kind::kStallBeforeHead));
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  EXPECT_FALSE(done);
  s.peer_gone().Fire();
  h.Advance(0ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(h.connector.log.aborted, 1);
  EXPECT_EQ(s.status, 0) << "nothing is sent to a client that left";
  EXPECT_EQ(ex.record().error, ErrorKind::kClientAbort);
}

TEST(Exchange, ClientGoneMidStreamAbortsTheUpstream) {
  Harness h(Yaml());
  Script slow = Answer({"a", "b"});
  slow.stall_at_piece = 1;
  Everywhere(h, slow);
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  s.fail_flush = true;
  s.peer_gone().Fire();
  h.Advance(0ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(h.connector.log.aborted, 1);
  EXPECT_EQ(ex.record().error, ErrorKind::kClientAbort);
}

TEST(Exchange, RetriedStatusIsDiscardedBeforeTheClientSeesIt) {
  Harness h(Yaml("    retries: 1\n    retry: {on_status: [503]}\n", kDefaultTimeouts, kOneBackend));
  h.connector.scripts[0] = {Answer({"busy"}, 503), Answer({"fine"})};
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  for (int i = 0; i < 10 && !done; ++i) h.Advance(100ms);
  ASSERT_TRUE(done);
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.body, "fine");
  EXPECT_EQ(s.ops.front(), Op::kHead);
  EXPECT_EQ(s.ops[1], Op::kDiscard);
}

TEST(Exchange, TotalTimeoutCutsALongGeneration) {
  Harness h(Yaml("", "{first_byte: 5s, idle: 10s, total: 3s}"));
  Script slow = Answer({"a", "b"});
  slow.stall_at_piece = 1;
  Everywhere(h, slow);
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  h.Advance(1500ms);
  EXPECT_FALSE(done);
  h.Advance(1500ms);  // the total timeout, from the start of the exchange
  ASSERT_TRUE(done);
  EXPECT_EQ(ex.record().error, ErrorKind::kTotalTimeout);
  EXPECT_TRUE(s.reset);
}

TEST(Exchange, EveryBackendFailingDegradesToTheStaticFallbackMarked) {
  Harness h(
      Yaml("    retries: 0\n    fallbacks:\n      - {static: \"sorry\"}\n"
           "    degrade: {on: [retries_exhausted]}\n"));
  Everywhere(h, Behaviour(Kind::kConnectFail));
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  ASSERT_TRUE(done);
  EXPECT_EQ(s.status, 200);
  EXPECT_NE(s.headers["x-infergate-degraded"].find("retries_exhausted"), std::string::npos);
  EXPECT_NE(s.body.find("sorry"), std::string::npos) << s.body;
  EXPECT_NE(s.body.find("\"object\":\"chat.completion\""), std::string::npos) << s.body;
}

TEST(Exchange, UnroutedRequestGetsAnOpenAiShaped404) {
  Harness h(Yaml());
  Exchange ex(h.env());
  FakeServerStream s("GET", "/other", "");
  bool done = false;
  h.Start(ex, s, &done);
  ASSERT_TRUE(done);
  EXPECT_EQ(s.status, 404);
  EXPECT_EQ(ErrorCode(s), "route_not_found") << s.body;
  EXPECT_EQ(h.connector.log.opened, 0);
}

// Limits decided from the head answer without asking the transport for the body; a request
// they admit asks for it once, before routing; a body the transport could not receive is
// answered with its error and nothing is forwarded.
TEST(Exchange, ARequestRefusedFromItsHeadNeverAsksForTheBody) {
  // printf %s acme-key | sha256sum
  Harness h(Yaml() +
            "tenants:\n  - name: acme\n    api_keys_sha256: "
            "[afacab3575137afa4e00d9cbcafcb14c9ae25f779d964eb0ea5b2c4eb5dfd163]\n"
            "    limits: {requests_per_minute: 1}\n");
  Everywhere(h, Answer({"ok"}), 1);
  const std::vector<std::pair<std::string, std::string>> acme = {
      {"authorization", "Bearer acme-key"}};
  Exchange ex(h.env());
  FakeServerStream first("POST", "/v1/chat/completions", kChat, acme);
  bool done = false;
  h.Start(ex, first, &done);
  ASSERT_TRUE(done);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body_asks, 1);
  FakeServerStream refused("POST", "/v1/chat/completions", kChat, acme);
  h.Start(ex, refused, &done);
  ASSERT_TRUE(done);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.body_asks, 0);
  EXPECT_FALSE(refused.headers["retry-after"].empty());
  EXPECT_EQ(refused.headers["x-ratelimit-remaining-requests"], "0");

  Harness open(Yaml());
  Exchange ex2(open.env());
  FakeServerStream slow("POST", "/v1/chat/completions", kChat);
  slow.body_error = Error{ErrorKind::kRequestTimeout, "request body not received in time"};
  open.Start(ex2, slow, &done);
  ASSERT_TRUE(done);
  EXPECT_EQ(slow.status, 408);
  EXPECT_EQ(slow.body_asks, 1);
  EXPECT_EQ(open.connector.log.opened, 0);
}

// A newer snapshot installed while an exchange runs: the running exchange finishes on its own
// snapshot, a new one takes the newer; both serve at the same time.
TEST(Exchange, TwoSnapshotsServeConcurrently) {
  Harness h(Yaml("    rewrite_model: old-name\n"));
  Script slow = Answer({"one", "two"});
  slow.stall_at_piece = 1;
  h.connector.scripts[0].push_back(slow);
  Exchange first(h.env());
  FakeServerStream s1("POST", "/v1/chat/completions", kChat);
  bool done1 = false;
  h.Start(first, s1, &done1);
  ASSERT_FALSE(done1);

  h.Install(Yaml("    rewrite_model: new-name\n"));
  Exchange second(h.env());
  FakeServerStream s2("POST", "/v1/chat/completions", kChat);
  bool done2 = false;
  h.Start(second, s2, &done2);
  ASSERT_TRUE(done2);
  ASSERT_EQ(h.connector.log.bodies.size(), 2u);
  EXPECT_NE(h.connector.log.bodies[0].find("old-name"), std::string::npos);
  EXPECT_NE(h.connector.log.bodies[1].find("new-name"), std::string::npos);

  h.Advance(2s);  // the first one's idle timeout, on its own snapshot's route
  ASSERT_TRUE(done1);
  EXPECT_EQ(first.record().error, ErrorKind::kIdleTimeout);
}

// Route state that outlives a snapshot is kept by identity: the same route name gets the same
// degradation state in the next snapshot.
TEST(Exchange, RouteStateIsKeptByNameAcrossSnapshots) {
  Harness h(Yaml());
  auto before = h.worker.view->degrade[0];
  before->service_seconds = 1.25;
  h.Install(Yaml("    retries: 2\n"));
  EXPECT_EQ(h.worker.view->degrade[0].get(), before.get());
  EXPECT_EQ(h.worker.view->degrade[0]->service_seconds, 1.25);
}

// Isolation state that outlives a snapshot is kept by identity: a compartment that keeps its
// name in the next snapshot is the same bulkhead (its slots in use carry over), with the new
// snapshot's limits when they changed.
TEST(Exchange, CompartmentsAreKeptByNameAcrossSnapshots) {
  const std::string base =
      "listeners:\n  - {name: public, listen: \"127.0.0.1:0\"}\n"
      "pools:\n  - {name: main, backends: [http://127.0.0.1:9001]}\n"
      "routes:\n  - {name: chat, match: {path_prefix: /}, to: main, "
      "compartment: c}\n";
  auto load = [](const std::string& yaml) { return *config::LoadConfigString(yaml, "t.yaml"); };
  observability::Registry metrics(1);
  isolation::StateRegistry state;
  auto one = load(base + "compartments:\n  - {name: c, max_concurrent: 4}\n");
  auto same = load(base + "compartments:\n  - {name: c, max_concurrent: 4}\n");
  auto resized = load(base + "compartments:\n  - {name: c, max_concurrent: 8}\n");
  Snapshot a(one, metrics, &state);
  Snapshot b(same, metrics, &state);
  Snapshot c(resized, metrics, &state);
  ASSERT_TRUE(a.isolation->compartment(0).bulkhead->TryAcquire(0));
  EXPECT_EQ(a.isolation->compartment(0).bulkhead.get(), b.isolation->compartment(0).bulkhead.get());
  EXPECT_EQ(b.isolation->compartment(0).bulkhead->in_flight(), 1u);
  EXPECT_EQ(a.isolation->compartment(0).bulkhead.get(), c.isolation->compartment(0).bulkhead.get());
  EXPECT_EQ(c.isolation->compartment(0).bulkhead->in_flight(), 1u);
  EXPECT_EQ(c.isolation->compartment(0).bulkhead->options().max_concurrent, 8u);
  a.isolation->compartment(0).bulkhead->Release();
}

// A pool fallback in the compartment the route already holds does not take a second slot (with
// one slot it would queue behind itself for max_wait).
TEST(Exchange, FallbackInTheRoutesOwnCompartmentDoesNotWaitForItself) {
  Harness h(
      "listeners:\n  - {name: public, listen: \"127.0.0.1:0\"}\n"
      "compartments:\n  - {name: c0, max_concurrent: 1, max_queue: 4, max_wait: 1s}\n"
      "pools:\n  - {name: main, backends: [http://127.0.0.1:9001]}\n"
      "  - {name: spare, backends: [http://127.0.0.1:9002]}\n"
      "routes:\n  - name: chat\n    match: {path_prefix: /}\n    to: main\n"
      "    compartment: c0\n    retries: 0\n"
      "    fallbacks: [{pool: spare, compartment: c0}]\n");
  // Backend 0 of each pool: the primary's, then the fallback pool's.
  h.connector.scripts[0] = {Behaviour(Kind::kConnectFail), Answer({"from spare"})};
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  ASSERT_TRUE(done) << "the fallback waited (on the clock) for the slot its own request holds";
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.body, "from spare");
  EXPECT_EQ(h.worker.snapshot->isolation->compartment(0).bulkhead->in_flight(), 0u);
}

// A head and a broken body in the same read: nothing reached the client, so the head is dropped
// and the attempt fails like any other: a 502 in the OpenAI shape (found by the whole-path
// fuzzer, which crashed the process on it).
TEST(Exchange, HeadFollowedByABrokenBodyInOneReadIsAFailedAttempt) {
  Harness h(Yaml("", kDefaultTimeouts, kOneBackend));
  h.connector.scripts[0] = {Behaviour(Kind::kHeadThenError)};
  Exchange ex(h.env());
  FakeServerStream s("POST", "/v1/chat/completions", kChat);
  bool done = false;
  h.Start(ex, s, &done);
  ASSERT_TRUE(done);
  EXPECT_EQ(s.status, 502);
  EXPECT_EQ(ErrorCode(s), "bad_upstream_response") << s.body;
  EXPECT_EQ(s.ops.front(), Op::kHead);  // the backend's head, then dropped
  EXPECT_EQ(s.ops[1], Op::kDiscard);
  EXPECT_EQ(ex.record().status, 502);
}

}  // namespace
}  // namespace infergate::exchange::testing
