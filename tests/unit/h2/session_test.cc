// The HTTP/2 codec without sockets: nghttp2's client side (or raw frames, for what no client
// would send) in the same process, time from a manual clock. Requests and their limits, flow
// control per stream, client resets, and each flood defence at its threshold.
#include "infergate/http/h2/session.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <map>

#include "support/h2_frames.h"

namespace infergate::h2 {
namespace {

namespace raw = testing::h2;

struct Recorder : SessionEvents {
  std::vector<std::unique_ptr<StreamRequest>> requests;
  std::vector<std::tuple<int32_t, uint32_t, bool>> closed;
  std::vector<Flood> floods;
  void OnRequest(std::unique_ptr<StreamRequest> req) override {
    requests.push_back(std::move(req));
  }
  void OnStreamClosed(int32_t id, uint32_t code, bool by_client) override {
    closed.emplace_back(id, code, by_client);
  }
  void OnFlood(Flood kind) override { floods.push_back(kind); }
};

// A response body given in one piece, or held back until released.
struct Body : ResponseSource {
  std::string data;
  size_t at = 0;
  bool ended = true;
  size_t Pull(uint8_t* buf, size_t len, bool* eof) override {
    const size_t n = std::min(len, data.size() - at);
    std::memcpy(buf, data.data() + at, n);
    at += n;
    if (at == data.size() && ended) *eof = true;
    return n;
  }
};

class RawSession : public ::testing::Test {
 protected:
  void Start(SessionConfig c = {}) {
    config_ = c;
    session_ = std::make_unique<ServerSession>(config_, clock_, events_);
    Send(std::string(raw::kPreface) + raw::Settings());
  }
  bool Send(const std::string& bytes) {
    const bool more = session_->Feed(bytes);
    session_->Drain(out_, SIZE_MAX);
    for (auto& f : raw::ParseFrames(out_)) frames_.push_back(std::move(f));
    return more;
  }
  const raw::ParsedFrame* Find(uint8_t type, uint32_t stream = 0) const {
    for (const auto& f : frames_) {
      if (f.type == type && (stream == 0 || f.stream == stream)) return &f;
    }
    return nullptr;
  }
  bool GoawayWith(uint32_t code) const {
    const raw::ParsedFrame* g = Find(raw::kGoaway);
    return g != nullptr && g->ErrorCode() == code;
  }
  std::string Get(uint32_t stream, std::string_view path = "/v1/chat/completions",
                  bool end_stream = true, const raw::Fields& extra = {}) {
    return raw::Headers(stream, raw::Block(raw::RequestFields("POST", path, extra)), end_stream);
  }

  ManualClock clock_{TimePoint(std::chrono::hours(1))};
  Recorder events_;
  SessionConfig config_;
  std::unique_ptr<ServerSession> session_;
  std::string out_;
  std::vector<raw::ParsedFrame> frames_;
};

TEST_F(RawSession, AdvertisesTheListenersSettings) {
  SessionConfig c;
  c.max_concurrent_streams = 7;
  c.initial_stream_window = 12345;
  c.max_header_bytes = 4096;
  Start(c);
  const raw::ParsedFrame* s = Find(raw::kSettings);
  ASSERT_NE(s, nullptr);
  std::map<int, uint32_t> got;
  for (size_t i = 0; i + 6 <= s->payload.size(); i += 6) {
    const int id =
        (static_cast<uint8_t>(s->payload[i]) << 8) | static_cast<uint8_t>(s->payload[i + 1]);
    uint32_t v = 0;
    for (size_t k = 2; k < 6; ++k) v = (v << 8) | static_cast<uint8_t>(s->payload[i + k]);
    got[id] = v;
  }
  EXPECT_EQ(got[NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS], 7u);
  EXPECT_EQ(got[NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE], 12345u);
  EXPECT_EQ(got[NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE], 4096u);
}

TEST_F(RawSession, DeliversEachStreamsRequestWithItsBody) {
  Start();
  Send(Get(1, "/v1/a?x=1", false,
           {{"content-type", "application/json"}, {"cookie", "a=1"}, {"cookie", "b=2"}}) +
       Get(3, "/v1/b") + raw::Data(1, "{\"m\":1}", true));
  ASSERT_EQ(events_.requests.size(), 2u);
  const StreamRequest& b = *events_.requests[0];  // stream 3 completed first
  EXPECT_EQ(b.stream_id, 3);
  EXPECT_EQ(b.request.path, "/v1/b");
  EXPECT_FALSE(b.request.had_body);
  const StreamRequest& a = *events_.requests[1];
  EXPECT_EQ(a.stream_id, 1);
  EXPECT_EQ(a.request.method, "POST");
  EXPECT_EQ(a.request.authority, "localhost");
  EXPECT_EQ(a.request.path, "/v1/a");
  EXPECT_EQ(a.request.path_and_query, "/v1/a?x=1");
  EXPECT_EQ(a.request.Get("content-type"), "application/json");
  EXPECT_EQ(a.request.Get("cookie"), "a=1; b=2");  // crumbs joined for HTTP/1.1
  EXPECT_TRUE(a.request.had_body);
  EXPECT_EQ(*a.request.body, "{\"m\":1}");
  EXPECT_GE(a.request.body->capacity(), a.request.body->size() + 64);
}

TEST_F(RawSession, RefusesTargetsTheHttp1PathRefuses) {
  Start();
  Send(Get(1, "/v1/../admin") +
       raw::Headers(3, raw::Block({{":method", "CONNECT"}, {":authority", "x:443"}}), true));
  ASSERT_EQ(events_.requests.size(), 2u);
  ASSERT_TRUE(events_.requests[0]->error);
  EXPECT_EQ(events_.requests[0]->error->kind, ErrorKind::kBadRequest);
  ASSERT_TRUE(events_.requests[1]->error);
  EXPECT_EQ(events_.requests[1]->error->kind, ErrorKind::kMethodNotAllowed);
}

TEST_F(RawSession, OpenedAndResetInOneReadNeverReachesTheConnection) {
  Start();
  std::string batch;
  for (uint32_t id = 1; id <= 99; id += 2) batch += Get(id) + raw::RstStream(id, raw::kCancel);
  Send(batch);
  EXPECT_TRUE(events_.requests.empty());
  EXPECT_TRUE(events_.floods.empty());  // 50 resets: under the default 200
}

TEST_F(RawSession, ClientResetOfARunningStreamClosesExactlyThatOne) {
  Start();
  Send(Get(1) + Get(3));
  ASSERT_EQ(events_.requests.size(), 2u);
  Send(raw::RstStream(3, raw::kCancel));
  ASSERT_EQ(events_.closed.size(), 1u);
  EXPECT_EQ(std::get<0>(events_.closed[0]), 3);
  EXPECT_TRUE(std::get<2>(events_.closed[0]));
  EXPECT_EQ(session_->stats().client_resets, 1u);
}

TEST_F(RawSession, RapidResetTripsAtTheThresholdWithGoaway) {
  SessionConfig c;
  c.max_resets = 20;
  Start(c);
  std::string batch;
  for (uint32_t id = 1, n = 0; n < 20; id += 2, ++n) batch += Get(id) + raw::RstStream(id, 8);
  EXPECT_TRUE(Send(batch));
  EXPECT_TRUE(events_.floods.empty());
  EXPECT_FALSE(Send(Get(41) + raw::RstStream(41, 8)));  // the 21st
  ASSERT_EQ(events_.floods.size(), 1u);
  EXPECT_EQ(events_.floods[0], Flood::kResets);
  EXPECT_TRUE(GoawayWith(raw::kEnhanceYourCalm));
  EXPECT_TRUE(events_.requests.empty());  // the backend got none of them
  EXPECT_FALSE(session_->Alive());
}

TEST_F(RawSession, FloodCountersStartOverEachInterval) {
  SessionConfig c;
  c.max_pings = 5;
  Start(c);
  for (int round = 0; round < 3; ++round) {
    std::string pings;
    for (int i = 0; i < 5; ++i) pings += raw::Ping();
    EXPECT_TRUE(Send(pings));
    clock_.Advance(c.flood_interval);
  }
  EXPECT_TRUE(events_.floods.empty());
}

struct FloodCase {
  const char* name;
  Flood kind;
  uint32_t SessionConfig::*limit;
  std::string (*frame)(uint32_t n);
  bool needs_open_stream;
  uint32_t counted_at_start = 0;  // the client's first SETTINGS counts too
};

class Floods : public RawSession, public ::testing::WithParamInterface<FloodCase> {};

TEST_P(Floods, TripAtTheirThreshold) {
  const FloodCase& fc = GetParam();
  SessionConfig c;
  c.*fc.limit = 10;
  Start(c);
  if (fc.needs_open_stream) Send(Get(1, "/v1/x", false));
  std::string ok;
  for (uint32_t i = fc.counted_at_start; i < 10; ++i) ok += fc.frame(i);
  EXPECT_TRUE(Send(ok)) << fc.name;
  EXPECT_TRUE(events_.floods.empty()) << fc.name;
  EXPECT_FALSE(Send(fc.frame(10))) << fc.name;
  ASSERT_EQ(events_.floods.size(), 1u) << fc.name;
  EXPECT_EQ(events_.floods[0], fc.kind);
  EXPECT_TRUE(GoawayWith(raw::kEnhanceYourCalm)) << fc.name;
}

INSTANTIATE_TEST_SUITE_P(
    Each, Floods,
    ::testing::Values(FloodCase{"ping", Flood::kPings, &SessionConfig::max_pings,
                                [](uint32_t) { return raw::Ping(); }, false},
                      FloodCase{"settings", Flood::kSettings, &SessionConfig::max_settings,
                                [](uint32_t) {
                                  return raw::Settings({{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}});
                                },
                                false, 1},
                      FloodCase{"priority", Flood::kPriority, &SessionConfig::max_priority,
                                [](uint32_t n) { return raw::Priority(101 + 2 * n); }, false},
                      FloodCase{"window_update", Flood::kWindowUpdates,
                                &SessionConfig::max_window_updates,
                                [](uint32_t) { return raw::WindowUpdate(0, 1); }, false},
                      FloodCase{"empty_data", Flood::kEmptyFrames, &SessionConfig::max_empty_frames,
                                [](uint32_t) { return raw::Data(1, "", false); }, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(RawSession, EndlessContinuationFramesAreCutOff) {
  Start();
  std::string block = raw::Block(raw::RequestFields("GET", "/"));
  std::string flood = raw::Headers(1, block, true, false);
  for (int i = 0; i < 1000; ++i) flood += raw::Continuation(1, "", false);
  EXPECT_FALSE(Send(flood));
  ASSERT_EQ(events_.floods.size(), 1u);
  EXPECT_EQ(events_.floods[0], Flood::kLibrary);
  EXPECT_TRUE(events_.requests.empty());
}

TEST_F(RawSession, HeaderBlockOverTheLimitAcrossContinuationsIsRefusedWith431) {
  SessionConfig c;
  c.max_header_bytes = 8 * 1024;
  Start(c);
  std::string block = raw::Block(raw::RequestFields("GET", "/"));
  std::string frames = raw::Headers(1, block, true, false);
  for (int i = 0; i < 3; ++i) {
    std::string more;
    raw::PutLiteral(more, "x-fill-" + std::to_string(i), std::string(4000, 'a'));
    frames += raw::Continuation(1, more, i == 2);
  }
  Send(frames);
  ASSERT_EQ(events_.requests.size(), 1u);
  ASSERT_TRUE(events_.requests[0]->error);
  EXPECT_EQ(events_.requests[0]->error->kind, ErrorKind::kHeaderTooLarge);
  EXPECT_LE(events_.requests[0]->fields.size(), c.max_header_bytes);  // not buffered past it
}

TEST_F(RawSession, HpackBombIsBoundedByTheDecodedSize) {
  Start();  // 64 KiB decoded
  std::string block = raw::Block(raw::RequestFields("GET", "/"));
  raw::PutIndexedLiteral(block, "b", std::string(4000, 'z'));
  for (int i = 0; i < 1000; ++i) raw::PutIndexed(block, 62);  // 1 byte each, 4 KB decoded
  ASSERT_LT(block.size(), 16384u);
  Send(raw::Headers(1, block, true));
  ASSERT_EQ(events_.requests.size(), 1u);
  ASSERT_TRUE(events_.requests[0]->error);
  EXPECT_EQ(events_.requests[0]->error->kind, ErrorKind::kHeaderTooLarge);
  EXPECT_LT(events_.requests[0]->fields.size(), 70u * 1024);
}

TEST_F(RawSession, TooManyHeaderFieldsIsRefusedWith431) {
  SessionConfig c;
  c.max_headers = 5;
  Start(c);
  raw::Fields extra;
  for (int i = 0; i < 6; ++i) extra.push_back({"x-h" + std::to_string(i), "v"});
  Send(Get(1, "/", true, extra));
  ASSERT_EQ(events_.requests.size(), 1u);
  ASSERT_TRUE(events_.requests[0]->error);
  EXPECT_EQ(events_.requests[0]->error->kind, ErrorKind::kHeaderTooLarge);
}

TEST_F(RawSession, BodyOverTheLimitIsRefusedWith413AtOnce) {
  SessionConfig c;
  c.max_body_bytes = 100;
  Start(c);
  Send(Get(1, "/", false) + raw::Data(1, std::string(60, 'a'), false));
  EXPECT_TRUE(events_.requests.empty());
  Send(raw::Data(1, std::string(60, 'a'), false));  // not the end, refused already
  ASSERT_EQ(events_.requests.size(), 1u);
  ASSERT_TRUE(events_.requests[0]->error);
  EXPECT_EQ(events_.requests[0]->error->kind, ErrorKind::kBodyTooLarge);
  EXPECT_TRUE(events_.requests[0]->body.empty());
}

// DATA frames of `n` bytes in all, at most 16 KiB each (the default SETTINGS_MAX_FRAME_SIZE).
std::string DataOf(uint32_t stream, size_t n, bool end_stream) {
  std::string frames;
  while (n > 0) {
    const size_t k = std::min<size_t>(n, 16384);
    n -= k;
    frames += raw::Data(stream, std::string(k, 'b'), end_stream && n == 0);
  }
  return frames;
}

TEST_F(RawSession, AConnectionsWindowStaysShutWhileItHoldsItsBodyBudget) {
  SessionConfig c;
  c.initial_connection_window = 65535;
  c.max_body_bytes = 40000;
  c.max_connection_body_bytes = 40000;
  Start(c);
  auto connection_updates = [this] {
    size_t n = 0;
    for (const auto& f : frames_) n += f.type == raw::kWindowUpdate && f.stream == 0;
    return n;
  };
  Send(Get(1, "/", false) + DataOf(1, 40000, true));  // complete: held while stream 1 is open
  ASSERT_EQ(events_.requests.size(), 1u);
  const size_t before = connection_updates();
  EXPECT_GE(before, 1u);                               // its 40000 bytes were within the budget
  Send(Get(3, "/", false) + DataOf(3, 40000, false));  // arriving: over the budget with stream 1
  EXPECT_EQ(connection_updates(), before);             // the client must wait
  http::ResponseHead head;
  head.has_body = false;
  ASSERT_TRUE(session_->Respond(1, head, nullptr));  // stream 1 ends: its body is let go
  session_->Drain(out_, SIZE_MAX);
  for (auto& f : raw::ParseFrames(out_)) frames_.push_back(std::move(f));
  EXPECT_EQ(connection_updates(), before + 1);
}

TEST_F(RawSession, ContentLengthThatDisagreesWithTheDataIsAStreamError) {
  Start();
  Send(Get(1, "/", false, {{"content-length", "10"}}) + raw::Data(1, "12345", true));
  EXPECT_TRUE(events_.requests.empty());
  const raw::ParsedFrame* rst = Find(raw::kRstStream, 1);
  ASSERT_NE(rst, nullptr);
  EXPECT_EQ(rst->ErrorCode(), raw::kProtocolError);
  EXPECT_TRUE(session_->Alive());  // only the stream
}

TEST_F(RawSession, UnfinishedHeaderBlockPastTheHeaderTimeoutClosesTheConnection) {
  Start();
  Send(raw::Headers(1, raw::Block(raw::RequestFields("GET", "/")), true, false));
  EXPECT_EQ(session_->NextDeadline(), clock_.Now() + config_.header_timeout);
  clock_.Advance(config_.header_timeout - std::chrono::milliseconds(1));
  EXPECT_TRUE(session_->Expire());
  clock_.Advance(std::chrono::milliseconds(1));
  EXPECT_FALSE(session_->Expire());
  session_->Drain(out_, SIZE_MAX);
  for (auto& f : raw::ParseFrames(out_)) frames_.push_back(std::move(f));
  EXPECT_NE(Find(raw::kGoaway), nullptr);
}

TEST_F(RawSession, BodyNotReceivedInTimeIsRefusedWith408) {
  Start();
  Send(Get(1, "/", false) + raw::Data(1, "part", false));
  clock_.Advance(config_.body_timeout);
  EXPECT_TRUE(session_->Expire());
  ASSERT_EQ(events_.requests.size(), 1u);
  ASSERT_TRUE(events_.requests[0]->error);
  EXPECT_EQ(events_.requests[0]->error->kind, ErrorKind::kRequestTimeout);
  EXPECT_EQ(session_->NextDeadline(), TimePoint::max());
}

TEST_F(RawSession, ARefusalSentBeforeTheRequestEndedResetsTheRestWithNoError) {
  SessionConfig c;
  c.max_body_bytes = 10;
  Start(c);
  Send(Get(1, "/", false) + raw::Data(1, std::string(20, 'a'), false));
  ASSERT_EQ(events_.requests.size(), 1u);
  Body body;
  body.data = "{}";
  http::ResponseHead head;
  head.status = 413;
  head.content_length = 2;
  ASSERT_TRUE(session_->Respond(1, head, &body));
  session_->Drain(out_, SIZE_MAX);
  for (auto& f : raw::ParseFrames(out_)) frames_.push_back(std::move(f));
  const raw::ParsedFrame* rst = Find(raw::kRstStream, 1);
  ASSERT_NE(rst, nullptr);
  EXPECT_EQ(rst->ErrorCode(), raw::kNoError);
}

TEST_F(RawSession, AStreamOverMaxConcurrentStreamsIsRefusedBeforeTheClientAppliedIt) {
  SessionConfig c;
  c.max_concurrent_streams = 3;
  Start(c);  // no SETTINGS ACK yet
  std::string open;
  for (uint32_t id = 1; id <= 7; id += 2) open += Get(id, "/v1/x", false);  // 4 streams
  EXPECT_TRUE(Send(open));
  const raw::ParsedFrame* rst = Find(raw::kRstStream, 7);
  ASSERT_NE(rst, nullptr);
  EXPECT_EQ(rst->ErrorCode(), 7u);  // REFUSED_STREAM: the client may retry it
  EXPECT_EQ(session_->open_streams(), 3u);
  EXPECT_EQ(session_->stats().refused, 1u);
}

TEST_F(RawSession, AStreamOverAnAppliedMaxConcurrentStreamsClosesTheConnection) {
  SessionConfig c;
  c.max_concurrent_streams = 3;
  Start(c);
  Send(raw::SettingsAck());
  std::string open;
  for (uint32_t id = 1; id <= 7; id += 2) open += Get(id, "/v1/x", false);
  Send(open);
  EXPECT_TRUE(GoawayWith(raw::kProtocolError));  // RFC 9113 5.1.2, as nghttp2 applies it
}

TEST_F(RawSession, ShutdownAnnouncesTheLastStreamAndRefusesLaterOnes) {
  Start();
  Send(Get(1) + Get(3));
  session_->Shutdown();
  session_->Drain(out_, SIZE_MAX);
  for (auto& f : raw::ParseFrames(out_)) frames_.push_back(std::move(f));
  const raw::ParsedFrame* g = Find(raw::kGoaway);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->ErrorCode(), raw::kNoError);
  EXPECT_EQ(g->GoawayLastStream(), 3u);
  Send(Get(5));
  EXPECT_EQ(events_.requests.size(), 2u);
  EXPECT_TRUE(session_->Alive());  // streams 1 and 3 are still to be answered
}

}  // namespace
}  // namespace infergate::h2
