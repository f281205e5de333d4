// The synthetic runner's prompt token count: the gateway has no tokenizer, so a prompt token is
// a whitespace-separated word of the prompt text the request body carries. No I/O.
#pragma once

#include <cstdint>
#include <string_view>

namespace infergate::degrade {

// Counts the whitespace-separated words of the prompt text in an OpenAI request body:
//   - "messages" (chat): each message's "content" string, or the "text" of each of its parts;
//   - "prompt" (legacy completions): a string, or an array of strings;
//   - "input" (Responses API): a string, or an array of items, each a string, or a message
//     whose "content" is a string or parts with "text".
// Anything else (other fields, images, token arrays) counts nothing; a body that is not a JSON
// object counts 0.
uint64_t CountPromptWords(std::string_view body);

}  // namespace infergate::degrade
