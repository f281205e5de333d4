// Test helper: touches every byte a parsed GgufFile exposes (strings, arrays, tensor data,
// dequantized where computable), so that a view past the mapping shows up under ASan.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "infergate/gguf/gguf_file.h"

namespace infergate::gguf::test {

// Where the walk's checksum goes, so that its reads are not optimized away.
inline volatile uint64_t g_walk_sink = 0;

inline uint64_t WalkValue(const MetaValue& v) {
  uint64_t h = 0;
  if (const auto* s = std::get_if<std::string_view>(&v.value)) {
    for (char c : *s) h += static_cast<uint8_t>(c);
  } else if (const auto* a = std::get_if<MetaArray>(&v.value)) {
    if (a->raw != nullptr) {
      // count * element size bytes, as the parser promised.
      const uint64_t size =
          a->element_type == ValueType::kUint8 || a->element_type == ValueType::kInt8 ||
                  a->element_type == ValueType::kBool
              ? 1
          : a->element_type == ValueType::kUint16 || a->element_type == ValueType::kInt16 ? 2
          : a->element_type == ValueType::kUint32 || a->element_type == ValueType::kInt32 ||
                  a->element_type == ValueType::kFloat32
              ? 4
              : 8;
      for (uint64_t i = 0; i < a->count * size; ++i) h += a->raw[i];
    }
    for (std::string_view s : a->strings) {
      for (char c : s) h += static_cast<uint8_t>(c);
    }
    for (const MetaValue& inner : a->arrays) h += WalkValue(inner);
  }
  return h;
}

inline void WalkEverything(const GgufFile& f) {
  uint64_t h = 0;
  for (const auto& [key, value] : f.metadata()) {
    h += key.size() + WalkValue(value);
    // The typed getters must agree with the stored type and never fail unexpectedly.
    if (value.type == ValueType::kArray) {
      (void)f.GetIntArray(key);
      (void)f.GetFloatArray(key);
      (void)f.GetStringArray(key);
    }
  }
  std::vector<float> out;
  for (const TensorInfo& t : f.tensors()) {
    ASSERT_GE(t.offset, f.data_offset());
    ASSERT_LE(t.offset + t.n_bytes, f.mapping().size());
    ASSERT_EQ(t.data, f.mapping().data() + t.offset);
    for (uint8_t b : t.bytes()) h += b;
    if (Traits(t.type).computable && t.n_elements <= (1u << 20)) {
      out.resize(t.n_elements);
      ASSERT_TRUE(Dequantize(t.type, t.data, t.n_elements, out.data()));
    }
  }
  g_walk_sink = h;
}

}  // namespace infergate::gguf::test
