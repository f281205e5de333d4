// Reading the reference vector files that tests/tokenize/make_vectors.mjs writes.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "infergate/tokenize/vocab.h"

namespace infergate::tokenize::test_vectors {

namespace fs = std::filesystem;

// Where make tokenize-vectors puts them; absent until it has run.
inline fs::path VectorFile(const std::string& name) {
  return fs::path(INFERGATE_SOURCE_DIR) / "tests/tokenize/vectors" / (name + ".vectors");
}

struct Case {
  bool special = false;
  std::string text;
  std::string decoded;
  std::vector<TokenId> ids;
};

inline std::string Unhex(const std::string& h) {
  std::string out;
  if (h == "-") return out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  }
  return out;
}

// The format make_vectors.mjs writes: a line per vocabulary field, token and merge (texts in
// hex), then "case <parse_special> <text> <llama.cpp's decoding> <ids...>".
inline bool Load(const fs::path& file, Vocab& v, std::vector<Case>& cases) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string key;
    s >> key;
    if (key == "model") {
      s >> v.model;
    } else if (key == "pre") {
      s >> v.pre;
    } else if (key == "bos") {
      s >> v.bos_id;
    } else if (key == "eos") {
      s >> v.eos_id;
    } else if (key == "unk") {
      s >> v.unk_id;
    } else if (key == "add_bos") {
      int b = 0;
      s >> b;
      v.add_bos = b != 0;
    } else if (key == "token") {
      int32_t type = 0;
      float score = 0;
      std::string text;
      s >> type >> score >> text;
      v.token_types.push_back(type);
      v.scores.push_back(score);
      v.tokens.push_back(Unhex(text));
    } else if (key == "merge") {
      std::string text;
      s >> text;
      v.merges.push_back(Unhex(text));
    } else if (key == "case") {
      Case c;
      int special = 0;
      std::string text, decoded;
      s >> special >> text >> decoded;
      c.special = special != 0;
      c.text = Unhex(text);
      c.decoded = Unhex(decoded);
      for (TokenId id; s >> id;) c.ids.push_back(id);
      cases.push_back(std::move(c));
    }
  }
  return !v.tokens.empty() && !cases.empty();
}

}  // namespace infergate::tokenize::test_vectors
