// Input slicing and a generator seeded by the input, shared by the fuzz drivers: an input always
// replays the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace infergate::fuzz {

// Cuts the input into slices whose sizes come from a generator seeded by a hash of the input, so
// one input always replays the same way and a mutation also changes where the cuts fall.
class Slicer {
 public:
  explicit Slicer(std::string_view data) : data_(data) {
    for (unsigned char c : data) state_ = (state_ ^ c) * 1099511628211ull;
    if (state_ == 0) state_ = 1;
  }
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  bool done() const { return pos_ >= data_.size(); }
  std::string_view Take() {
    uint64_t r = Next();
    size_t n;
    switch (r % 4) {
      case 0:
        n = 1;
        break;
      case 1:
        n = 1 + (r >> 8) % 8;
        break;
      case 2:
        n = 1 + (r >> 8) % 256;
        break;
      default:
        n = data_.size();
        break;
    }
    n = std::min(n, data_.size() - pos_);
    std::string_view piece = data_.substr(pos_, n);
    pos_ += n;
    return piece;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  uint64_t state_ = 1469598103934665603ull;
};

}  // namespace infergate::fuzz
