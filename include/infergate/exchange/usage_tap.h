// One exchange's token accounting: the stream usage injection into the request body (per pool,
// as its inject_stream_usage says) and the usage codec between the backend's body and the
// server stream. Worker-local, like the exchange that owns it.
#pragma once

#include <string>
#include <string_view>

#include "infergate/exchange/finish.h"
#include "infergate/exchange/model_rewrite.h"
#include "infergate/exchange/usage_codec.h"
#include "infergate/http/message.h"

namespace infergate::exchange {

class UsageTap {
 public:
  // A new exchange.
  void Reset();

  // The request body for a pool: `inject` adds stream_options.include_usage to a streamed
  // request that lacks it; !inject takes a previous addition back (possible only when
  // `keep_original` was set when it was added: the body before it is kept).
  void PrepareBody(std::string& body, bool inject, bool keep_original);
  bool injected() const { return injected_; }

  // The model the client's answers are to name (response_model: requested), "" = the backend's.
  void SetResponseModel(std::string_view model) { response_model_.assign(model); }
  // A backend's head: which codec reads the body, and whether the usage event the gateway asked
  // for is removed (an SSE answer without Content-Length, to a request it was added to). True
  // when the body's length changes on its way (the model is rewritten): the transport frames it.
  bool OnHead(const http::ResponseHead& head);
  // A piece of the backend's body: `write(piece)` gets what the client gets (the piece itself,
  // unless the usage event is being removed).
  template <typename Write>
  void Relay(std::string_view piece, Write&& write) {
    if (!codec_.filtering()) {
      Out(piece, write);
      codec_.Feed(piece, nullptr);
      return;
    }
    out_.clear();
    codec_.Feed(piece, &out_);
    if (!out_.empty()) Out(std::string_view(out_), write);
  }
  // The backend's body is complete: what is still held goes out.
  template <typename Write>
  void End(Write&& write) {
    out_.clear();
    codec_.End(&out_);
    if (!out_.empty()) Out(std::string_view(out_), write);
    if (rewriter_.active()) {
      rewritten_.clear();
      rewriter_.End(&rewritten_);
      if (!rewritten_.empty()) write(std::string_view(rewritten_));
    }
  }
  // True once, when a content token has been relayed.
  bool TakeFirstToken() { return codec_.TakeFirstToken(); }
  // Copies the answer's tokens and model into the record.
  void Fill(ExchangeRecord& rec) const;

 private:
  template <typename Write>
  void Out(std::string_view bytes, Write& write) {
    if (!rewriter_.active()) {
      write(bytes);
      return;
    }
    rewritten_.clear();
    rewriter_.Feed(bytes, &rewritten_);
    if (!rewritten_.empty()) write(std::string_view(rewritten_));
  }

  UsageCodec codec_;
  ModelRewriter rewriter_;
  std::string response_model_;
  std::string rewritten_;
  std::string out_;
  std::string original_;  // the body before the injection, when it may be taken back
  bool injected_ = false;
  bool kept_original_ = false;
};

// Paths of the OpenAI endpoints that take stream_options (chat and text completions).
bool TakesStreamOptions(std::string_view path);

}  // namespace infergate::exchange
