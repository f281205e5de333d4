// Prompt words: a DOM walk over the request body's prompt fields.
#include "infergate/degrade/prompt_words.h"

#include <simdjson.h>

namespace infergate::degrade {
namespace {

namespace dom = simdjson::dom;

uint64_t Words(std::string_view text) {
  uint64_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// A string, or (one level down) an array of strings or of parts with "text".
uint64_t TextWords(dom::element e) {
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) return Words(s);
  dom::array parts;
  if (e.get_array().get(parts) != simdjson::SUCCESS) return 0;
  uint64_t n = 0;
  for (dom::element part : parts) {
    if (part.get_string().get(s) == simdjson::SUCCESS) {
      n += Words(s);
    } else if (part["text"].get_string().get(s) == simdjson::SUCCESS) {
      n += Words(s);
    }
  }
  return n;
}

// An array of messages (or, for "input", bare strings too): their contents.
uint64_t MessageWords(dom::element e) {
  dom::array items;
  if (e.get_array().get(items) != simdjson::SUCCESS) return 0;
  uint64_t n = 0;
  for (dom::element item : items) {
    std::string_view s;
    if (item.get_string().get(s) == simdjson::SUCCESS) {
      n += Words(s);
      continue;
    }
    dom::element content;
    if (item["content"].get(content) == simdjson::SUCCESS) n += TextWords(content);
  }
  return n;
}

}  // namespace

uint64_t CountPromptWords(std::string_view body) {
  thread_local dom::parser parser;
  dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) return 0;
  dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return 0;
  uint64_t n = 0;
  dom::element e;
  if (object["messages"].get(e) == simdjson::SUCCESS) n += MessageWords(e);
  if (object["prompt"].get(e) == simdjson::SUCCESS) n += TextWords(e);
  if (object["input"].get(e) == simdjson::SUCCESS) {
    std::string_view s;
    n += e.get_string().get(s) == simdjson::SUCCESS ? Words(s) : MessageWords(e);
  }
  return n;
}

}  // namespace infergate::degrade
