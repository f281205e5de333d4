// Special tokens written in the text, split out before ordinary tokenization: each special
// token in turn, longest first, is cut out of every plain-text fragment that contains it, as
// llama.cpp's partition does, so "<|im_start|>" wins over any shorter token inside it.
#include "tokenize/tokenizer_data.h"

namespace infergate::tokenize {

std::vector<Fragment> SplitSpecial(const TokenizerData& data, std::string_view text,
                                   bool parse_special) {
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({kNoToken, text});
  std::vector<Fragment> next;
  for (const TokenId id : data.specials) {
    // Without parse_special only user-defined tokens are matched: they are ordinary text the
    // vocabulary chose to keep whole; control tokens must not be forged from user text.
    if (!parse_special && data.Type(id) != TokenType::kUserDefined) continue;
    const std::string& special = data.vocab.tokens[static_cast<size_t>(id)];
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.special != kNoToken) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t at; (at = rest.find(special)) != std::string_view::npos;) {
        if (at > 0) next.push_back({kNoToken, rest.substr(0, at)});
        next.push_back({id, {}});
        rest.remove_prefix(at + special.size());
      }
      if (!rest.empty()) next.push_back({kNoToken, rest});
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace infergate::tokenize
