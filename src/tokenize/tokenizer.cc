// Tokenizer: checks the vocabulary once, derives the lookup tables, and drives the encoders.
#include "infergate/tokenize/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "infergate/tokenize/utf8.h"
#include "tokenize/tokenizer_data.h"

namespace infergate::tokenize {

struct Tokenizer::Impl {
  TokenizerData data;
};

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space

Unexpected<TokenizerError> Fail(std::string message) {
  return MakeUnexpected(TokenizerError{std::move(message)});
}

bool IdOk(TokenId id, size_t n) { return id == kNoToken || (id >= 0 && size_t(id) < n); }

std::string SpmEscape(std::string_view text, bool prefix_space) {
  std::string out;
  out.reserve(text.size() + 8);
  if (prefix_space) out.append(kSpmSpace);
  for (char c : text) {
    if (c == ' ') {
      out.append(kSpmSpace);
    } else {
      out += c;
    }
  }
  return out;
}

std::string SpmUnescape(std::string_view text) {
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    if (text.substr(pos, kSpmSpace.size()) == kSpmSpace) {
      out += ' ';
      pos += kSpmSpace.size();
    } else {
      out += text[pos++];
    }
  }
  return out;
}

// "<0x0A>" -> 0x0A; -1 when the text is not a byte token's.
int ParseByteToken(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9') {
      value |= c - '0';
    } else if (c >= 'A' && c <= 'F') {
      value |= c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      value |= c - 'a' + 10;
    } else {
      return -1;
    }
  }
  return value;
}

Expected<bool, TokenizerError> Derive(TokenizerData& d) {
  Vocab& v = d.vocab;
  const size_t n = v.tokens.size();
  if (n == 0) return Fail("the vocabulary has no tokens");
  if (!v.scores.empty() && v.scores.size() != n) {
    return Fail("tokenizer.ggml.scores has " + std::to_string(v.scores.size()) + " entries for " +
                std::to_string(n) + " tokens");
  }
  if (!v.token_types.empty() && v.token_types.size() != n) {
    return Fail("tokenizer.ggml.token_type has " + std::to_string(v.token_types.size()) +
                " entries for " + std::to_string(n) + " tokens");
  }
  for (TokenId id : {v.bos_id, v.eos_id, v.unk_id, v.pad_id}) {
    if (!IdOk(id, n)) return Fail("special token id " + std::to_string(id) + " out of range");
  }
  d.types.assign(n, TokenType::kNormal);
  for (size_t i = 0; i < v.token_types.size(); ++i) {
    const int32_t t = v.token_types[i];
    d.types[i] = t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::kNormal;
  }
  d.ids.reserve(n);
  for (size_t i = 0; i < n; ++i) d.ids.emplace(v.tokens[i], static_cast<TokenId>(i));

  if (v.model == "llama") {
    d.kind = TokenizerKind::kSentencePiece;
    d.add_bos = v.add_bos.value_or(true);
    d.add_space_prefix = v.add_space_prefix.value_or(true);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      TokenId id = d.Find(name);
      if (id == kNoToken) id = d.Find(std::string(1, static_cast<char>(b)));
      d.byte_tokens[b] = id != kNoToken ? id : v.unk_id;
    }
  } else if (v.model == "gpt2") {
    d.kind = TokenizerKind::kByteBpe;
    const auto pre = PreTokenizerNamed(v.pre);
    if (!pre) {
      return Fail("unknown pre-tokenizer '" + v.pre +
                  "' (known: llama3, llama-bpe, qwen2, gpt2, default)");
    }
    d.pre = *pre;
    d.ignore_merges = d.pre == PreTokenizer::kLlama3;
    d.add_bos = v.add_bos.value_or(d.pre == PreTokenizer::kLlama3);
    d.add_space_prefix = v.add_space_prefix.value_or(false);
    for (int b = 0; b < 256; ++b) {
      std::string mapped;
      AppendUtf8(ByteToUnicode(static_cast<uint8_t>(b)), mapped);
      d.byte_tokens[b] = d.Find(mapped);
    }
    d.merges.reserve(v.merges.size());
    std::string joined;
    for (size_t rank = 0; rank < v.merges.size(); ++rank) {
      const std::string& m = v.merges[rank];
      const size_t space = m.find(' ', 1);
      if (space == std::string::npos) {
        return Fail("merge " + std::to_string(rank) + " is not two tokens: '" + m + "'");
      }
      const std::string_view left = std::string_view(m).substr(0, space);
      const std::string_view right = std::string_view(m).substr(space + 1);
      const TokenId a = d.Find(left);
      const TokenId b = d.Find(right);
      joined.assign(left).append(right);
      const TokenId merged = d.Find(joined);
      // A merge whose parts or result are not tokens could never be written out: skipped.
      if (a == kNoToken || b == kNoToken || merged == kNoToken) continue;
      d.merges.try_emplace(uint64_t(uint32_t(a)) << 32 | uint32_t(b),
                           Merge{static_cast<int32_t>(rank), merged});
    }
  } else {
    return Fail("unknown tokenizer model '" + v.model + "' (known: llama, gpt2)");
  }
  d.add_eos = v.add_eos.value_or(false);

  for (size_t i = 0; i < n; ++i) {
    const TokenType t = d.types[i];
    if (v.tokens[i].empty()) continue;
    if (t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown) {
      d.specials.push_back(static_cast<TokenId>(i));
    }
  }
  std::stable_sort(d.specials.begin(), d.specials.end(), [&](TokenId a, TokenId b) {
    return v.tokens[size_t(a)].size() > v.tokens[size_t(b)].size();
  });
  if (v.eos_id != kNoToken) d.end_of_generation.push_back(v.eos_id);
  for (std::string_view eog : {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end_of_text|>",
                               "<|endoftext|>", "<end_of_turn>", "<|end|>", "</s>"}) {
    const TokenId id = d.Find(eog);
    if (id != kNoToken && d.Type(id) == TokenType::kControl &&
        std::find(d.end_of_generation.begin(), d.end_of_generation.end(), id) ==
            d.end_of_generation.end()) {
      d.end_of_generation.push_back(id);
    }
  }
  return true;
}

}  // namespace

Expected<Tokenizer, TokenizerError> Tokenizer::Create(Vocab vocab) {
  auto impl = std::make_unique<Impl>();
  impl->data.vocab = std::move(vocab);
  if (auto ok = Derive(impl->data); !ok) return MakeUnexpected(std::move(ok.error()));
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<TokenId> Tokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  const TokenizerData& d = impl_->data;
  std::vector<TokenId> out;
  if (options.add_special && d.add_bos && d.vocab.bos_id != kNoToken) {
    out.push_back(d.vocab.bos_id);
  }
  // SentencePiece: the space prefix goes before the text at the start and after each special
  // token, as llama.cpp adds it (the model saw "▁Hello" at the start of a turn).
  bool after_special = true;
  for (const Fragment& f : SplitSpecial(d, text, options.parse_special)) {
    if (f.special != kNoToken) {
      out.push_back(f.special);
      after_special = true;
    } else if (d.kind == TokenizerKind::kSentencePiece) {
      SpmEncode(d, SpmEscape(f.text, d.add_space_prefix && after_special), out);
      after_special = false;
    } else {
      BpeEncode(d, f.text, out);
    }
  }
  if (options.add_special && d.add_eos && d.vocab.eos_id != kNoToken) {
    out.push_back(d.vocab.eos_id);
  }
  return out;
}

std::string Tokenizer::TokenToPiece(TokenId id, bool with_special) const {
  const TokenizerData& d = impl_->data;
  if (id < 0 || size_t(id) >= d.vocab.tokens.size()) return {};
  const std::string& text = d.vocab.tokens[size_t(id)];
  switch (d.Type(id)) {
    case TokenType::kControl:
      return with_special ? text : std::string();
    case TokenType::kUserDefined:
      return text;
    case TokenType::kByte:
      if (d.kind == TokenizerKind::kSentencePiece) {
        const int b = ParseByteToken(text);
        if (b >= 0) return std::string(1, static_cast<char>(b));
      }
      break;
    default:
      break;
  }
  if (d.kind == TokenizerKind::kSentencePiece) return SpmUnescape(text);
  // Byte-level BPE: each character stands for one byte; a character outside the mapping (in
  // an added token) is written as itself.
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    const CodePoint cp = DecodeUtf8(text, pos);
    const int b = cp.value == kInvalidCodePoint ? -1 : UnicodeToByte(cp.value);
    if (b >= 0) {
      out += static_cast<char>(b);
    } else {
      out.append(text, pos, cp.length);
    }
    pos += cp.length;
  }
  return out;
}

std::string Tokenizer::Decode(std::span<const TokenId> ids, const DecodeOptions& options) const {
  const TokenizerData& d = impl_->data;
  std::string out;
  // SentencePiece: the space the encoder put before the text comes off the first piece that
  // writes anything (a skipped BOS writes nothing), so Decode(Encode(text)) is text again.
  // llama.cpp strips it from the first token only; the two agree unless a skipped control
  // token comes first, where llama.cpp keeps the space.
  bool strip_space = d.kind == TokenizerKind::kSentencePiece && d.add_space_prefix;
  for (const TokenId id : ids) {
    std::string piece = TokenToPiece(id, !options.skip_special);
    if (piece.empty()) continue;
    if (strip_space && piece[0] == ' ') piece.erase(0, 1);
    strip_space = false;
    out += piece;
  }
  return out;
}

TokenizerKind Tokenizer::kind() const { return impl_->data.kind; }
size_t Tokenizer::size() const { return impl_->data.vocab.tokens.size(); }
TokenId Tokenizer::bos() const { return impl_->data.vocab.bos_id; }
TokenId Tokenizer::eos() const { return impl_->data.vocab.eos_id; }
bool Tokenizer::IsControl(TokenId id) const {
  return id >= 0 && size_t(id) < size() && impl_->data.Type(id) == TokenType::kControl;
}
bool Tokenizer::IsEndOfGeneration(TokenId id) const {
  const auto& eog = impl_->data.end_of_generation;
  return id != kNoToken && std::find(eog.begin(), eog.end(), id) != eog.end();
}
TokenId Tokenizer::Find(std::string_view piece) const { return impl_->data.Find(piece); }
const std::string& Tokenizer::Text(TokenId id) const {
  static const std::string kEmpty;
  return id >= 0 && size_t(id) < size() ? impl_->data.vocab.tokens[size_t(id)] : kEmpty;
}

}  // namespace infergate::tokenize
