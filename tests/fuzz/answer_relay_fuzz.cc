// Fuzz driver for what the gateway does to a backend's answer on its way to the client: the
// model rewrite (response_model: requested) over a JSON body and an event stream, fed in the
// slicer's pieces, and the classification of an error answer. Checks: the pieces change nothing
// (the same bytes as one whole feed); a valid JSON object with a string "model" stays valid JSON
// and names the new model; an error answer gets a class only on a status that may carry one.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "infergate/exchange/model_rewrite.h"
#include "infergate/routing/error_class.h"
#include "slicer.h"

namespace {

using infergate::exchange::ModelRewriter;

void Require(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view kModel = "client/\"model\"";

std::string Whole(ModelRewriter::Format format, std::string_view in) {
  ModelRewriter r;
  r.Start(format, std::string(kModel));
  std::string out;
  r.Feed(in, &out);
  r.End(&out);
  return out;
}

std::string Sliced(ModelRewriter::Format format, std::string_view in) {
  ModelRewriter r;
  r.Start(format, std::string(kModel));
  std::string out;
  infergate::fuzz::Slicer slicer(in);
  while (!slicer.done()) r.Feed(slicer.Take(), &out);
  r.End(&out);
  return out;
}

// A JSON object whose top-level "model" is a string: the output parses and names kModel.
void CheckJson(std::string_view in, const std::string& out) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(simdjson::padded_string(in)).get(doc) != simdjson::SUCCESS) return;
  simdjson::dom::object top;
  if (doc.get_object().get(top) != simdjson::SUCCESS) return;
  std::string_view model;
  if (top.at_key("model").get_string().get(model) != simdjson::SUCCESS) return;
  simdjson::dom::element rewritten;
  Require(parser.parse(simdjson::padded_string(out)).get(rewritten) == simdjson::SUCCESS);
  std::string_view now;
  Require(rewritten.at_key("model").get_string().get(now) == simdjson::SUCCESS);
  Require(now == kModel);
}

}  // namespace

extern "C" int FuzzAnswerRelay(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  for (auto format : {ModelRewriter::Format::kJson, ModelRewriter::Format::kSse}) {
    const std::string whole = Whole(format, in);
    Require(Sliced(format, in) == whole);
    if (format == ModelRewriter::Format::kJson) CheckJson(in, whole);
  }
  for (int status : {400, 413, 422, 500}) {
    auto cls = infergate::routing::ClassifyBackendError(status, in);
    Require(!cls || infergate::routing::IsClassifiedStatus(status));
  }
  return 0;
}

#ifdef INFERGATE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return FuzzAnswerRelay(data, size);
}
#endif
