// Adding stream_options.include_usage to a streamed request body, in place.
#include "infergate/routing/stream_usage.h"

#include "infergate/routing/body_fields.h"

namespace infergate::routing {
namespace {

StreamUsageAsk Ask(const BodyFields& f) {
  if (f.stream != true) return StreamUsageAsk::kNotStreamed;
  if (f.stream_options && f.stream_options->include_usage == true) return StreamUsageAsk::kAsked;
  return StreamUsageAsk::kNotAsked;
}

}  // namespace

StreamUsageAsk ReadStreamUsageAsk(const std::string& body) {
  auto fields = ExtractBodyFields(body, body.capacity());
  return fields ? Ask(*fields) : StreamUsageAsk::kNotStreamed;
}

bool AddIncludeUsage(std::string& body) {
  // Most bodies that do not stream do not name "stream" at all: no parse for them.
  if (body.find("\"stream\"") == std::string::npos) return false;
  auto parsed = ExtractBodyFields(body, body.capacity());
  if (!parsed || Ask(*parsed) != StreamUsageAsk::kNotAsked || parsed->duplicate_stream_options)
    return false;
  const auto& so = parsed->stream_options;
  if (!so) {
    const size_t brace = body.find_first_not_of(" \t\r\n");
    if (brace == std::string::npos || body[brace] != '{') return false;
    // The object has a member ("stream"), so a comma follows the added one.
    body.insert(brace + 1, R"("stream_options":{"include_usage":true},)");
  } else if (!so->object) {
    body.replace(so->offset, so->length, R"({"include_usage":true})");
  } else if (so->has_include_usage) {
    body.replace(so->include_usage_offset, so->include_usage_length, "true");
  } else {
    body.insert(so->offset + 1,
                so->members > 0 ? R"("include_usage":true,)" : R"("include_usage":true)");
  }
  return true;
}

}  // namespace infergate::routing
