// An HTTP/2 stream as the exchange sees it: the response head and body are buffered until Flush,
// which hands them to the codec and waits until the client's windows let them be framed (so a
// stream whose client does not read stalls its own exchange), and a cut response ends with
// RST_STREAM, never END_STREAM.
#include "http/h2/stream.h"

#include <nghttp2/nghttp2.h>

#include <cstring>

#include "infergate/core/log.h"

namespace infergate::h2 {

Stream::Stream(StreamHost& conn, std::unique_ptr<StreamRequest> req)
    : conn_(conn),
      req_(std::move(req)),
      drained_(conn.executor()),
      send_deadline_(*conn.ctx().timers, conn.executor(), [this](int) { OnSendTimeout(); }),
      exchange_(exchange::Env{&conn.ctx(), conn.ctx().timers, &ThreadRng(),
                              conn.ctx().connector.get(), conn.executor()}) {}

void Stream::Reuse(std::unique_ptr<StreamRequest> req) {
  req_ = std::move(req);
  exchange_done = false;
  peer_gone_.Reset();
  send_deadline_.Clear();
  status_ = 200;
  head_fields_.clear();
  head_offsets_.clear();
  content_length_.reset();
  has_body_ = true;
  head_set_ = submitted_ = has_source_ = no_body_ = false;
  pending_.clear();
  if (pending_.capacity() > 64 * 1024) std::string().swap(pending_);
  pulled_ = 0;
  end_ = complete_ = reset_sent_ = closed_ = false;
}

const config::ListenerConfig& Stream::listener() const { return conn_.listener(); }
std::string_view Stream::client_address() const { return conn_.client_ip(); }

void Stream::WriteHead(const http::ResponseHead& head) {
  status_ = head.status;
  head_fields_.clear();
  head_offsets_.clear();
  for (const HeaderField& f : head.headers) {
    head_offsets_.push_back(static_cast<uint32_t>(f.name.size()));
    head_offsets_.push_back(static_cast<uint32_t>(f.value.size()));
    head_fields_.append(f.name);
    head_fields_.append(f.value);
  }
  content_length_ = head.content_length;
  has_body_ = head.has_body;
  // An answer to HEAD has no body (RFC 9110 9.3.2); its length may be announced.
  no_body_ = !head.has_body || req_->request.method == "HEAD";
  head_set_ = true;
}

void Stream::Discard() {
  if (!submitted_) head_set_ = false;
  pending_.clear();
  pulled_ = 0;
  end_ = false;
}

void Stream::Submit() {
  http::ResponseHead head;
  head.status = status_;
  head.content_length = content_length_;
  head.has_body = has_body_;
  size_t at = 0;
  for (size_t i = 0; i < head_offsets_.size(); i += 2) {
    const std::string_view name(head_fields_.data() + at, head_offsets_[i]);
    at += head_offsets_[i];
    const std::string_view value(head_fields_.data() + at, head_offsets_[i + 1]);
    at += head_offsets_[i + 1];
    head.headers.push_back({name, value});
  }
  has_source_ = !no_body_;
  submitted_ = true;
  if (no_body_) {
    pending_.clear();
    complete_ = true;  // END_STREAM on the HEADERS frame
  }
  if (!conn_.session().Respond(id(), head, has_source_ ? this : nullptr)) {
    closed_ = true;
    peer_gone_.Fire();
  }
}

asio::awaitable<bool> Stream::Flush() {
  if (closed_) co_return false;
  if (head_set_ && !submitted_) {
    Submit();
  } else if (has_source_) {
    conn_.session().Resume(id());
  }
  conn_.Kick();
  if (closed_) co_return false;
  if (!Waiting()) co_return true;
  // Absolute: a client that keeps this stream's window shut for send_timeout loses the stream.
  send_deadline_.Set(conn_.listener().send_timeout, 1);
  while (!closed_ && Waiting()) co_await drained_.Wait();
  send_deadline_.Clear();
  // Everything went out: a stream that closes as its END_STREAM is sent still succeeded.
  co_return !Waiting();
}

asio::awaitable<void> Stream::Reset() {
  // What arrived before the failure is delivered, then RST_STREAM(INTERNAL_ERROR): never
  // END_STREAM, so no client takes a cut answer for a whole one.
  end_ = false;
  const bool sent = co_await Flush();
  if (!sent || closed_) co_return;
  reset_sent_ = true;
  conn_.session().Reset(id(), NGHTTP2_INTERNAL_ERROR);
  conn_.CountReset(exchange::H2ResetCause::kUpstreamBroken);
  conn_.Kick();
}

size_t Stream::Pull(uint8_t* buf, size_t len, bool* eof) {
  const size_t n = std::min(len, pending_.size() - pulled_);
  std::memcpy(buf, pending_.data() + pulled_, n);
  pulled_ += n;
  if (pulled_ == pending_.size()) {
    pending_.clear();
    pulled_ = 0;
    if (end_) {
      *eof = true;
      complete_ = true;
    }
    drained_.Fire();
  }
  return n;
}

void Stream::OnClosed(bool by_client) {
  if (closed_) return;
  closed_ = true;
  send_deadline_.Cancel();
  if (!complete_ || by_client) peer_gone_.Fire();
  drained_.Fire();
}

void Stream::OnSendTimeout() {
  if (closed_) return;
  IG_WARN("h2 client %s did not read stream %d for %s; resetting it", conn_.client_ip().data(),
          id(), FormatDuration(conn_.listener().send_timeout).c_str());
  conn_.session().Reset(id(), NGHTTP2_CANCEL);
  conn_.CountReset(exchange::H2ResetCause::kSendTimeout);
  reset_sent_ = true;
  OnClosed(false);
  conn_.Kick();
}

asio::awaitable<void> Stream::AnswerError() {
  thread_local TimePoint last_warn{};
  if (WarnDue(last_warn)) {
    IG_WARN("h2 client %s: request refused: %s (logged once per 10s)", conn_.client_ip().data(),
            req_->error->message.c_str());
  }
  std::string request_id;
  const std::string body = exchange::RecordTransportError(
      conn_.snapshot(), conn_.ctx().timers->Now(), *req_->error, http::Protocol::kH2, &request_id,
      {conn_.client_ip(), conn_.listener().name, conn_.ctx().access_log});
  http::ResponseHead head;
  head.status = DescribeError(req_->error->kind).status;
  head.content_length = body.size();
  head.headers = {{"content-type", "application/json"}, {"x-request-id", request_id}};
  WriteHead(head);
  WriteBody(body);
  WriteEnd();
  co_await Flush();
}

}  // namespace infergate::h2
