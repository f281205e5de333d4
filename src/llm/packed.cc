// Repacking Q8_0 and Q4_K rows into groups of sixteen (layouts in packed.h). Plain scalar code:
// it runs once per matrix at load.
#include "llm/packed.h"

#include <cstdlib>
#include <cstring>

#include "gguf/blocks.h"

namespace infergate::llm {
namespace {

void FreeAligned(uint8_t* p) { std::free(p); }

void PutFloat(uint8_t* at, float f) { std::memcpy(at, &f, sizeof f); }

// Value v (0..255) of a Q4_K super-block's 4-bit quantities (gguf/blocks.h): 32 bytes per pair
// of sub-blocks, the first sub-block in the low nibbles.
uint8_t Q4KValue(const uint8_t* block, int v) {
  const uint8_t byte = block[16 + 32 * (v / 64) + v % 32];
  return (v % 64) < 32 ? byte & 0x0f : byte >> 4;
}

// Value v (0..255) of a Q6_K super-block as u = q + 32 (0..63), layout in gguf/blocks.h.
uint8_t Q6KValue(const uint8_t* block, int v) {
  const int h = v / 128, q = (v % 128) / 32, l = v % 32;
  const uint8_t ql = block[64 * h + 32 * (q % 2) + l];
  const uint8_t low = q < 2 ? ql & 0x0f : ql >> 4;
  const uint8_t high = (block[128 + 32 * h + l] >> (2 * q)) & 3;
  return static_cast<uint8_t>(low | (high << 4));
}

void PackQ6_K(const Matrix& m, int group, uint8_t* out) {
  const int n_super = m.n_in / 256;
  for (int s = 0; s < n_super; ++s, out += kPackedQ6_KBlock) {
    for (int r = 0; r < kPackRows; ++r) {
      const uint8_t* block = m.row(group * kPackRows + r) + s * gguf::blocks::kQ6_KBytes;
      PutFloat(out + 4 * r, gguf::blocks::LoadHalf(block + 208));
      for (int j = 0; j < 16; ++j) {
        out[64 + 16 * j + r] = block[192 + j];
        out[320 + 32 * (j / 2) + 2 * r + j % 2] = block[192 + j];
      }
      uint8_t* low = out + 576;
      uint8_t* high = out + 576 + 32 * 64;
      for (int o = 0; o < 32; ++o) {
        for (int b = 0; b < 4; ++b) {
          const uint8_t u0 = Q6KValue(block, 8 * o + b), u1 = Q6KValue(block, 8 * o + 4 + b);
          low[64 * o + 4 * r + b] = static_cast<uint8_t>((u0 & 0x0f) | ((u1 & 0x0f) << 4));
          // Octet o's top bits: bit pairs 0-1 and 2-3 of run o / 2 for even o, 4-5 and 6-7 for odd.
          const int shift = 4 * (o % 2);
          high[64 * (o / 2) + 4 * r + b] |=
              static_cast<uint8_t>(((u0 >> 4) | ((u1 >> 4) << 2)) << shift);
        }
      }
    }
  }
}

void PackQ8_0(const Matrix& m, int group, uint8_t* out) {
  const int n_blocks = m.n_in / 32;
  for (int b = 0; b < n_blocks; ++b, out += kPackedQ8_0Block) {
    for (int r = 0; r < kPackRows; ++r) {
      const uint8_t* block = m.row(group * kPackRows + r) + b * gguf::blocks::kQ8_0Bytes;
      PutFloat(out + 4 * r, gguf::blocks::LoadHalf(block));
      for (int i = 0; i < 32; ++i) out[64 + 64 * (i / 4) + 4 * r + i % 4] = block[2 + i] ^ 0x80;
    }
  }
}

void PackQ4_K(const Matrix& m, int group, uint8_t* out) {
  const int n_super = m.n_in / 256;
  for (int s = 0; s < n_super; ++s, out += kPackedQ4_KBlock) {
    for (int r = 0; r < kPackRows; ++r) {
      const uint8_t* block = m.row(group * kPackRows + r) + s * gguf::blocks::kQ4_KBytes;
      PutFloat(out + 4 * r, gguf::blocks::LoadHalf(block));
      PutFloat(out + 64 + 4 * r, gguf::blocks::LoadHalf(block + 2));
      uint8_t sc[8], mins[8];
      gguf::blocks::Q4KScalesMins(block + 4, sc, mins);
      for (int j = 0; j < 8; ++j) {
        out[128 + 16 * j + r] = sc[j];
        out[256 + 32 * (j / 2) + 2 * r + j % 2] = mins[j];
      }
      uint8_t* runs = out + 384;
      for (int o = 0; o < 32; ++o) {
        for (int b = 0; b < 4; ++b) {
          runs[64 * o + 4 * r + b] = static_cast<uint8_t>(Q4KValue(block, 8 * o + b) |
                                                          (Q4KValue(block, 8 * o + 4 + b) << 4));
        }
      }
    }
  }
}

}  // namespace

bool Packable(const Matrix& m) {
  if (m.data == nullptr || m.n_out <= 0 || m.n_out % kPackRows != 0) return false;
  return (m.type == gguf::GgmlType::kQ8_0 && m.n_in % 32 == 0) ||
         ((m.type == gguf::GgmlType::kQ4_K || m.type == gguf::GgmlType::kQ6_K) &&
          m.n_in % 256 == 0);
}

std::unique_ptr<PackedMatrix> Pack(const Matrix& m) {
  auto p = std::make_unique<PackedMatrix>();
  p->type = m.type;
  p->n_in = m.n_in;
  p->n_out = m.n_out;
  switch (m.type) {
    case gguf::GgmlType::kQ8_0:
      p->group_bytes = kPackedQ8_0Block * static_cast<size_t>(m.n_in / 32);
      break;
    case gguf::GgmlType::kQ4_K:
      p->group_bytes = kPackedQ4_KBlock * static_cast<size_t>(m.n_in / 256);
      break;
    default:
      p->group_bytes = kPackedQ6_KBlock * static_cast<size_t>(m.n_in / 256);
  }
  const int groups = m.n_out / kPackRows;
  const size_t total = p->group_bytes * static_cast<size_t>(groups);  // a multiple of 64
  p->bytes = {static_cast<uint8_t*>(std::aligned_alloc(64, total)), FreeAligned};
  if (!p->bytes) return nullptr;
  std::memset(p->bytes.get(), 0, total);  // Q6_K's top bits are or-ed in
  for (int g = 0; g < groups; ++g) {
    uint8_t* out = p->bytes.get() + static_cast<size_t>(g) * p->group_bytes;
    switch (m.type) {
      case gguf::GgmlType::kQ8_0:
        PackQ8_0(m, g, out);
        break;
      case gguf::GgmlType::kQ4_K:
        PackQ4_K(m, g, out);
        break;
      default:
        PackQ6_K(m, g, out);
    }
  }
  return p;
}

}  // namespace infergate::llm
