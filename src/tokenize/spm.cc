// SentencePiece-style encoding as llama.cpp does it for "llama" vocabularies: start from single
// characters, repeatedly merge the adjacent pair whose concatenation is the token with the
// highest score (leftmost on a tie), then write each piece's token, or its bytes as <0xXX>
// tokens when the piece is not in the vocabulary.
#include <queue>

#include "infergate/tokenize/utf8.h"
#include "tokenize/tokenizer_data.h"

namespace infergate::tokenize {
namespace {

struct Symbol {
  size_t start;
  size_t length;  // 0: merged into its left neighbour
  int prev;
  int next;
};

struct Bigram {
  float score;
  int left;
  int right;
  size_t length;  // of the merged text, to recognise a bigram made stale by another merge
};

struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void SpmEncode(const TokenizerData& data, std::string_view text, std::vector<TokenId>& out) {
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    // An invalid byte is a symbol of its own; it has no token and falls back to <0xXX>.
    const size_t n = DecodeUtf8(text, pos).length;
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({pos, n, index - 1, index + 1});
    pos += n;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
  auto try_pair = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t length = symbols[left].length + symbols[right].length;
    const TokenId id = data.Find(text.substr(symbols[left].start, length));
    if (id == kNoToken) return;
    const float score = data.vocab.scores.empty() ? 0.0f : data.vocab.scores[id];
    queue.push({score, left, right, length});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_pair(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != b.length) {
      continue;
    }
    left.length = b.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_pair(left.prev, b.left);
    try_pair(b.left, left.next);
  }

  for (int i = 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].start, symbols[i].length);
    const TokenId id = data.Find(piece);
    if (id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {
      const TokenId byte = data.byte_tokens[static_cast<uint8_t>(c)];
      if (byte != kNoToken) out.push_back(byte);
    }
  }
}

}  // namespace infergate::tokenize
