// The keys of a `kind: gguf` runner. The model file is opened with the GGUF reader at load, its
// tokenizer built and its chat template resolved, so a truncated file, an unknown tokenizer or
// an unrecognised template is a positioned error from --check-config rather than a runner that
// fails every request. config/infergate.yaml documents the keys.
#include <algorithm>
#include <charconv>

#include "config/yaml_reader.h"
#include "infergate/gguf/gguf_file.h"
#include "infergate/gguf/vocab_reader.h"
#include "infergate/tokenize/chat_template.h"
#include "infergate/tokenize/tokenizer.h"
#ifdef INFERGATE_CUDA
#include "infergate/llm/cuda/device.h"
#endif

namespace infergate::config::detail {
namespace {

constexpr int64_t kMaxContext = 1 << 20;
constexpr int64_t kMaxCudaDevice = 255;

// "cpu" -> -1, "cuda:N" -> N. A CUDA device is refused by a build without CUDA: the CPU build
// never needs the toolkit, and a config that asks for a GPU it cannot use must not start.
std::optional<int> ReadDevice(Reader& reader, const Value& v) {
  std::optional<std::string> text = reader.NonEmptyString(v);
  if (!text) return std::nullopt;
  if (*text == "cpu") return -1;
  constexpr std::string_view kCuda = "cuda:";
  int index = -1;
  if (text->starts_with(kCuda)) {
    const char* first = text->data() + kCuda.size();
    const char* last = text->data() + text->size();
    auto [end, ec] = std::from_chars(first, last, index);
    if (ec != std::errc() || end != last || first == last || index < 0 || index > kMaxCudaDevice)
      index = -1;
  }
  if (index < 0) {
    reader.diag().Add(v, "unknown device " + Quoted(*text) + " (allowed: cpu, cuda:N)");
    return std::nullopt;
  }
#ifndef INFERGATE_CUDA
  reader.diag().Add(v, "device " + Quoted(*text) +
                           ": this build has no CUDA support (use device: cpu, or a build "
                           "configured with CUDA)");
  return std::nullopt;
#else
  // A CUDA build on a machine without the GPU (or its driver) refuses it here, at load.
  auto device = llm::cuda::CheckDevice(index);
  if (!device) {
    reader.diag().Add(v, "device " + Quoted(*text) + ": " + device.error());
    return std::nullopt;
  }
  return index;
#endif
}

// The model file opened and its tokenizer and template checked; the file's context length when
// all is well.
std::optional<int64_t> CheckModelFile(Reader& reader, const Value& at, const std::string& path,
                                      RunnerConfig& r, const Value* template_at) {
  auto file = gguf::GgufFile::Open(path);
  if (!file) {
    reader.diag().Add(at,
                      "model file " + Quoted(path) + " is not a usable GGUF file: " + file.error());
    return std::nullopt;
  }
  auto context = gguf::ContextLength(**file);
  if (!context) {
    reader.diag().Add(at, "model file " + Quoted(path) + ": " + context.error());
    return std::nullopt;
  }
  auto vocab = gguf::ReadVocab(**file);
  if (!vocab) {
    reader.diag().Add(at, "model file " + Quoted(path) + ": " + vocab.error());
    return std::nullopt;
  }
  auto tokenizer = tokenize::Tokenizer::Create(std::move(*vocab));
  if (!tokenizer) {
    reader.diag().Add(at, "model file " + Quoted(path) + ": " + tokenizer.error().message);
    return std::nullopt;
  }
  std::string_view source = gguf::ChatTemplateSource(**file);
  auto resolved = tokenize::ResolveChatTemplate(r.chat_template, source);
  if (!resolved) {
    // An override names no file content; auto failing is about the file.
    std::string message = resolved.error().message;
    if (r.chat_template == "auto") {
      message = "model file " + Quoted(path) +
                (source.empty() ? " has no tokenizer.chat_template" : "'s chat template") + ": " +
                message + " (set chat_template to one of llama3, chatml, mistral, llama2)";
    }
    reader.diag().Add(template_at != nullptr ? *template_at : at, message);
    return std::nullopt;
  }
  r.resolved_template = std::string(tokenize::ChatTemplateName(*resolved));
  return *context;
}

}  // namespace

void ReadGgufRunner(Reader& reader, const Map& map, RunnerConfig& r) {
  Diagnostics& diag = reader.diag();
  for (std::string_view key : {"tokens", "token_cost"}) {
    if (const Value* v = map.Find(key))
      diag.Add(*v, std::string(key) + " applies to kind synthetic only");
  }
  Keys keys(reader, map);
  if (const Value* d = map.Find("device")) {
    if (auto index = ReadDevice(reader, *d)) r.cuda_device = *index;
  }
  const Value* tmpl = map.Find("chat_template");
  bool template_ok = true;
  if (tmpl != nullptr) {
    if (auto text = reader.NonEmptyString(*tmpl)) {
      r.chat_template = *text;
      if (*text != "auto" && !tokenize::ChatTemplateNamed(*text)) {
        diag.Add(*tmpl, "unknown chat_template " + Quoted(*text) +
                            " (allowed: auto, llama3, chatml, mistral, llama2)");
        template_ok = false;
      }
    } else {
      template_ok = false;
    }
  }
  const Field context = keys.Integer("context", r.context, 2, kMaxContext);
  keys.Integer("max_tokens", r.max_tokens, 1, kMaxContext);
  if (const Value* v = map.Find("kv_cache_bytes")) {
    if (auto bytes = reader.Size(*v, 1)) r.kv_cache_bytes = *bytes;
  }
  const Value* file = map.Require("model_file", diag);
  if (file == nullptr) return;
  std::optional<std::string> path = ReadableFile(reader, *file);
  if (!path) return;
  r.model_file = *path;
  if (!template_ok) return;
  std::optional<int64_t> trained = CheckModelFile(reader, *file, *path, r, tmpl);
  if (!trained) return;
  if (context.at == nullptr) {
    r.context =
        static_cast<uint32_t>(std::min<int64_t>(*trained, RunnerConfig::kDefaultContextCap));
  } else if (context.ok && r.context > *trained) {
    diag.Add(*context.at, "context " + std::to_string(r.context) + " is longer than the " +
                              std::to_string(*trained) + " tokens the model was trained with");
    return;
  }
  if (r.context < 2) return;
  if (const Value* v = map.Find("max_tokens")) {
    if (r.max_tokens >= r.context) {
      diag.Add(*v, "max_tokens " + std::to_string(r.max_tokens) +
                       " leaves no room for a prompt in the context of " +
                       std::to_string(r.context) + " tokens (at most " +
                       std::to_string(r.context - 1) + ")");
    }
  } else {
    r.max_tokens = std::min(r.max_tokens, r.context - 1);
  }
}

}  // namespace infergate::config::detail
