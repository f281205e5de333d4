// Test helper: writes GGUF bytes by hand, so that tests control every field, including the
// wrong ones.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace infergate::gguf::test {

class ByteWriter {
 public:
  template <typename T>
  void Put(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    bytes.insert(bytes.end(), b, b + sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  std::vector<uint8_t> bytes;
};

struct BuilderTensor {
  BuilderTensor(std::string n, std::vector<uint64_t> d, uint32_t t, std::vector<uint8_t> bytes,
                std::optional<uint64_t> off = std::nullopt)
      : name(std::move(n)), dims(std::move(d)), type(t), data(std::move(bytes)), offset(off) {}
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type;
  std::vector<uint8_t> data;
  // Relative to the data section; by default packed after the previous tensor.
  std::optional<uint64_t> offset;
};

class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3) : version_(version) {}

  // One metadata entry: the key, then `value` already encoded after its type id.
  GgufBuilder& Raw(std::string_view key, uint32_t type, const std::vector<uint8_t>& value) {
    kv_.PutString(key);
    kv_.Put<uint32_t>(type);
    kv_.bytes.insert(kv_.bytes.end(), value.begin(), value.end());
    ++n_kv_;
    return *this;
  }
  template <typename T>
  GgufBuilder& Scalar(std::string_view key, uint32_t type, T v) {
    ByteWriter w;
    w.Put<T>(v);
    return Raw(key, type, w.bytes);
  }
  GgufBuilder& U32(std::string_view key, uint32_t v) { return Scalar(key, 4, v); }
  GgufBuilder& F32(std::string_view key, float v) { return Scalar(key, 6, v); }
  GgufBuilder& String(std::string_view key, std::string_view v) {
    ByteWriter w;
    w.PutString(v);
    return Raw(key, 8, w.bytes);
  }
  GgufBuilder& StringArray(std::string_view key, const std::vector<std::string>& items) {
    ByteWriter w;
    w.Put<uint32_t>(8);
    w.Put<uint64_t>(items.size());
    for (const std::string& s : items) w.PutString(s);
    return Raw(key, 9, w.bytes);
  }
  template <typename T>
  GgufBuilder& ScalarArray(std::string_view key, uint32_t type, const std::vector<T>& items) {
    ByteWriter w;
    w.Put<uint32_t>(type);
    w.Put<uint64_t>(items.size());
    for (T v : items) w.Put<T>(v);
    return Raw(key, 9, w.bytes);
  }
  GgufBuilder& Tensor(BuilderTensor t) {
    tensors_.push_back(std::move(t));
    return *this;
  }
  // The header's counts, when a test wants them wrong.
  GgufBuilder& OverrideCounts(uint64_t n_tensors, uint64_t n_kv) {
    count_override_ = true;
    n_tensors_override_ = n_tensors;
    n_kv_override_ = n_kv;
    return *this;
  }

  std::vector<uint8_t> Build(uint64_t alignment = 32) const {
    ByteWriter w;
    w.Put<uint32_t>(0x46554747);
    w.Put<uint32_t>(version_);
    w.Put<uint64_t>(count_override_ ? n_tensors_override_ : tensors_.size());
    w.Put<uint64_t>(count_override_ ? n_kv_override_ : n_kv_);
    w.bytes.insert(w.bytes.end(), kv_.bytes.begin(), kv_.bytes.end());
    uint64_t next = 0;
    std::vector<uint64_t> offsets;
    for (const BuilderTensor& t : tensors_) {
      const uint64_t off = t.offset.value_or(next);
      offsets.push_back(off);
      next = (off + t.data.size() + alignment - 1) / alignment * alignment;
      w.PutString(t.name);
      w.Put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) w.Put<uint64_t>(d);
      w.Put<uint32_t>(t.type);
      w.Put<uint64_t>(off);
    }
    if (tensors_.empty()) return w.bytes;
    while (w.bytes.size() % alignment != 0) w.bytes.push_back(0);
    const size_t data_start = w.bytes.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      if (tensors_[i].data.empty()) continue;  // placed wherever it claims; nothing to write
      const size_t at = data_start + offsets[i];
      if (w.bytes.size() < at + tensors_[i].data.size()) {
        w.bytes.resize(at + tensors_[i].data.size(), 0);
      }
      std::memcpy(w.bytes.data() + at, tensors_[i].data.data(), tensors_[i].data.size());
    }
    return w.bytes;
  }

 private:
  uint32_t version_;
  ByteWriter kv_;
  uint64_t n_kv_ = 0;
  std::vector<BuilderTensor> tensors_;
  bool count_override_ = false;
  uint64_t n_tensors_override_ = 0;
  uint64_t n_kv_override_ = 0;
};

inline std::vector<uint8_t> F32Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

}  // namespace infergate::gguf::test
