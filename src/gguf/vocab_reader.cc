// Reads tokenizer.* metadata into tokenize::Vocab. Every key but the token list is optional, as
// in llama.cpp's loader; a present key of the wrong type is an error rather than a silent default
// (a file that says add_bos_token: 7 is broken, not "unset").
#include "infergate/gguf/vocab_reader.h"

#include <optional>
#include <utility>

namespace infergate::gguf {
namespace {

using Fail = Unexpected<std::string>;

// An optional token id: absent keeps `out`; present must name a token of the list.
std::optional<std::string> ReadId(const GgufFile& f, std::string_view key, size_t n_tokens,
                                  tokenize::TokenId& out) {
  if (f.Find(key) == nullptr) return std::nullopt;
  auto id = f.GetInt(key);
  if (!id) return id.error();
  if (*id < 0 || static_cast<uint64_t>(*id) >= n_tokens) {
    return std::string(key) + " is " + std::to_string(*id) + ", outside the " +
           std::to_string(n_tokens) + " tokens of tokenizer.ggml.tokens";
  }
  out = static_cast<tokenize::TokenId>(*id);
  return std::nullopt;
}

std::optional<std::string> ReadFlag(const GgufFile& f, std::string_view key,
                                    std::optional<bool>& out) {
  if (f.Find(key) == nullptr) return std::nullopt;
  auto v = f.GetBool(key);
  if (!v) return v.error();
  out = *v;
  return std::nullopt;
}

// An optional key read with `get` into `out`: absent leaves `out`; present with the wrong type is
// the getter's error.
template <typename T, typename Getter>
std::optional<std::string> ReadOptional(const GgufFile& f, std::string_view key, Getter get,
                                        T& out) {
  if (f.Find(key) == nullptr) return std::nullopt;
  auto value = (f.*get)(key);
  if (!value) return value.error();
  out = std::move(*value);
  return std::nullopt;
}

}  // namespace

Expected<tokenize::Vocab, std::string> ReadVocab(const GgufFile& f) {
  tokenize::Vocab v;
  auto model = f.GetString("tokenizer.ggml.model");
  if (!model) return Fail{model.error()};
  v.model = std::string(*model);
  std::string_view pre;
  if (auto e = ReadOptional(f, "tokenizer.ggml.pre", &GgufFile::GetString, pre)) return Fail{*e};
  v.pre = std::string(pre);
  auto tokens = f.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens) return Fail{tokens.error()};
  if (tokens->empty()) return Fail{std::string("tokenizer.ggml.tokens is empty")};
  v.tokens.assign(tokens->begin(), tokens->end());
  if (auto e = ReadOptional(f, "tokenizer.ggml.scores", &GgufFile::GetFloatArray, v.scores))
    return Fail{*e};
  std::vector<int64_t> types;
  if (auto e = ReadOptional(f, "tokenizer.ggml.token_type", &GgufFile::GetIntArray, types))
    return Fail{*e};
  v.token_types.assign(types.begin(), types.end());
  std::span<const std::string_view> merges;
  if (auto e = ReadOptional(f, "tokenizer.ggml.merges", &GgufFile::GetStringArray, merges))
    return Fail{*e};
  v.merges.assign(merges.begin(), merges.end());
  const size_t n = v.tokens.size();
  const std::pair<std::string_view, tokenize::TokenId*> ids[] = {
      {"tokenizer.ggml.bos_token_id", &v.bos_id},
      {"tokenizer.ggml.eos_token_id", &v.eos_id},
      {"tokenizer.ggml.unknown_token_id", &v.unk_id},
      {"tokenizer.ggml.padding_token_id", &v.pad_id},
  };
  for (const auto& [key, out] : ids) {
    if (auto e = ReadId(f, key, n, *out)) return Fail{std::move(*e)};
  }
  const std::pair<std::string_view, std::optional<bool>*> flags[] = {
      {"tokenizer.ggml.add_bos_token", &v.add_bos},
      {"tokenizer.ggml.add_eos_token", &v.add_eos},
      {"tokenizer.ggml.add_space_prefix", &v.add_space_prefix},
  };
  for (const auto& [key, out] : flags) {
    if (auto e = ReadFlag(f, key, *out)) return Fail{std::move(*e)};
  }
  return v;
}

Expected<std::string_view, std::string> Architecture(const GgufFile& f) {
  return f.GetString("general.architecture");
}

Expected<int64_t, std::string> ContextLength(const GgufFile& f) {
  auto arch = Architecture(f);
  if (!arch) return Fail{arch.error()};
  const std::string key = std::string(*arch) + ".context_length";
  auto n = f.GetInt(key);
  if (!n) return Fail{n.error()};
  if (*n <= 0) return Fail{key + " is " + std::to_string(*n) + " (expected a positive count)"};
  return *n;
}

std::string_view ChatTemplateSource(const GgufFile& f) {
  auto s = f.GetString("tokenizer.chat_template");
  return s ? *s : std::string_view();
}

}  // namespace infergate::gguf
