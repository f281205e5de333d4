// The HTTP/2 server connection without sockets: nghttp2's client in the same process over an
// in-memory byte stream, the real exchange per stream against scripted fake upstreams, time from
// a manual clock. Multiplexing, a stream stalled by its client's window (and its upstream read
// with it) while another flows, RST_STREAM cancelling exactly one exchange, a backend cut
// mid-stream, send_timeout per stream, idle GOAWAY and drain.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <map>
#include <set>

#include "infergate/http/byte_stream.h"
#include "infergate/http/h2/transport.h"
#include "unit/exchange/fakes.h"

namespace infergate::h2 {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using exchange::testing::Harness;
using exchange::testing::Script;

// The server's end of an in-memory connection; the test plays the client's end.
class MemoryStream final : public http::ByteStream {
 public:
  struct Shared {
    std::string to_server;
    std::string to_client;
    bool client_closed = false;
    bool server_closed = false;
    int shutdowns = 0;  // clean ends (TLS: close_notify) asked before the close
    std::unique_ptr<exchange::Wake> readable;
  };
  MemoryStream(asio::any_io_executor ex, Shared& s) : ex_(ex), s_(s) {
    s_.readable = std::make_unique<exchange::Wake>(ex);
  }
  asio::any_io_executor executor() override { return ex_; }
  asio::awaitable<std::pair<error_code, size_t>> ReadSome(asio::mutable_buffer into) override {
    while (s_.to_server.empty() && !s_.client_closed && !s_.server_closed)
      co_await s_.readable->Wait();
    if (s_.server_closed) co_return std::make_pair(asio::error::operation_aborted, size_t{0});
    if (s_.to_server.empty()) co_return std::make_pair(asio::error::eof, size_t{0});
    const size_t n = std::min(into.size(), s_.to_server.size());
    std::memcpy(into.data(), s_.to_server.data(), n);
    s_.to_server.erase(0, n);
    co_return std::make_pair(error_code{}, n);
  }
  asio::awaitable<error_code> Write(asio::const_buffer bytes) override {
    if (s_.server_closed || s_.client_closed) co_return asio::error::broken_pipe;
    s_.to_client.append(static_cast<const char*>(bytes.data()), bytes.size());
    co_return error_code{};
  }
  asio::awaitable<void> Shutdown() override {
    ++s_.shutdowns;
    co_return;
  }
  void Close() override {
    s_.server_closed = true;
    s_.readable->Fire();
  }
  std::string RemoteAddress() const override { return "192.0.2.9"; }

 private:
  asio::any_io_executor ex_;
  Shared& s_;
};

struct ClientStream {
  int status = 0;
  std::string body;
  bool closed = false;
  uint32_t code = 0;
};

// nghttp2's client over the in-memory pipe; reads (opens its window for) the streams it is told.
class Conn {
 public:
  explicit Conn(const std::string& yaml, uint32_t window = 65535) : h_(yaml) {
    h_.worker.io = &h_.io;
    auto fake = std::make_unique<exchange::testing::FakeConnector>(h_.io.get_executor());
    upstream_ = fake.get();
    h_.worker.connector = std::move(fake);
    listener_ = std::make_unique<exchange::ListenerRuntime>(100, h_.registry, "l");
    listener_->slots.TryTake();
    h_.worker.listeners.push_back(listener_.get());
    h_.worker.sheddable.resize(1);
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
                const uint8_t* v, size_t vl, uint8_t, void* ud) {
          if (std::string_view(reinterpret_cast<const char*>(n), nl) == ":status")
            static_cast<Conn*>(ud)->streams[f->hd.stream_id].status =
                std::stoi(std::string(reinterpret_cast<const char*>(v), vl));
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session* s, uint8_t, int32_t id, const uint8_t* d, size_t len, void* ud) {
          auto* c = static_cast<Conn*>(ud);
          c->streams[id].body.append(reinterpret_cast<const char*>(d), len);
          if (!c->unread.contains(id)) nghttp2_session_consume(s, id, len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, int32_t id, uint32_t code, void* ud) {
          auto& s = static_cast<Conn*>(ud)->streams[id];
          s.closed = true;
          s.code = code;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, void* ud) {
          if (f->hd.type == NGHTTP2_GOAWAY) static_cast<Conn*>(ud)->goaway = f->goaway.error_code;
          return 0;
        });
    nghttp2_option* opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_client_new2(&client_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry s[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window}};
    nghttp2_submit_settings(client_, NGHTTP2_FLAG_NONE, s, 1);
    // The preface goes with the client's first bytes, as the HTTP/1.1 connection hands it over.
    const uint8_t* data;
    std::string first;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(client_, &data)) > 0)
      first.append(reinterpret_cast<const char*>(data), n);
    ServeConnection(h_.worker, 0, std::make_unique<MemoryStream>(h_.io.get_executor(), pipe_),
                    first);
    Pump();
  }
  ~Conn() {
    pipe_.client_closed = true;
    pipe_.readable->Fire();
    Pump();
    nghttp2_session_del(client_);
  }

  int32_t Post(const char* path, const char* body = "{\"model\":\"m\"}") {
    auto nv = [](const char* n, const char* v) {
      return nghttp2_nv{(uint8_t*)n, (uint8_t*)v, std::strlen(n), std::strlen(v), 0};
    };
    nghttp2_nv h[] = {nv(":method", "POST"), nv(":scheme", "http"), nv(":authority", "t"),
                      nv(":path", path), nv("content-type", "application/json")};
    auto* b = new std::string(body);
    bodies_.emplace_back(b);
    nghttp2_data_provider prd;
    prd.source.ptr = b;
    prd.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                           nghttp2_data_source* src, void*) -> ssize_t {
      auto* s = static_cast<std::string*>(src->ptr);
      const size_t n = std::min(len, s->size());
      std::memcpy(buf, s->data(), n);
      s->erase(0, n);
      if (s->empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    const int32_t id = nghttp2_submit_request(client_, nullptr, h, 5, &prd, nullptr);
    streams[id];
    return id;
  }
  void Reset(int32_t id) { nghttp2_submit_rst_stream(client_, NGHTTP2_FLAG_NONE, id, 8); }
  void Read(int32_t id) {
    unread.erase(id);
    nghttp2_session_consume(client_, id, streams[id].body.size());
  }

  // Moves bytes both ways and runs what is ready, until nothing moves.
  void Pump() {
    for (int round = 0; round < 10000; ++round) {
      bool moved = false;
      const uint8_t* data;
      ssize_t n;
      while ((n = nghttp2_session_mem_send(client_, &data)) > 0) {
        pipe_.to_server.append(reinterpret_cast<const char*>(data), n);
        moved = true;
      }
      if (moved) pipe_.readable->Fire();
      moved = h_.io.poll() > 0 || moved;
      h_.io.restart();
      if (!pipe_.to_client.empty()) {
        nghttp2_session_mem_recv(client_, reinterpret_cast<const uint8_t*>(pipe_.to_client.data()),
                                 pipe_.to_client.size());
        pipe_.to_client.clear();
        moved = true;
      }
      if (!moved) return;
    }
  }
  void Advance(Duration d) {
    h_.timers.Advance(d);
    Pump();
  }

  Harness h_;
  exchange::testing::FakeConnector* upstream_ = nullptr;
  std::unique_ptr<exchange::ListenerRuntime> listener_;
  MemoryStream::Shared pipe_;
  nghttp2_session* client_ = nullptr;
  std::vector<std::unique_ptr<std::string>> bodies_;
  std::map<int32_t, ClientStream> streams;
  std::set<int32_t> unread;
  std::optional<uint32_t> goaway;
};

constexpr const char* kYaml =
    "listeners: [{name: l, listen: \"127.0.0.1:0\", send_timeout: 5s, keepalive_timeout: 30s}]\n"
    "pools: [{name: p, backends: [http://127.0.0.1:1], health_check: {enabled: false}}]\n"
    "routes: [{name: r, to: p}]\n";

Script Pieces(std::vector<std::string> pieces) {
  Script s;
  s.headers = {{"content-type", "text/event-stream"}};
  s.pieces = std::move(pieces);
  return s;
}

TEST(H2Connection, StreamsAreServedConcurrentlyEachByItsOwnExchange) {
  Conn c(kYaml);
  Script stalled = Pieces({"data: a\n\n", "data: never\n\n"});
  stalled.stall_at_piece = 1;
  c.upstream_->scripts[0].push_back(stalled);
  c.upstream_->scripts[0].push_back(Pieces({"data: b1\n\n", "data: b2\n\n"}));
  const int32_t a = c.Post("/v1/a");
  const int32_t b = c.Post("/v1/b");
  c.Pump();
  // b completes while a waits on its backend on the same connection.
  EXPECT_TRUE(c.streams[b].closed);
  EXPECT_EQ(c.streams[b].code, 0u);
  EXPECT_EQ(c.streams[b].status, 200);
  EXPECT_EQ(c.streams[b].body, "data: b1\n\ndata: b2\n\n");
  EXPECT_FALSE(c.streams[a].closed);
  EXPECT_EQ(c.streams[a].body, "data: a\n\n");  // forwarded as it arrived
  EXPECT_EQ(c.upstream_->log.targets.size(), 2u);
  // A complete response keeps its backend connection and is no client abort.
  EXPECT_EQ(c.upstream_->log.finished, 1);
  EXPECT_EQ(c.upstream_->log.aborted, 0);
  EXPECT_NE(c.h_.registry.Render().find("infergate_errors_total{kind=\"client_abort\"} 0"),
            std::string::npos);
}

TEST(H2Connection, AClientResetCancelsExactlyThatStreamsExchange) {
  Conn c(kYaml);
  for (int i = 0; i < 2; ++i) {
    Script s = Pieces({"data: x\n\n", "data: y\n\n"});
    s.stall_at_piece = 1;
    c.upstream_->scripts[0].push_back(s);
  }
  const int32_t a = c.Post("/v1/a");
  const int32_t b = c.Post("/v1/b");
  c.Pump();
  ASSERT_EQ(c.upstream_->log.opened, 2);
  c.Reset(a);
  c.Pump();
  EXPECT_EQ(c.upstream_->log.aborted, 1);  // a's backend connection, closed at once
  EXPECT_TRUE(c.streams[a].closed);
  EXPECT_FALSE(c.streams[b].closed);
  EXPECT_NE(c.h_.registry.Render().find("infergate_h2_resets_total{cause=\"client\"} 1"),
            std::string::npos);
}

TEST(H2Connection, AStreamItsClientDoesNotReadStallsItsUpstreamReadAlone) {
  Conn c(kYaml, 1000);
  std::vector<std::string> many(20, std::string(600, 's'));
  c.upstream_->scripts[0].push_back(Pieces(many));
  c.upstream_->scripts[0].push_back(Pieces({"data: fast\n\n", "data: done\n\n"}));
  const int32_t slow = c.Post("/v1/slow");
  c.unread.insert(slow);
  const int32_t fast = c.Post("/v1/fast");
  c.Pump();
  EXPECT_TRUE(c.streams[fast].closed);
  EXPECT_EQ(c.streams[fast].body, "data: fast\n\ndata: done\n\n");
  EXPECT_LE(c.streams[slow].body.size(), 1000u);  // the window
  // The slow stream's exchange waits for its piece to be framed: it has not read on.
  const int reads_while_stalled = c.upstream_->log.reads;
  EXPECT_LT(reads_while_stalled, 6);
  c.Pump();
  EXPECT_EQ(c.upstream_->log.reads, reads_while_stalled);
  // Reading resumes it, to the end.
  for (int i = 0; i < 40 && !c.streams[slow].closed; ++i) {
    c.Read(slow);
    c.Pump();
  }
  EXPECT_TRUE(c.streams[slow].closed);
  EXPECT_EQ(c.streams[slow].body.size(), 20u * 600);
  EXPECT_EQ(c.streams[slow].code, 0u);
}

TEST(H2Connection, AStreamWhoseWindowStaysShutIsResetAfterSendTimeout) {
  Conn c(kYaml, 100);
  c.upstream_->scripts[0].push_back(Pieces({std::string(5000, 'a'), "end"}));
  const int32_t id = c.Post("/v1/x");
  c.unread.insert(id);
  c.Pump();
  EXPECT_FALSE(c.streams[id].closed);
  c.Advance(std::chrono::seconds(5));
  EXPECT_TRUE(c.streams[id].closed);
  EXPECT_EQ(c.streams[id].code, static_cast<uint32_t>(NGHTTP2_CANCEL));
  EXPECT_GE(c.upstream_->log.aborted, 1);  // its backend connection closed
}

TEST(H2Connection, ABackendCutMidStreamEndsTheStreamWithInternalError) {
  Conn c(kYaml);
  Script s = Pieces({"data: a\n\n", "data: b\n\n", "data: c\n\n"});
  s.break_at_piece = 2;
  c.upstream_->scripts[0].push_back(s);
  const int32_t id = c.Post("/v1/x");
  c.Pump();
  ASSERT_TRUE(c.streams[id].closed);
  EXPECT_EQ(c.streams[id].code, static_cast<uint32_t>(NGHTTP2_INTERNAL_ERROR));
  EXPECT_EQ(c.streams[id].body, "data: a\n\ndata: b\n\n");  // what arrived, then the reset
}

TEST(H2Connection, GatewayErrorsKeepTheirShapeAndRequestId) {
  Conn c(
      "listeners: [{name: l, listen: \"127.0.0.1:0\"}]\n"
      "pools: [{name: p, backends: [http://127.0.0.1:1], health_check: {enabled: false}}]\n"
      "routes: [{name: r, match: {path: /v1/only}, to: p}]\n");
  const int32_t id = c.Post("/v1/other");
  c.Pump();
  ASSERT_TRUE(c.streams[id].closed);
  EXPECT_EQ(c.streams[id].status, 404);
  EXPECT_NE(c.streams[id].body.find("\"route_not_found\""), std::string::npos);
}

TEST(H2Connection, IdleConnectionGetsGoawayAfterKeepaliveTimeout) {
  Conn c(kYaml);
  const int32_t id = c.Post("/v1/x");
  c.Pump();
  ASSERT_TRUE(c.streams[id].closed);
  c.Advance(std::chrono::seconds(29));
  EXPECT_FALSE(c.goaway);
  c.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(c.goaway);
  EXPECT_EQ(*c.goaway, 0u);
  EXPECT_TRUE(c.pipe_.server_closed);
  EXPECT_EQ(c.pipe_.shutdowns, 1);  // a clean end: TLS sends close_notify
}

// A connection whose client left ends without a clean shutdown (nothing more can be sent).
TEST(H2Connection, AConnectionWhoseClientLeftIsNotShutDownCleanly) {
  Conn c(kYaml);
  const int32_t id = c.Post("/v1/x");
  c.Pump();
  ASSERT_TRUE(c.streams[id].closed);
  c.pipe_.client_closed = true;
  c.pipe_.readable->Fire();
  c.Pump();
  EXPECT_TRUE(c.pipe_.server_closed);
  EXPECT_EQ(c.pipe_.shutdowns, 0);
}

TEST(H2Connection, DrainSendsGoawayAndLetsTheStreamInFlightFinish) {
  Conn c(kYaml);
  Script s = Pieces({"data: a\n\n", "data: b\n\n"});
  s.stall_at_piece = 1;
  c.upstream_->scripts[0].push_back(s);
  const int32_t id = c.Post("/v1/x");
  c.Pump();
  ASSERT_EQ(c.h_.worker.drainables.size(), 1u);
  (*c.h_.worker.drainables.begin())->BeginDrain();
  c.Pump();
  ASSERT_TRUE(c.goaway);
  EXPECT_EQ(*c.goaway, 0u);
  EXPECT_FALSE(c.streams[id].closed);
  EXPECT_FALSE(c.pipe_.server_closed);
}

}  // namespace
}  // namespace infergate::h2
