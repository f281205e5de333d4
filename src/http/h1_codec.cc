// HTTP/1.1 request and response codecs over Beast's basic_parser (no I/O here).
#include "infergate/http/h1_codec.h"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstdio>
#include <memory>

namespace infergate::http {
namespace beast_http = boost::beast::http;
using namespace std::string_view_literals;  // literals appended without a strlen each
using bsv = boost::beast::string_view;
using boost::system::error_code;

namespace {

// A fresh parser for the next message, in the previous one's memory when there is one: Beast's
// parsers cannot be reset, and allocating one per message cost a malloc and a free per request.
template <typename P, typename Owner>
void Renew(std::unique_ptr<P>& parser, Owner* owner) {
  if (!parser) {
    parser = std::make_unique<P>(owner);
    return;
  }
  std::destroy_at(parser.get());
  std::construct_at(parser.get(), owner);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Transfer-Encoding must be exactly "chunked": anything else ("gzip", "chunked, chunked",
// "chunked, gzip", obfuscations such as "xchunked") is refused rather than interpreted.
bool IsPlainChunked(std::string_view value) { return IEquals(Trim(value), "chunked"); }

// Beast accepts obs-fold (a field line continued on the next line) and joins the lines with a
// space, so the value never holds a line break. A value not found right after "name:" and
// optional whitespace in the input was folded. (The line ends in CRLF within the input, so the
// scan stops inside it.)
bool IsObsFolded(std::string_view name, std::string_view value) {
  const char* p = name.data() + name.size() + 1;  // past ':'
  while (*p == ' ' || *p == '\t') ++p;
  return p != value.data();
}

// Beast 1.81 asserts (in debug builds) that a pending last chunk is re-parsed from at least 5
// bytes, though "0\r\n" then "\r" is legal input (fixed upstream by Beast PR #2861). No chunked
// body ends in fewer than 5 bytes from a chunk-size line ("0\r\n\r\n"), so the decoders do not
// call put() there with less. `P::at_chunk_size` is maintained by the chunk callbacks.
template <class P>
bool ShortAtChunkSize(const P& parser, size_t available) {
  return parser.is_header_done() && parser.chunked() && parser.at_chunk_size && available < 5;
}

// What the bytes waiting at a chunk-size line hold when Beast consumed none of them: Beast
// buffers a chunk-size line (with its extensions) until its CRLF, and the last chunk's trailer
// section until its blank line, with no limit of its own.
enum class PendingChunk { kOk, kLineTooLong, kTrailersTooLong };

PendingChunk CheckPendingChunk(std::string_view data, uint64_t trailer_budget) {
  // A CRLF that ends the previous chunk's data comes first (not at the first chunk, where an
  // empty line is malformed anyway and Beast rejects it).
  const size_t start = data.starts_with("\r\n") ? 2 : 0;
  const size_t eol = data.find('\n', start);
  if (eol == std::string_view::npos) {
    return data.size() - start > kMaxChunkLineBytes ? PendingChunk::kLineTooLong
                                                    : PendingChunk::kOk;
  }
  if (eol - start > kMaxChunkLineBytes) return PendingChunk::kLineTooLong;
  // A zero chunk size: the last chunk, then trailer fields up to a blank line.
  size_t digits = start;
  while (digits < eol && data[digits] == '0') ++digits;
  const bool last =
      digits > start && (digits == eol || data[digits] == ';' || data[digits] == '\r' ||
                         data[digits] == ' ' || data[digits] == '\t');
  if (!last) return PendingChunk::kOk;
  const size_t trailers = eol + 1;
  size_t end = data.find("\r\n\r\n", eol - 1);
  const size_t held = end == std::string_view::npos ? data.size() - trailers : end + 4 - trailers;
  return held > trailer_budget ? PendingChunk::kTrailersTooLong : PendingChunk::kOk;
}

}  // namespace

std::string_view RequestHead::Get(std::string_view name) const {
  for (const auto& h : headers) {
    if (IEquals(h.name, name)) return h.value;
  }
  return {};
}

bool RequestHead::Has(std::string_view name) const {
  for (const auto& h : headers) {
    if (IEquals(h.name, name)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Request decoder

class RequestDecoder::Parser final : public beast_http::basic_parser<true> {
 public:
  explicit Parser(RequestDecoder* d) : d_(d) {}

 private:
  void on_response_impl(int, bsv, int, error_code&) override {}
  void on_request_impl(beast_http::verb, bsv method_b, bsv target_b, int version,
                       error_code&) override {
    std::string_view method(method_b), target(target_b);
    auto& s = d_->storage_;
    s.append(method);
    s.append(target);
    method_len_ = method.size();
    target_len_ = target.size();
    d_->head_.version = version;
  }

  void on_field_impl(beast_http::field f, bsv name_b, bsv value_b, error_code& ec) override {
    std::string_view name(name_b), value(value_b);
    if (++d_->field_count_ > d_->limits_.max_headers) {
      d_->pending_error_ =
          Error{ErrorKind::kHeaderTooLarge,
                "too many request headers (limit " + std::to_string(d_->limits_.max_headers) + ")"};
      ec = beast_http::error::header_limit;
      return;
    }
    // Trailer fields (after a chunked body) are dropped: appending them to storage_ could
    // reallocate it under the head's views.
    if (is_header_done()) return;
    if (IsObsFolded(name, value)) {
      d_->pending_error_ = Error{ErrorKind::kBadRequest, "obsolete line folding in a header"};
      ec = beast_http::error::bad_value;
      return;
    }
    if (f == beast_http::field::transfer_encoding) {
      ++d_->te_count_;
      if (!IsPlainChunked(value)) d_->te_bad_ = true;
    } else if (f == beast_http::field::host) {
      ++d_->host_count_;
    }
    auto& s = d_->storage_;
    FieldOffsets o{static_cast<uint32_t>(s.size()), static_cast<uint32_t>(name.size()), 0, 0};
    // Names are kept lower-case, as every transport hands them to the exchange.
    s.append(name);
    for (size_t i = o.name_off; i < s.size(); ++i) {
      if (s[i] >= 'A' && s[i] <= 'Z') s[i] = static_cast<char>(s[i] + 32);
    }
    o.value_off = static_cast<uint32_t>(s.size());
    o.value_len = static_cast<uint32_t>(value.size());
    s.append(value);
    d_->offsets_.push_back(o);
  }

  void on_header_impl(error_code& ec) override {
    auto& h = d_->head_;
    const std::string& s = d_->storage_;
    h.method = std::string_view(s).substr(0, method_len_);
    h.target = std::string_view(s).substr(method_len_, target_len_);
    h.headers.clear();
    h.headers.reserve(d_->offsets_.size());
    for (const auto& o : d_->offsets_) {
      h.headers.push_back({std::string_view(s).substr(o.name_off, o.name_len),
                           std::string_view(s).substr(o.value_off, o.value_len)});
    }
    h.host = h.Get("host");
    h.chunked = chunked();
    h.keep_alive = keep_alive();
    auto cl = content_length();
    h.content_length = cl ? std::optional<uint64_t>(*cl) : std::nullopt;
    h.expect_continue = IEquals(Trim(h.Get("expect")), "100-continue");
    Error err = d_->SmugglingCheck();
    if (err.kind != ErrorKind::kInternal) {
      d_->pending_error_ = std::move(err);
      ec = beast_http::error::bad_transfer_encoding;
      return;
    }
    if (auto bad = ParseTarget(h.method, h.target, &target_)) {
      d_->pending_error_ = Error{ErrorKind::kBadRequest, std::move(*bad)};
      ec = beast_http::error::bad_target;
      return;
    }
    h.target_form = target_.form;
    h.path = target_.path;
    h.path_and_query = target_.path_and_query;
    if (target_.form == TargetForm::kAbsolute) {
      // RFC 9112 3.2.2: the target's authority is the host; the Host field is ignored. An empty
      // path is "/" (the query, if any, stays).
      h.host = target_.authority;
      if (h.path.empty()) {
        d_->target_storage_.assign("/");
        d_->target_storage_.append(h.path_and_query);
        h.path_and_query = d_->target_storage_;
        h.path = std::string_view(d_->target_storage_).substr(0, 1);
      }
    }
  }

  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    size_t reserve = length ? static_cast<size_t>(*length) : 0;
    d_->body_.reserve(reserve + 64);
  }

  size_t on_body_impl(bsv body_b, error_code&) override {
    std::string_view body(body_b);
    Append(body);
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t size, bsv, error_code&) override {
    if (size != 0) at_chunk_size = false;
  }

  size_t on_chunk_body_impl(std::uint64_t remain, bsv body_b, error_code&) override {
    std::string_view body(body_b);
    Append(body);
    if (body.size() == remain) at_chunk_size = true;
    return body.size();
  }

  void on_finish_impl(error_code&) override {}

  void Append(std::string_view piece) {
    auto& b = d_->body_;
    if (b.capacity() < b.size() + piece.size() + 64) b.reserve((b.size() + piece.size()) * 2 + 64);
    b.append(piece);
  }

  RequestDecoder* d_;
  TargetParts target_;
  size_t method_len_ = 0;
  size_t target_len_ = 0;

 public:
  // Bytes of the head consumed so far. Beast limits the request line and the fields separately,
  // so the decoder checks the whole head against max_header_bytes itself.
  uint64_t head_bytes = 0;
  bool at_chunk_size = true;  // a chunked body's next bytes are a chunk-size line
};

RequestDecoder::RequestDecoder(const RequestLimits& limits) : limits_(limits) { Reset(); }
RequestDecoder::~RequestDecoder() = default;

void RequestDecoder::Reset() {
  Renew(parser_, this);
  parser_->header_limit(
      static_cast<uint32_t>(std::min<uint64_t>(limits_.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(limits_.max_body_bytes);
  parser_->eager(false);  // stop at the end of the head so its size is known; eager after it
  auto headers = std::move(head_.headers);  // keep the vector's capacity across requests
  headers.clear();
  head_ = RequestHead{};
  head_.headers = std::move(headers);
  storage_.clear();
  offsets_.clear();
  body_.clear();
  if (body_.capacity() > (64u << 10)) body_.shrink_to_fit();
  body_.reserve(64);  // the 64 spare bytes promised by body(), also for an empty body
  te_count_ = host_count_ = field_count_ = 0;
  te_bad_ = head_reported_ = started_ = false;
  pending_error_.reset();
}

Error RequestDecoder::SmugglingCheck() {
  if (te_count_ > 0) {
    if (head_.version < 11)
      return {ErrorKind::kBadRequest, "Transfer-Encoding in an HTTP/1.0 request"};
    if (te_count_ > 1 || te_bad_) {
      return {ErrorKind::kBadRequest,
              "unsupported Transfer-Encoding (only a single \"chunked\" is accepted)"};
    }
  }
  if (host_count_ > 1) return {ErrorKind::kBadRequest, "more than one Host header"};
  if (host_count_ == 0 && head_.version >= 11)
    return {ErrorKind::kBadRequest, "missing Host header"};
  if (head_.method == "CONNECT") return {ErrorKind::kMethodNotAllowed, "CONNECT is not supported"};
  return {ErrorKind::kInternal, {}};
}

Expected<RequestDecoder::Status, Error> RequestDecoder::Feed(std::string_view data,
                                                             size_t* consumed) {
  *consumed = 0;
  if (!data.empty()) started_ = true;
  while (true) {
    const bool in_head = !parser_->is_header_done();
    if (!in_head && parser_->chunked() && parser_->at_chunk_size) {
      const uint64_t budget = limits_.max_header_bytes > parser_->head_bytes
                                  ? limits_.max_header_bytes - parser_->head_bytes
                                  : 0;
      switch (CheckPendingChunk(data, budget)) {
        case PendingChunk::kOk:
          break;
        case PendingChunk::kLineTooLong:
          return MakeUnexpected(
              Error{ErrorKind::kBadRequest, "chunk-size line (with extensions) over " +
                                                std::to_string(kMaxChunkLineBytes) + " bytes"});
        case PendingChunk::kTrailersTooLong:
          return MakeUnexpected(Error{ErrorKind::kHeaderTooLarge,
                                      "request header block and trailers exceed " +
                                          std::to_string(limits_.max_header_bytes) + " bytes"});
      }
    }
    error_code ec;
    size_t n = ShortAtChunkSize(*parser_, data.size())
                   ? 0
                   : parser_->put(boost::asio::const_buffer(data.data(), data.size()), ec);
    *consumed += n;
    data.remove_prefix(n);
    if (ec == beast_http::error::need_more) ec = {};
    if (!ec && in_head) {
      parser_->head_bytes += n;
      if (parser_->head_bytes > limits_.max_header_bytes) ec = beast_http::error::header_limit;
      if (parser_->is_header_done()) {
        parser_->eager(true);
        if (!ec && !parser_->is_done() && !data.empty() && !pause_at_head_)
          continue;  // parse the body bytes too
      }
    }
    if (ec) {
      if (pending_error_) return MakeUnexpected(std::move(*pending_error_));
      if (ec == beast_http::error::header_limit) {
        return MakeUnexpected(Error{
            ErrorKind::kHeaderTooLarge,
            "request header block exceeds " + std::to_string(limits_.max_header_bytes) + " bytes"});
      }
      if (ec == beast_http::error::body_limit) {
        return MakeUnexpected(
            Error{ErrorKind::kBodyTooLarge,
                  "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes"});
      }
      return MakeUnexpected(
          Error{ErrorKind::kBadRequest, "malformed HTTP request: " + ec.message()});
    }
    if (parser_->is_done()) return Status::kComplete;
    if (parser_->is_header_done() && !head_reported_) {
      head_reported_ = true;
      return Status::kHeadComplete;
    }
    if (n == 0 || data.empty()) return Status::kNeedMore;
  }
}

// ---------------------------------------------------------------------------------------------
// Response decoder

class ResponseDecoder::Parser final : public beast_http::basic_parser<false> {
 public:
  explicit Parser(ResponseDecoder* d) : d_(d) {}

 private:
  void on_request_impl(beast_http::verb, bsv, bsv, int, error_code&) override {}

  void on_response_impl(int code, bsv reason_b, int version, error_code& ec) override {
    // Beast takes any 3 digits; 000-099 and 600-999 have no class (RFC 9110 15): a backend that
    // sends one broke HTTP (502), rather than the client getting a status it cannot interpret.
    if (code < 100 || code > 599) {
      ec = beast_http::error::bad_status;
      return;
    }
    // Copied: the status line can be consumed by an earlier Feed than the fields, so the caller's
    // buffer may have moved by the time OnHead runs.
    reason_.assign(reason_b.data(), reason_b.size());
    d_->head_.status = code;
    d_->head_.reason = reason_;
    d_->head_.version = version;
    d_->head_.headers.clear();
  }

  void on_field_impl(beast_http::field f, bsv name_b, bsv value_b, error_code& ec) override {
    std::string_view name(name_b), value(value_b);
    if (IsObsFolded(name, value)) {
      ec = beast_http::error::bad_value;
      return;
    }
    if (f == beast_http::field::transfer_encoding) {
      ++d_->te_count_;
      if (!IsPlainChunked(value)) d_->te_bad_ = true;
    }
    d_->head_.headers.push_back({name, value});
  }

  void on_header_impl(error_code& ec) override {
    if (d_->te_count_ > 1 || d_->te_bad_) {
      ec = beast_http::error::bad_transfer_encoding;
      return;
    }
    auto& h = d_->head_;
    h.chunked = chunked();
    h.keep_alive = keep_alive();
    auto cl = content_length();
    h.content_length = cl ? std::optional<uint64_t>(*cl) : std::nullopt;
    h.has_body = !(d_->head_request_ || (h.status >= 100 && h.status < 200) || h.status == 204 ||
                   h.status == 304);
    d_->head_done_ = true;
    d_->sink_->OnHead(h);
  }

  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}

  size_t on_body_impl(bsv body_b, error_code&) override {
    std::string_view body(body_b);
    if (!body.empty()) d_->sink_->OnBody(body);
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t size, bsv, error_code&) override {
    if (size != 0) at_chunk_size = false;
  }

  size_t on_chunk_body_impl(std::uint64_t remain, bsv body_b, error_code&) override {
    std::string_view body(body_b);
    if (!body.empty()) d_->sink_->OnBody(body);
    if (body.size() == remain) at_chunk_size = true;
    return body.size();
  }

  void on_finish_impl(error_code&) override {}

  ResponseDecoder* d_;
  std::string reason_;

 public:
  bool at_chunk_size = true;  // a chunked body's next bytes are a chunk-size line
};

ResponseDecoder::ResponseDecoder() = default;
ResponseDecoder::~ResponseDecoder() = default;

void ResponseDecoder::Start(bool head_request, uint64_t max_header_bytes) {
  Renew(parser_, this);
  parser_->header_limit(static_cast<uint32_t>(std::min<uint64_t>(max_header_bytes, UINT32_MAX)));
  parser_->body_limit(boost::none);
  parser_->eager(true);
  if (head_request) parser_->skip(true);
  auto headers = std::move(head_.headers);
  headers.clear();
  head_ = H1ResponseHead{};
  head_.headers = std::move(headers);
  head_request_ = head_request;
  max_header_bytes_ = max_header_bytes;
  head_done_ = te_bad_ = false;
  te_count_ = 0;
}

Expected<ResponseDecoder::Status, Error> ResponseDecoder::Feed(std::string_view data,
                                                               size_t* consumed,
                                                               ResponseSink& sink) {
  sink_ = &sink;
  *consumed = 0;
  while (!data.empty()) {
    if (head_done_ && parser_->chunked() && parser_->at_chunk_size &&
        CheckPendingChunk(data, max_header_bytes_) != PendingChunk::kOk) {
      return MakeUnexpected(Error{ErrorKind::kBadUpstreamResponse,
                                  "backend sent a chunk-size line or trailers over the limit"});
    }
    error_code ec;
    size_t n = ShortAtChunkSize(*parser_, data.size())
                   ? 0
                   : parser_->put(boost::asio::const_buffer(data.data(), data.size()), ec);
    *consumed += n;
    data.remove_prefix(n);
    if (ec == beast_http::error::need_more) return Status::kNeedMore;
    if (ec) {
      if (ec == beast_http::error::bad_transfer_encoding) {
        return MakeUnexpected(
            Error{ErrorKind::kBadUpstreamResponse, "backend sent an invalid Transfer-Encoding"});
      }
      return MakeUnexpected(
          Error{ErrorKind::kBadUpstreamResponse, "backend sent malformed HTTP: " + ec.message()});
    }
    if (parser_->is_done()) return Status::kComplete;
    if (n == 0) return Status::kNeedMore;
  }
  return parser_->is_done() ? Status::kComplete : Status::kNeedMore;
}

Expected<ResponseDecoder::Status, Error> ResponseDecoder::FeedEof(ResponseSink& sink) {
  sink_ = &sink;
  if (!head_done_)
    return MakeUnexpected(
        Error{ErrorKind::kUpstreamReset, "backend closed the connection before a response"});
  if (parser_->is_done()) return Status::kComplete;
  error_code ec;
  parser_->put_eof(ec);
  if (ec || !parser_->is_done()) {
    return MakeUnexpected(
        Error{ErrorKind::kUpstreamBodyBroken, "backend closed the connection mid-response"});
  }
  return Status::kComplete;
}

bool ResponseDecoder::reusable() const {
  return parser_ && parser_->is_done() && head_.keep_alive && !parser_->need_eof();
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  // One resize and two copies rather than four appends (each checking capacity): a request and
  // its response write a dozen fields.
  const size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  p = std::copy(name.begin(), name.end(), p);
  *p++ = ':';
  *p++ = ' ';
  p = std::copy(value.begin(), value.end(), p);
  *p++ = '\r';
  *p = '\n';
}

void AppendDecimal(std::string& out, uint64_t v) {
  char buf[24];
  char* p = buf + sizeof(buf);
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  out.append(p, static_cast<size_t>(buf + sizeof(buf) - p));
}

BodyFraming AppendResponseHead(std::string& out, const ResponseHead& head, int version,
                               bool no_body, bool* keep_alive) {
  BodyFraming framing = BodyFraming::kNone;
  out.append("HTTP/1.1 "sv);
  AppendDecimal(out, static_cast<uint64_t>(head.status));
  out += ' ';
  out.append(head.reason.empty() ? ReasonPhrase(head.status) : head.reason);
  out.append("\r\n"sv);
  for (const HeaderField& f : head.headers) AppendHeader(out, f.name, f.value);
  if (head.has_body) {
    if (head.content_length) {
      out.append("content-length: "sv);
      AppendDecimal(out, *head.content_length);
      out.append("\r\n"sv);
      if (!no_body) framing = BodyFraming::kLength;
    } else if (no_body) {
      // HEAD: no length to announce, nothing to frame
    } else if (version >= 11) {
      out.append("transfer-encoding: chunked\r\n"sv);
      framing = BodyFraming::kChunked;
    } else {
      framing = BodyFraming::kClose;  // an HTTP/1.0 client reads to the close
      *keep_alive = false;
    }
  }
  if (!*keep_alive) {
    out.append("connection: close\r\n"sv);
  } else if (version < 11) {
    out.append("connection: keep-alive\r\n"sv);
  }
  out.append("\r\n"sv);
  return framing;
}

void AppendChunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char hex[20];
  int n = std::snprintf(hex, sizeof(hex), "%zx\r\n", data.size());
  out.append(hex, static_cast<size_t>(n));
  out.append(data);
  out.append("\r\n");
}

}  // namespace infergate::http
