// The client side of the HTTP/1.1 transport: one request to one backend through the
// upstream-stream seam, on a fresh connection or one of the pool's kept-alive ones.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <cstring>

#include "infergate/http/h1/transport.h"
#include "infergate/http/h1_codec.h"
#include "infergate/upstream/pool.h"

namespace infergate::h1 {
namespace {

namespace asio = boost::asio;
using namespace std::string_view_literals;  // literals appended without a strlen each
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Small enough that 10,000 streams cost little memory, large enough that a typical SSE event
// needs one read. Grows on demand.
constexpr size_t kUpstreamBufferSize = 4096;
// A request body up to this size goes out in the head's TLS record (one write, not two).
constexpr size_t kJoinBodyBytes = 16384;

class H1UpstreamStream final : public exchange::UpstreamStream, private http::ResponseSink {
 public:
  H1UpstreamStream(asio::any_io_executor ex, upstream::PoolRuntime& pool, size_t backend) {
    Open(ex, pool, backend);
  }

  // (Re)starts the stream on `backend`: a kept-alive connection from the pool, else a new one.
  // The stream's buffers keep their capacity across uses.
  void Open(asio::any_io_executor ex, upstream::PoolRuntime& pool, size_t backend) {
    pool_ = &pool;
    backend_ = backend;
    conn_ = pool.TakeIdle(backend);
    reused_ = conn_ != nullptr;
    if (!conn_) conn_ = std::make_unique<upstream::UpstreamConnection>(ex, backend);
    aborted_ = head_request_ = informational_ = feed_buffered_ = complete_ = false;
    events_ = nullptr;
  }
  // Done: the connection closes unless Finish gave it back to the pool.
  void Close() { conn_.reset(); }

  bool reused() const override { return reused_; }

  asio::awaitable<std::optional<Error>> Connect() override {
    upstream::BackendRuntime& be = pool_->backend(backend_);
    if (be.endpoints.empty()) {
      co_return Error{ErrorKind::kConnectFailed,
                      "a backend of pool " + pool_->config().name + " could not be resolved"};
    }
    // New connections to a name with several addresses start at each in turn (and fail over to
    // the next): a name that fronts several servers spreads over them.
    std::optional<upstream::ConnectFailure> failed;
    if (be.endpoints.size() == 1) {
      failed = co_await conn_->socket.Connect(be.endpoints, be.tls);
    } else {
      std::vector<boost::asio::ip::tcp::endpoint> order = be.endpoints;
      std::rotate(order.begin(), order.begin() + be.next_endpoint++ % order.size(), order.end());
      failed = co_await conn_->socket.Connect(order, be.tls);
    }
    if (!failed) co_return std::nullopt;
    if (failed->tls) {
      // Named by pool, not address (the backend and its address are in the log): the client
      // learns why, not where.
      co_return Error{
          ErrorKind::kConnectFailed,
          "TLS with a backend of pool " + pool_->config().name + " failed: " + failed->reason};
    }
    co_return Error{ErrorKind::kConnectFailed, "could not connect to a backend of pool " +
                                                   pool_->config().name + ": " + failed->reason};
  }

  asio::awaitable<std::optional<Error>> Send(const exchange::UpstreamRequest& r,
                                             exchange::ResponseEvents& events) override {
    events_ = &events;
    const http::Request& req = *r.request;
    head_request_ = req.method == "HEAD";
    upstream::BackendRuntime& be = pool_->backend(backend_);
    out_.clear();
    out_.append(req.method);
    out_ += ' ';
    out_.append(req.path_and_query);  // the very path that was routed
    out_.append(" HTTP/1.1\r\nhost: "sv);
    out_.append(be.host_header);
    out_.append("\r\n"sv);
    const config::RequestHeaderRules& rules = pool_->config().request_headers;
    if (rules.empty()) {
      http::ForEachForwardedHeader(req, r.forward, [this](std::string_view n, std::string_view v) {
        http::AppendHeader(out_, n, v);
      });
    } else {
      // The pool's rules: the fields they set or remove are dropped (the client's and the
      // gateway's own), then the set and added ones follow.
      http::ForEachForwardedHeader(req, r.forward,
                                   [this, &rules](std::string_view n, std::string_view v) {
                                     if (!rules.Drops(n)) http::AppendHeader(out_, n, v);
                                   });
      for (const auto& [n, v] : rules.set) http::AppendHeader(out_, n, v);
      for (const auto& [n, v] : rules.add) http::AppendHeader(out_, n, v);
    }
    const std::string& body = *req.body;
    if (!body.empty() || req.had_body) {
      out_.append("content-length: "sv);
      http::AppendDecimal(out_, body.size());
      out_.append("\r\n"sv);
    }
    out_.append("\r\n"sv);
    // Over TLS each buffer becomes a record of its own: a small body joins the head.
    const bool join = conn_->socket.secure() && !body.empty() && body.size() <= kJoinBodyBytes;
    if (join) out_.append(body);
    std::array<asio::const_buffer, 2> bufs = {asio::buffer(out_),
                                              asio::buffer(join ? std::string_view() : body)};
    auto [ec, n] = co_await conn_->socket.AsyncWrite(bufs, kNoThrow);
    if (ec) {
      co_return Error{ErrorKind::kUpstreamReset, "a backend of pool " + pool_->config().name +
                                                     " reset the connection: " + ec.message()};
    }
    ++conn_->requests;
    resp_.Start(head_request_);
    informational_ = false;
    while (!resp_.head_done() || informational_) {
      if (informational_) {
        // A 1xx (e.g. 103 Early Hints) ended; the real response may already be buffered.
        resp_.Start(head_request_);
        informational_ = false;
        feed_buffered_ = conn_->begin < conn_->end;
      }
      if (feed_buffered_) {
        feed_buffered_ = false;
        if (std::optional<Error> err = Feed()) co_return err;
        continue;
      }
      // The read is awaited here, not in a coroutine of its own: a frame less per response.
      auto [rec, got] = co_await conn_->socket.AsyncReadSome(ReadSpace(), kNoThrow);
      if (std::optional<Error> err = AfterRead(rec, got)) co_return err;
    }
    co_return std::nullopt;
  }

  asio::awaitable<std::optional<Error>> Read(exchange::ResponseEvents& events) override {
    events_ = &events;
    if (feed_buffered_) {
      feed_buffered_ = false;
      co_return Feed();
    }
    auto [ec, n] = co_await conn_->socket.AsyncReadSome(ReadSpace(), kNoThrow);
    co_return AfterRead(ec, n);
  }

  bool complete() const override { return complete_; }

  void Abort() override {
    aborted_ = true;
    conn_->socket.Close();
  }

  void Finish() override {
    if (complete_ && !aborted_ && resp_.reusable() && conn_->begin == conn_->end)
      pool_->ReturnIdle(std::move(conn_));
  }

 private:
  // Where the next read from the backend goes: after the buffered bytes, room made for it.
  asio::mutable_buffer ReadSpace() {
    upstream::UpstreamConnection& c = *conn_;
    if (c.buf.empty()) c.buf.resize(kUpstreamBufferSize);
    if (c.begin == c.end) {
      c.begin = c.end = 0;
    } else if (c.end == c.buf.size()) {
      std::memmove(c.buf.data(), c.buf.data() + c.begin, c.end - c.begin);
      c.end -= c.begin;
      c.begin = 0;
      if (c.end == c.buf.size()) c.buf.resize(c.buf.size() * 2);
    }
    return asio::buffer(c.buf.data() + c.end, c.buf.size() - c.end);
  }

  // A read into ReadSpace() completed: its bytes go to the response decoder (the sink relays
  // to events_), or its end or error becomes the response's.
  std::optional<Error> AfterRead(const boost::system::error_code& ec, size_t n) {
    conn_->end += n;
    if (n > 0 && !aborted_) {
      if (auto* shared = pool_->backend(backend_).shared)
        shared->Evidence(std::chrono::steady_clock::now());
      return Feed();
    }
    if (ec == asio::error::eof && !aborted_) {
      auto st = resp_.FeedEof(*this);
      if (!st) return st.error();
      complete_ = true;
      return std::nullopt;
    }
    // Named by pool, never by address: these messages reach the client.
    const std::string& pool = pool_->config().name;
    if (!resp_.head_done()) {
      return Error{ErrorKind::kUpstreamReset,
                   "a backend of pool " + pool + " reset the connection: " + ec.message()};
    }
    return Error{ErrorKind::kUpstreamBodyBroken,
                 "a backend of pool " + pool + " broke the response: " + ec.message()};
  }

  std::optional<Error> Feed() {
    upstream::UpstreamConnection& c = *conn_;
    size_t used = 0;
    auto st = resp_.Feed(std::string_view(c.buf.data() + c.begin, c.end - c.begin), &used, *this);
    c.begin += used;
    if (!st) return st.error();
    if (*st == http::ResponseDecoder::Status::kComplete) complete_ = true;
    return std::nullopt;
  }

  // ResponseSink: 1xx heads stay here; the final head goes to the exchange, protocol-neutral.
  void OnHead(const http::H1ResponseHead& h) override {
    if (h.status < 200) {
      informational_ = true;
      return;
    }
    complete_ = false;
    neutral_.status = h.status;
    neutral_.reason = h.reason;
    neutral_.headers = h.headers;
    neutral_.has_body = h.has_body;
    neutral_.content_length = h.has_body ? h.content_length : std::nullopt;
    events_->OnHead(neutral_);
  }

  void OnBody(std::string_view data) override {
    if (!informational_) events_->OnBody(data);
  }

  upstream::PoolRuntime* pool_ = nullptr;
  size_t backend_ = 0;
  std::unique_ptr<upstream::UpstreamConnection> conn_;
  bool reused_ = false;
  bool aborted_ = false;
  bool head_request_ = false;
  bool informational_ = false;
  bool feed_buffered_ = false;
  bool complete_ = false;
  exchange::ResponseEvents* events_ = nullptr;
  http::ResponseDecoder resp_;
  http::ResponseHead neutral_;
  std::string out_;
};

// Keeps a few finished streams to reuse, so a request allocates no stream object and its
// buffers keep their capacity.
class H1Connector final : public exchange::UpstreamConnector {
 public:
  explicit H1Connector(asio::any_io_executor ex) : ex_(ex) {}
  std::unique_ptr<exchange::UpstreamStream> Open(upstream::PoolRuntime& pool,
                                                 size_t backend) override {
    if (spare_.empty()) return std::make_unique<H1UpstreamStream>(ex_, pool, backend);
    std::unique_ptr<H1UpstreamStream> s = std::move(spare_.back());
    spare_.pop_back();
    s->Open(ex_, pool, backend);
    return s;
  }
  void Recycle(std::unique_ptr<exchange::UpstreamStream> stream) override {
    auto* h1 = static_cast<H1UpstreamStream*>(stream.get());  // only this connector makes them
    h1->Close();
    if (spare_.size() >= kMaxSpare) return;  // `stream` is freed
    stream.release();
    spare_.emplace_back(h1);
  }

 private:
  static constexpr size_t kMaxSpare = 64;
  asio::any_io_executor ex_;
  std::vector<std::unique_ptr<H1UpstreamStream>> spare_;
};

}  // namespace

std::unique_ptr<exchange::UpstreamConnector> MakeUpstreamConnector(asio::any_io_executor ex) {
  return std::make_unique<H1Connector>(ex);
}

}  // namespace infergate::h1
