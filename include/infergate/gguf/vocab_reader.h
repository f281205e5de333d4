// The glue between a GGUF file's tokenizer.* metadata and the tokenizers (tokenize::Vocab), and
// the few other metadata values the model runner reads before any weight: the architecture, its
// context length and the chat template source.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "infergate/core/expected.h"
#include "infergate/gguf/gguf_file.h"
#include "infergate/tokenize/vocab.h"

namespace infergate::gguf {

// tokenizer.ggml.model, .pre, .tokens, .scores, .token_type, .merges, the BOS / EOS / UNK /
// padding ids and the add_bos / add_eos / add_space_prefix flags. Absent optional keys keep
// Vocab's defaults; a key of the wrong type, or an id outside the token list, is an error
// naming the key. The tokenizer itself checks the rest (Tokenizer::Create).
Expected<tokenize::Vocab, std::string> ReadVocab(const GgufFile& file);

// general.architecture.
Expected<std::string_view, std::string> Architecture(const GgufFile& file);

// {arch}.context_length: the context the model was trained with.
Expected<int64_t, std::string> ContextLength(const GgufFile& file);

// tokenizer.chat_template, "" when the file has none.
std::string_view ChatTemplateSource(const GgufFile& file);

}  // namespace infergate::gguf
