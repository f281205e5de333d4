// Token accounting in the exchange: the usage injection decided per pool before it is tried,
// and the codec that reads (and may filter) the backend's body on its way to the client.
#include "infergate/core/header_field.h"
#include "infergate/exchange/exchange.h"
#include "infergate/routing/body_fields.h"
#include "infergate/routing/stream_usage.h"

namespace infergate::exchange {

bool TakesStreamOptions(std::string_view path) { return path.ends_with("/completions"); }

void UsageTap::Reset() {
  codec_.Start(UsageCodec::Format::kNone, false);
  original_.clear();
  injected_ = kept_original_ = false;
  response_model_.clear();
  rewriter_.Start(ModelRewriter::Format::kOff, {});
}

void UsageTap::PrepareBody(std::string& body, bool inject, bool keep_original) {
  if (inject == injected_) return;
  if (inject) {
    if (keep_original) original_ = body;
    injected_ = routing::AddIncludeUsage(body);
    kept_original_ = injected_ && keep_original;
    if (!kept_original_) original_.clear();
    return;
  }
  if (!kept_original_) return;  // cannot happen: the caller keeps it when a pool may refuse
  body = std::move(original_);
  original_.clear();
  injected_ = kept_original_ = false;
}

bool UsageTap::OnHead(const http::ResponseHead& head) {
  UsageCodec::Format format = UsageCodec::Format::kNone;
  if (head.status >= 200 && head.status < 300 && head.has_body) {
    std::string_view type, encoding;
    for (const HeaderField& f : head.headers) {
      if (IEquals(f.name, "content-type")) type = f.value;
      if (IEquals(f.name, "content-encoding")) encoding = f.value;
    }
    const bool plain = encoding.empty() || IEquals(encoding, "identity");
    auto is = [type](std::string_view media) {
      return type.size() >= media.size() && IEquals(type.substr(0, media.size()), media);
    };
    if (plain && is("text/event-stream")) {
      format = UsageCodec::Format::kSse;
    } else if (plain && is("application/json")) {
      format = UsageCodec::Format::kJson;
    }
  }
  codec_.Start(format, injected_ && format == UsageCodec::Format::kSse && !head.content_length);
  const ModelRewriter::Format rewrite =
      format == UsageCodec::Format::kSse    ? ModelRewriter::Format::kSse
      : format == UsageCodec::Format::kJson ? ModelRewriter::Format::kJson
                                            : ModelRewriter::Format::kOff;
  rewriter_.Start(rewrite, response_model_);
  return rewriter_.active();
}

void UsageTap::Fill(ExchangeRecord& rec) const {
  TokenUsage u = codec_.Result();
  rec.input_tokens = u.input_tokens;
  rec.output_tokens = u.output_tokens;
  rec.tokens_estimated = u.estimated;
  rec.response_model = std::move(u.model);
}

// Before a pool is tried: the body carries stream_options.include_usage as the pool wants.
void Exchange::PrepareStreamUsage(const config::RouteConfig& route, size_t pool_index,
                                  const routing::BodyFields* known) {
  const config::Config& cfg = *snapshot_->config;
  if (known && known->stream != true) return;  // nothing streams: nothing to add or take back
  const bool inject = cfg.pools[pool_index].inject_stream_usage && TakesStreamOptions(req_->path);
  bool keep_original = false;
  if (inject && !usage_.injected()) {
    // A fallback pool that refuses stream_options needs the body as the client sent it.
    for (const config::FallbackConfig& f : route.fallbacks) {
      if (f.kind == config::FallbackConfig::Kind::kPool && !cfg.pools[f.pool].inject_stream_usage)
        keep_original = true;
    }
  }
  usage_.PrepareBody(*req_->body, inject, keep_original);
}

}  // namespace infergate::exchange
