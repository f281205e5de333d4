// The HTTP/2 server connection over a socket pair, its exchange on the fake upstream and a manual
// clock: keepalive_timeout after the last stream closed by a reset the server sent.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "infergate/exchange/connection_limits.h"
#include "infergate/http/h2/transport.h"
#include "support/h2_frames.h"
#include "unit/exchange/fakes.h"

namespace infergate::h2 {
namespace {

using namespace std::chrono_literals;
namespace fakes = exchange::testing;
namespace raw = infergate::testing::h2;

const std::string kYaml = R"(listeners:
  - {name: public, listen: "127.0.0.1:0", keepalive_timeout: 1s, send_timeout: 500ms}
pools:
  - {name: main, backends: ["http://127.0.0.1:9001"]}
routes:
  - {name: chat, match: {path_prefix: /v1/}, to: main, retries: 0}
)";

class H2KeepaliveTest : public ::testing::Test {
 protected:
  H2KeepaliveTest() {
    auto connector = std::make_unique<fakes::FakeConnector>(h_.io.get_executor());
    connector_ = connector.get();
    h_.worker.io = &h_.io;
    h_.worker.connector = std::move(connector);
    h_.worker.listeners.push_back(listener_.get());
    h_.worker.sheddable.resize(1);
  }
  // The client goes away, so the connection ends before the listener it counts in.
  ~H2KeepaliveTest() override {
    if (fd_ < 0) return;
    close(fd_);
    for (int i = 0; i < 50; ++i) {
      h_.io.poll();
      h_.io.restart();
    }
  }

  // Opens a connection whose first bytes are `initial` (the preface and what follows).
  void Open(const std::string& initial) {
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ASSERT_EQ(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    fd_ = fds[1];
    boost::asio::ip::tcp::socket s(h_.io);
    boost::system::error_code ec;
    s.assign(boost::asio::ip::tcp::v4(), fds[0], ec);
    ASSERT_FALSE(ec);
    ASSERT_TRUE(listener_->slots.TryTake());
    ServeConnection(h_.worker, 0, std::move(s), initial);
  }

  // Runs what is ready and parses what the server wrote; eof_ once it closed.
  std::vector<raw::ParsedFrame> Pump() {
    for (int i = 0; i < 50; ++i) {
      h_.io.poll();
      h_.io.restart();
      char buf[4096];
      while (!eof_) {
        const ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
        if (n <= 0) {
          eof_ = n == 0;
          break;
        }
        out_.append(buf, static_cast<size_t>(n));
      }
    }
    return raw::ParseFrames(out_);
  }

  fakes::Harness h_{kYaml};
  std::unique_ptr<exchange::ListenerRuntime> listener_ =
      std::make_unique<exchange::ListenerRuntime>(10, h_.registry, "public");
  fakes::FakeConnector* connector_ = nullptr;
  int fd_ = -1;
  std::string out_;
  bool eof_ = false;
};

// Found by the server-path fuzz driver's HTTP/2 mode: a stream reset because its upstream broke
// mid-body closes only when the write loop sends its RST_STREAM, after its exchange ended; the
// connection then never armed keepalive_timeout and stayed open, holding its listener slot, for
// as long as the client kept it.
TEST_F(H2KeepaliveTest, TimeoutFollowsALastStreamResetForABrokenUpstream) {
  fakes::Script cut;
  cut.pieces = {"data: a\n\n", "data: b\n\n"};
  cut.break_at_piece = 1;
  connector_->scripts[0].push_back(cut);
  Open(std::string(raw::kPreface) + raw::Settings() +
       raw::Headers(1, raw::Block(raw::RequestFields("POST", "/v1/chat/completions")), false) +
       raw::Data(1, R"({"model":"m","stream":true,"messages":[]})", true));

  bool reset = false;
  for (const raw::ParsedFrame& f : Pump()) {
    EXPECT_FALSE(f.stream == 1 && (f.flags & raw::kEndStream)) << "a cut answer ended cleanly";
    reset |= f.type == raw::kRstStream && f.stream == 1 && f.ErrorCode() == raw::kInternalError;
  }
  EXPECT_TRUE(reset);
  EXPECT_EQ(h_.worker.active_requests, 0u);

  h_.Advance(1100ms);
  bool goaway = false;
  for (const raw::ParsedFrame& f : Pump()) goaway |= f.type == raw::kGoaway;
  EXPECT_TRUE(goaway) << "no GOAWAY after keepalive_timeout";
  EXPECT_TRUE(eof_) << "the connection is still open after keepalive_timeout";
  EXPECT_EQ(h_.worker.active_connections, 0u);
  EXPECT_EQ(listener_->slots.open(), 0u);
}

// The same when the stream is reset because its client kept the window shut for send_timeout:
// its exchange ends first (and forgets the stream), the RST_STREAM goes out after.
TEST_F(H2KeepaliveTest, TimeoutFollowsALastStreamResetForAShutWindow) {
  fakes::Script big;
  big.headers = {{"content-length", "70000"}};
  big.pieces = {std::string(70000, 'x')};
  connector_->scripts[0].push_back(big);
  Open(std::string(raw::kPreface) + raw::Settings() +
       raw::Headers(1, raw::Block(raw::RequestFields("GET", "/v1/files")), true));
  Pump();
  h_.Advance(600ms);  // send_timeout: the stream is reset
  bool reset = false;
  for (const raw::ParsedFrame& f : Pump()) {
    reset |= f.type == raw::kRstStream && f.stream == 1 && f.ErrorCode() == raw::kCancel;
  }
  EXPECT_TRUE(reset);
  EXPECT_EQ(h_.worker.active_requests, 0u);

  h_.Advance(1100ms);
  bool goaway = false;
  for (const raw::ParsedFrame& f : Pump()) goaway |= f.type == raw::kGoaway;
  EXPECT_TRUE(goaway) << "no GOAWAY after keepalive_timeout";
  EXPECT_TRUE(eof_) << "the connection is still open after keepalive_timeout";
  EXPECT_EQ(listener_->slots.open(), 0u);
}

}  // namespace
}  // namespace infergate::h2
