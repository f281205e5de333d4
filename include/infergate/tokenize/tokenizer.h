// Text to token ids and back for the in-process model runner: SentencePiece-style vocabularies
// (tokenizer.ggml.model = llama) and byte-level BPE (gpt2) with the Llama 3, Qwen2 and GPT-2
// pre-tokenizers, following llama.cpp's behaviour so ids match what the model was run with.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "infergate/core/expected.h"
#include "infergate/tokenize/vocab.h"

namespace infergate::tokenize {

struct TokenizerError {
  std::string message;  // what is wrong with the vocabulary, for a load-time message
};

struct EncodeOptions {
  // Prepend BOS / append EOS as the vocabulary asks (add_bos, add_eos).
  bool add_special = true;
  // Match control tokens written literally in the text ("<|im_start|>") as single tokens:
  // templates need this; user text alone should not get it. User-defined tokens are matched
  // either way, as llama.cpp does (they are ordinary pieces of text the vocabulary added).
  bool parse_special = false;
};

struct DecodeOptions {
  // Leave out control tokens (BOS, EOS, <|eot_id|>); otherwise their text is written.
  bool skip_special = true;
};

enum class TokenizerKind { kSentencePiece, kByteBpe };

// Immutable after Create: Encode and Decode may be called from any number of threads at once.
class Tokenizer {
 public:
  // Checks the vocabulary (sizes agree, ids in range, a model and pre-tokenizer it knows).
  static Expected<Tokenizer, TokenizerError> Create(Vocab vocab);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Any bytes, valid UTF-8 or not, give tokens that decode back to the same bytes; with two
  // exceptions for SentencePiece, as in llama.cpp and SentencePiece itself: a "▁" (U+2581) in
  // the text decodes as a space, and a space is added after a matched special or user-defined
  // token.
  std::vector<TokenId> Encode(std::string_view text, const EncodeOptions& options = {}) const;

  // The bytes of a token sequence, without the clean-up of spaces before punctuation that
  // llama.cpp and Hugging Face apply for some vocabularies: Decode(Encode(text)) == text, and
  // a whole decode equals the concatenated streamed pieces. SentencePiece: the space the
  // encoder put before the text is removed from the first piece that writes anything.
  std::string Decode(std::span<const TokenId> ids, const DecodeOptions& options = {}) const;

  // The raw bytes of one token, for streaming: may be part of a UTF-8 sequence (feed it to a
  // Utf8Assembler). Control tokens give "" unless with_special. An id out of range gives "".
  std::string TokenToPiece(TokenId id, bool with_special = false) const;

  TokenizerKind kind() const;
  size_t size() const;
  TokenId bos() const;
  TokenId eos() const;
  bool IsControl(TokenId id) const;
  // End of generation: EOS and the end-of-turn tokens of the chat formats (<|eot_id|>,
  // <|im_end|>, <|end_of_text|>, <|endoftext|>) when the vocabulary has them.
  bool IsEndOfGeneration(TokenId id) const;
  // The id of a token's exact text, or kNoToken.
  TokenId Find(std::string_view piece) const;
  const std::string& Text(TokenId id) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infergate::tokenize
