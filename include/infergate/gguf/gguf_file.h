// A GGUF file (versions 2 and 3), mapped read-only and validated before anything is used: the
// header, every metadata key and value, every tensor's name, shape, type, offset and byte range
// are checked against the file's size with overflow-safe arithmetic when it is opened, so the
// accessors below never read outside the mapping. A file that fails is an error value naming
// what is wrong and where; no input crashes Open.
//
// Thread safety: a GgufFile is immutable after Open; share it (and its mapping) between
// threads freely. Names, strings and tensor data are views into the mapping: they live as long
// as the GgufFile (hold the shared_ptr).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "infergate/core/expected.h"
#include "infergate/gguf/tensor_types.h"

namespace infergate::gguf {

// Read-only bytes that stay at one address for the object's life: a file mapped with mmap, or
// (for tests and fuzzing) a copy held in memory.
class Mapping {
 public:
  static Expected<std::shared_ptr<const Mapping>, std::string> MapFile(const std::string& path);
  static std::shared_ptr<const Mapping> FromBytes(std::vector<uint8_t> bytes);
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  // Lets the kernel drop this process's pages of [p, p + n) (whole pages inside it) when the
  // bytes are a file mapping: they are read from the file again if touched. For a copy of the
  // weights made at load (llm's packed matrices). Does nothing for bytes held in memory.
  void Release(const uint8_t* p, size_t n) const;

 private:
  Mapping() = default;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;         // munmap on destruction
  std::vector<uint8_t> owned_;  // FromBytes
};

// GGUF metadata value types (gguf_type), as stored in the file.
enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view ValueTypeName(ValueType type);

struct MetaValue;

// An array value. Scalar elements stay packed in the mapping (`raw`, count * element size
// bytes); string elements are views; nested arrays are parsed values.
struct MetaArray {
  ValueType element_type = ValueType::kUint8;
  uint64_t count = 0;
  const uint8_t* raw = nullptr;
  std::vector<std::string_view> strings;
  std::vector<MetaValue> arrays;
};

struct MetaValue {
  ValueType type = ValueType::kUint8;
  // Integers of every width as uint64_t or int64_t (by signedness), floats as double, bool,
  // string, array.
  std::variant<uint64_t, int64_t, double, bool, std::string_view, MetaArray> value;
};

struct TensorInfo {
  std::string_view name;
  GgmlType type = GgmlType::kF32;
  uint32_t n_dims = 0;
  std::array<uint64_t, 4> ne{1, 1, 1, 1};  // ggml order: ne[0] is the contiguous dimension
  uint64_t n_elements = 0;
  uint64_t offset = 0;   // absolute byte offset of the data in the file
  uint64_t n_bytes = 0;  // BytesFor(type, n_elements)
  const uint8_t* data = nullptr;

  uint64_t rows() const { return ne[1] * ne[2] * ne[3]; }
  uint64_t row_bytes() const { return n_bytes / rows(); }
  std::span<const uint8_t> bytes() const { return {data, static_cast<size_t>(n_bytes)}; }
};

class GgufFile {
 public:
  // Maps and validates `path`. Errors start with the path.
  static Expected<std::shared_ptr<const GgufFile>, std::string> Open(const std::string& path);
  // Validates bytes already in a Mapping; `label` starts error messages.
  static Expected<std::shared_ptr<const GgufFile>, std::string> Parse(
      std::shared_ptr<const Mapping> mapping, std::string label);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const Mapping& mapping() const { return *mapping_; }
  const std::shared_ptr<const Mapping>& shared_mapping() const { return mapping_; }

  // Metadata in file order, and lookup by key (nullptr when absent).
  const std::vector<std::pair<std::string_view, MetaValue>>& metadata() const { return meta_; }
  const MetaValue* Find(std::string_view key) const;

  // Typed getters. Each fails, naming the key, when it is absent or holds another type.
  // GetInt takes any integer type and fails when the value does not fit int64_t; GetFloat
  // takes float32 or float64; the array getters convert the elements the same way.
  Expected<std::string_view, std::string> GetString(std::string_view key) const;
  Expected<int64_t, std::string> GetInt(std::string_view key) const;
  Expected<double, std::string> GetFloat(std::string_view key) const;
  Expected<bool, std::string> GetBool(std::string_view key) const;
  Expected<std::span<const std::string_view>, std::string> GetStringArray(
      std::string_view key) const;
  Expected<std::vector<float>, std::string> GetFloatArray(std::string_view key) const;
  Expected<std::vector<int64_t>, std::string> GetIntArray(std::string_view key) const;

  // Tensors in file order, and lookup by name.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;
  Expected<const TensorInfo*, std::string> GetTensor(std::string_view name) const;

 private:
  friend class Parser;
  GgufFile() = default;
  Expected<const MetaValue*, std::string> Require(std::string_view key, ValueType type) const;

  std::shared_ptr<const Mapping> mapping_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string_view, MetaValue>> meta_;
  std::unordered_map<std::string_view, size_t> meta_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace infergate::gguf
