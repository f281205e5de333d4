// Byte-level BPE as GPT-2 defined it and llama.cpp runs it for "gpt2" vocabularies: the text is
// split into words by the pre-tokenizer, each word's bytes become printable characters through
// the byte-to-unicode mapping, and adjacent tokens merge lowest rank first (leftmost on a tie).
#include <queue>

#include "infergate/tokenize/utf8.h"
#include "tokenize/tokenizer_data.h"

namespace infergate::tokenize {

// GPT-2's bytes_to_unicode: the printable bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF
// stand for themselves; the other 68 bytes, in increasing order, take U+0100, U+0101, ...
uint32_t ByteToUnicode(uint8_t b) {
  auto printable = [](unsigned v) {
    return (v >= 0x21 && v <= 0x7E) || (v >= 0xA1 && v <= 0xAC) || (v >= 0xAE && v <= 0xFF);
  };
  if (printable(b)) return b;
  uint32_t shifted = 0;
  for (unsigned v = 0; v < b; ++v) shifted += printable(v) ? 0 : 1;
  return 0x100 + shifted;
}

int UnicodeToByte(uint32_t cp) {
  static const std::array<int, 0x144> table = [] {
    std::array<int, 0x144> t;
    t.fill(-1);
    for (int b = 0; b < 256; ++b) t[ByteToUnicode(static_cast<uint8_t>(b))] = b;
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

namespace {

struct Symbol {
  TokenId id;
  uint32_t length;  // bytes of the word it covers; 0: merged into its left neighbour
  int prev;
  int next;
};

struct Bigram {
  int32_t rank;
  int left;
  int right;
  uint32_t length;
  TokenId result;
};

struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

void EncodeWord(const TokenizerData& data, std::string_view word, std::vector<TokenId>& out) {
  if (data.ignore_merges) {
    std::string mapped;
    for (char c : word) AppendUtf8(ByteToUnicode(static_cast<uint8_t>(c)), mapped);
    if (const TokenId id = data.Find(mapped); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const int index = static_cast<int>(i);
    symbols.push_back({data.byte_tokens[static_cast<uint8_t>(word[i])], 1, index - 1, index + 1});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
  auto try_pair = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const TokenId a = symbols[left].id;
    const TokenId b = symbols[right].id;
    if (a == kNoToken || b == kNoToken) return;
    auto it = data.merges.find(uint64_t(uint32_t(a)) << 32 | uint32_t(b));
    if (it == data.merges.end()) return;
    queue.push({it->second.rank, left, right, symbols[left].length + symbols[right].length,
                it->second.result});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_pair(i - 1, i);

  while (!queue.empty()) {
    const Bigram g = queue.top();
    queue.pop();
    Symbol& left = symbols[g.left];
    Symbol& right = symbols[g.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != g.length ||
        left.next != g.right) {
      continue;
    }
    left.id = g.result;
    left.length = g.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = g.left;
    try_pair(left.prev, g.left);
    try_pair(g.left, left.next);
  }

  for (int i = 0; i >= 0; i = symbols[i].next) {
    // A byte whose character the vocabulary lacks: the unknown token if there is one.
    const TokenId id = symbols[i].id != kNoToken ? symbols[i].id : data.vocab.unk_id;
    if (id != kNoToken) out.push_back(id);
  }
}

}  // namespace

void BpeEncode(const TokenizerData& data, std::string_view text, std::vector<TokenId>& out) {
  for (std::string_view word : PreTokenize(text, data.pre)) EncodeWord(data, word, out);
}

}  // namespace infergate::tokenize
