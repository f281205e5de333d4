// The HTTP/2 codec against nghttp2's client side in the same process: responses as a real client
// decodes them, and flow control per stream (a client that stops reading one stream stalls that
// stream only).
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <map>

#include "infergate/http/h2/session.h"

namespace infergate::h2 {
namespace {

struct Events : SessionEvents {
  std::vector<std::unique_ptr<StreamRequest>> requests;
  std::vector<int32_t> closed;
  void OnRequest(std::unique_ptr<StreamRequest> req) override {
    requests.push_back(std::move(req));
  }
  void OnStreamClosed(int32_t id, uint32_t, bool) override { closed.push_back(id); }
  void OnFlood(Flood) override {}
};

struct Body : ResponseSource {
  std::string data;
  size_t at = 0;
  size_t Pull(uint8_t* buf, size_t len, bool* eof) override {
    const size_t n = std::min(len, data.size() - at);
    std::memcpy(buf, data.data() + at, n);
    at += n;
    if (at == data.size()) *eof = true;
    return n;
  }
};

// nghttp2's client, consuming (opening its window) only for the streams it is told to read.
class Client {
 public:
  explicit Client(uint32_t window) {
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session* s, uint8_t, int32_t id, const uint8_t*, size_t len, void* ud) {
          auto* c = static_cast<Client*>(ud);
          c->received[id] += len;
          if (c->reading[id]) nghttp2_session_consume(s, id, len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
                const uint8_t* v, size_t vl, uint8_t, void* ud) {
          static_cast<Client*>(ud)->headers[f->hd.stream_id].emplace(
              std::string(reinterpret_cast<const char*>(n), nl),
              std::string(reinterpret_cast<const char*>(v), vl));
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, int32_t id, uint32_t code, void* ud) {
          static_cast<Client*>(ud)->closed[id] = code;
          return 0;
        });
    nghttp2_option* opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_client_new2(&session, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry s[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window}};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, s, 1);
  }
  ~Client() { nghttp2_session_del(session); }

  int32_t Get(const char* path) {
    auto nv = [](const char* n, const char* v) {
      return nghttp2_nv{(uint8_t*)n, (uint8_t*)v, std::strlen(n), std::strlen(v), 0};
    };
    nghttp2_nv h[] = {nv(":method", "GET"), nv(":scheme", "http"), nv(":authority", "t"),
                      nv(":path", path)};
    return nghttp2_submit_request(session, nullptr, h, 4, nullptr, nullptr);
  }

  // Moves bytes both ways until neither side has any to send.
  void Pump(ServerSession& server) {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      const uint8_t* data;
      ssize_t n;
      while ((n = nghttp2_session_mem_send(session, &data)) > 0) {
        server.Feed(std::string_view(reinterpret_cast<const char*>(data), n));
        moved = true;
      }
      std::string out;
      server.Drain(out, SIZE_MAX);
      if (!out.empty()) {
        nghttp2_session_mem_recv(session, reinterpret_cast<const uint8_t*>(out.data()), out.size());
        moved = true;
      }
      if (!moved) return;
    }
  }

  nghttp2_session* session = nullptr;
  std::map<int32_t, size_t> received;
  std::map<int32_t, bool> reading;
  std::map<int32_t, std::multimap<std::string, std::string>> headers;
  std::map<int32_t, uint32_t> closed;
};

TEST(H2Client, ResponsesArriveAsAClientDecodesThem) {
  ManualClock clock;
  Events events;
  ServerSession server(SessionConfig{}, clock, events);
  Client client(65535);
  const int32_t id = client.Get("/v1/models");
  client.reading[id] = true;
  client.Pump(server);
  ASSERT_EQ(events.requests.size(), 1u);
  Body body;
  body.data = "{\"ok\":true}";
  http::ResponseHead head;
  head.status = 201;
  head.content_length = body.data.size();
  head.headers = {{"Content-Type", "application/json"},
                  {"X-Request-Id", "abc"},
                  {"Connection", "keep-alive"},
                  {"Transfer-Encoding", "chunked"}};
  ASSERT_TRUE(server.Respond(id, head, &body));
  client.Pump(server);
  const auto& h = client.headers[id];
  EXPECT_EQ(h.find(":status")->second, "201");
  EXPECT_EQ(h.find("content-type")->second, "application/json");  // lower-cased
  EXPECT_EQ(h.find("x-request-id")->second, "abc");
  EXPECT_EQ(h.find("content-length")->second, std::to_string(body.data.size()));
  EXPECT_EQ(h.count("connection"), 0u);  // connection-specific: never in HTTP/2
  EXPECT_EQ(h.count("transfer-encoding"), 0u);
  EXPECT_EQ(client.received[id], body.data.size());
  ASSERT_TRUE(client.closed.contains(id));
  EXPECT_EQ(client.closed[id], 0u);
}

TEST(H2Client, AStreamItsClientDoesNotReadStallsAloneAndResumesWhenRead) {
  ManualClock clock;
  Events events;
  ServerSession server(SessionConfig{}, clock, events);
  Client client(1000);  // per-stream window for responses
  const int32_t slow = client.Get("/slow");
  const int32_t fast = client.Get("/fast");
  client.reading[fast] = true;
  client.Pump(server);
  ASSERT_EQ(events.requests.size(), 2u);
  Body slow_body, fast_body;
  slow_body.data.assign(5000, 's');
  fast_body.data.assign(5000, 'f');
  http::ResponseHead head;
  ASSERT_TRUE(server.Respond(slow, head, &slow_body));
  ASSERT_TRUE(server.Respond(fast, head, &fast_body));
  client.Pump(server);
  EXPECT_EQ(client.received[fast], 5000u);
  EXPECT_TRUE(client.closed.contains(fast));
  EXPECT_EQ(client.received[slow], 1000u);  // its window, no more
  EXPECT_EQ(slow_body.at, 1000u);           // and no more pulled from its source
  EXPECT_FALSE(client.closed.contains(slow));
  // The client reads what it has: the window opens and the rest flows.
  client.reading[slow] = true;
  nghttp2_session_consume(client.session, slow, client.received[slow]);
  client.Pump(server);
  EXPECT_EQ(client.received[slow], 5000u);
  EXPECT_TRUE(client.closed.contains(slow));
}

}  // namespace
}  // namespace infergate::h2
