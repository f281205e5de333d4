// Fuzz driver for the request-body reader: ExtractBodyFields over arbitrary bytes (from an exact-
// size buffer and from a padded one) checked against a strict parse, then SpliceModel.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "infergate/routing/body_fields.h"
#include "slicer.h"

namespace {

using infergate::ErrorKind;
using infergate::routing::BodyFields;
using infergate::routing::ExtractBodyFields;
using infergate::routing::SpliceModel;

void Require(bool ok) {
  if (!ok) std::abort();
}

constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;

// A body that ends exactly at the end of its allocation: ExtractBodyFields must copy it into a
// padded buffer, and under ASan any read past the end is reported.
auto ExtractExact(std::string_view body) {
  std::unique_ptr<char[]> exact(new char[body.size() + (body.empty() ? 1 : 0)]);
  if (!body.empty()) std::memcpy(exact.get(), body.data(), body.size());
  return ExtractBodyFields(std::string_view(exact.get(), body.size()), body.size());
}

// A body followed by enough readable bytes to be parsed in place. The spare bytes hold `fill`, not
// zeros: a decoder's buffer has whatever it had there before.
auto ExtractPadded(std::string_view body, char fill) {
  std::string buffer(body);
  buffer.append(kPadding, fill);
  return ExtractBodyFields(std::string_view(buffer.data(), body.size()), buffer.size());
}

bool SameFields(const BodyFields& a, const BodyFields& b) {
  return a.model == b.model && a.model_offset == b.model_offset &&
         a.model_length == b.model_length && a.stream == b.stream && a.user == b.user;
}

// What a successful extraction promises about where the raw model token is.
void CheckFields(std::string_view body, const BodyFields& f) {
  if (!f.model) {
    Require(f.model_length == 0);
    return;
  }
  Require(f.model_length >= 2);
  Require(f.model_offset <= body.size() && f.model_length <= body.size() - f.model_offset);
  const std::string_view raw = body.substr(f.model_offset, f.model_length);
  Require(raw.front() == '"' && raw.back() == '"');
  if (raw.find('\\') == std::string_view::npos) {
    Require(*f.model == raw.substr(1, raw.size() - 2));  // nothing to unescape
  }
}

// A new model name: fixed names that need escaping, the old name again, or a piece of the input.
std::string PickName(infergate::fuzz::Slicer& rng, std::string_view input, const BodyFields& f) {
  static constexpr std::string_view kNames[] = {
      "",
      "m",
      "meta-llama/Llama-3.1-70B-Instruct",
      "a\"b\\c/d",
      "tab\there\nnl\r\x01\x1f",
      "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\xa6\x99",
      "\x7f"};
  const uint64_t r = rng.Next();
  const size_t choice = r % (std::size(kNames) + 3);
  if (choice < std::size(kNames)) return std::string(kNames[choice]);
  if (choice == std::size(kNames)) return *f.model;
  if (choice == std::size(kNames) + 1) return std::string(300 + (r >> 8) % 2000, 'x');
  const size_t from = input.empty() ? 0 : (r >> 8) % input.size();
  std::string piece(input.substr(from, (r >> 24) % 64));
  // Only valid UTF-8 can come back out of a JSON string.
  if (!simdjson::validate_utf8(piece.data(), piece.size())) return "fallback";
  return piece;
}

// What a strict, whole-document parse (simdjson's DOM) says the reader must answer. On-demand
// parsing skips what it does not read, so it accepts some invalid bodies, and for those the
// answer may even depend on the bytes after the body; only valid JSON gets a required answer.
struct StrictAnswer {
  bool valid_json = false;
  bool accept = false;  // an object with at most one "model", which is a string
  std::optional<std::string> model;
  std::optional<bool> stream;       // the last "stream", when it is a boolean
  std::optional<std::string> user;  // the last "user", when it is a string
};

StrictAnswer ParseStrictly(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  const simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  StrictAnswer out;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) return out;
  out.valid_json = true;
  simdjson::dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) return out;
  int models = 0;
  bool model_is_string = true;
  for (const simdjson::dom::key_value_pair field : object) {
    std::string_view text;
    const bool is_string = field.value.get_string().get(text) == simdjson::SUCCESS;
    if (field.key == "model") {
      ++models;
      model_is_string = model_is_string && is_string;
      if (is_string) out.model.emplace(text);
    } else if (field.key == "stream") {
      bool flag = false;
      out.stream.reset();
      if (field.value.get_bool().get(flag) == simdjson::SUCCESS) out.stream = flag;
    } else if (field.key == "user") {
      out.user.reset();
      if (is_string) out.user.emplace(text);
    }
  }
  out.accept = models <= 1 && model_is_string;
  return out;
}

// Rewrites the model. Outside the raw token nothing changes; when the body is valid JSON, reading
// it again gives exactly the new model at the same offset and every other field as it was.
void CheckSplice(std::string_view body, const BodyFields& f, const std::string& name,
                 bool valid_json) {
  std::string spliced(body);
  SpliceModel(spliced, f, name);
  Require(spliced.compare(0, f.model_offset, body, 0, f.model_offset) == 0);
  const size_t tail = body.size() - f.model_offset - f.model_length;
  Require(spliced.size() >= tail);
  Require(spliced.compare(spliced.size() - tail, tail, body, body.size() - tail, tail) == 0);
  auto again = ExtractPadded(spliced, '\0');
  if (again.ok()) CheckFields(spliced, *again);
  if (!valid_json) return;
  Require(again.ok());
  Require(again->model == name);
  Require(again->model_offset == f.model_offset);
  Require(again->stream == f.stream);
  Require(again->user == f.user);
}

void CheckResult(std::string_view body,
                 const infergate::Expected<BodyFields, infergate::Error>& result) {
  if (result.ok()) {
    CheckFields(body, *result);
  } else {
    Require(result.error().kind == ErrorKind::kMalformedJson);
    Require(!result.error().message.empty());
  }
}

}  // namespace

extern "C" int FuzzBodyFields(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  infergate::fuzz::Slicer rng(body);
  static constexpr char kFills[] = {'\0', '"', '}', ' ', '\\', '\xff'};
  const auto exact = ExtractExact(body);
  const auto padded = ExtractPadded(body, kFills[rng.Next() % sizeof(kFills)]);
  CheckResult(body, exact);
  CheckResult(body, padded);
  const StrictAnswer strict = ParseStrictly(body);
  if (strict.valid_json) {
    // Valid JSON gets one answer, wherever the body sits and whatever follows it.
    Require(exact.ok() == strict.accept && padded.ok() == strict.accept);
    if (strict.accept) {
      Require(SameFields(*exact, *padded));
      Require(exact->model == strict.model && exact->stream == strict.stream &&
              exact->user == strict.user);
    }
  }
  if (!exact.ok()) return 0;
  const BodyFields& fields = *exact;
  if (!fields.model) {
    std::string unchanged(body);  // nothing located: SpliceModel leaves the body alone
    SpliceModel(unchanged, fields, "x");
    Require(unchanged == body);
  } else {
    CheckSplice(body, fields, PickName(rng, body, fields), strict.valid_json);
  }
  // Offsets that do not fit the body (a stale BodyFields) are ignored, not followed.
  BodyFields stale = fields;
  stale.model_offset = body.size();
  stale.model_length = 2 + rng.Next() % 8;
  std::string copy(body);
  SpliceModel(copy, stale, "x");
  Require(copy == body);
  return 0;
}

#ifdef INFERGATE_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return FuzzBodyFields(data, size);
}
#endif
