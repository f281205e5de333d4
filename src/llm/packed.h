// Weights repacked at load for the SIMD sets' matmul kernels: sixteen rows interleaved, so that
// each 32-bit lane of a 64-byte register (two 32-byte ones for AVX2, packed_avx2.cc) belongs to
// one output row. The AVX-512 VNNI kernel (packed_avx512.cc) then multiplies sixteen rows by
// four activation bytes (broadcast to every lane) in one vpdpbusd,
// keeps the sixteen rows' sums lane by lane, and applies each block's scales to sixteen rows
// at once: no horizontal sums and no per-row scale work, which is where the row-at-a-time
// kernels spend half their time (llama.cpp's "repack" buffers do the same for the same reason).
//
// Layouts, per group of 16 rows (r = 0..15), block after block:
// - Q8_0, per 32-value block (576 bytes): the 16 rows' scales as float (64 bytes), then eight
//   runs of 64 bytes: run g holds values 4g .. 4g + 3 of row r at bytes 4r .. 4r + 3, each
//   stored plus 128 (its top bit flipped: vpdpbusd's unsigned operand).
// - Q4_K, per 256-value super-block (2,432 bytes): d (16 floats), dmin (16 floats), the eight
//   sub-block scales (byte 16j + r: sub-block j of row r), the eight minimums in pairs (byte
//   32p + 2r + t: minimum 2p + t of row r), then 32 runs of 64 bytes: run o holds values
//   8o .. 8o + 7 of row r in bytes 4r .. 4r + 3, value 8o + b in the low nibble of byte b and
//   8o + 4 + b in its high nibble.
// - Q6_K, per 256-value super-block (3,648 bytes): d (16 floats), the sixteen sub-block scales
//   (byte 16s + r: sub-block s of row r, signed), the same in pairs (byte 32p + 2r + t: scale
//   2p + t of row r), the low four bits of the values u = q + 32 in 32 runs of 64 bytes as Q4_K's
//   nibbles, then their top two bits in 16 runs of 64 bytes: run k, row r, byte b holds those of
//   values 16k + b, 16k + 4 + b, 16k + 8 + b and 16k + 12 + b in bit pairs 0-1, 2-3, 4-5, 6-7.
//   Only the AVX-512 set has a kernel for it.
//
// The file's mapping stays the model's; a packed matrix is a copy in ordinary memory, about
// 6% larger than the rows it replaces (the float scales).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "llm/model_impl.h"

namespace infergate::llm {

constexpr int kPackRows = 16;
constexpr size_t kPackedQ8_0Block = 64 + 8 * 64;
constexpr size_t kPackedQ4_KBlock = 64 + 64 + 128 + 128 + 32 * 64;
constexpr size_t kPackedQ6_KBlock = 64 + 256 + 256 + 32 * 64 + 16 * 64;

struct PackedMatrix {
  gguf::GgmlType type;
  int n_in = 0;
  int n_out = 0;           // a multiple of kPackRows
  size_t group_bytes = 0;  // one group of kPackRows rows
  std::unique_ptr<uint8_t[], void (*)(uint8_t*)> bytes{nullptr, nullptr};  // 64-byte aligned
  const uint8_t* group(int g) const { return bytes.get() + static_cast<size_t>(g) * group_bytes; }
};

// Whether Pack takes `m`: Q8_0, Q4_K or Q6_K with a whole number of groups of rows.
bool Packable(const Matrix& m);

// The packed copy of `m` (Packable).
std::unique_ptr<PackedMatrix> Pack(const Matrix& m);

}  // namespace infergate::llm
