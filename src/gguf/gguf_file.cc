// GgufFile: opening (map, then parse) and the typed accessors over the parsed metadata.
#include "infergate/gguf/gguf_file.h"

#include <cstring>
#include <limits>

namespace infergate::gguf {

namespace {

std::string Named(std::string_view key) { return "metadata key '" + std::string(key) + "'"; }

// Integer value of any width as int64_t; false when it does not fit.
bool AsInt(const MetaValue& v, int64_t* out) {
  if (const auto* u = std::get_if<uint64_t>(&v.value)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(*u);
    return true;
  }
  if (const auto* i = std::get_if<int64_t>(&v.value)) {
    *out = *i;
    return true;
  }
  return false;
}

bool IsInteger(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kUint16:
    case ValueType::kInt16:
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kUint64:
    case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

template <typename T>
int64_t LoadElement(const uint8_t* raw, uint64_t i) {
  T v;
  std::memcpy(&v, raw + i * sizeof v, sizeof v);
  return static_cast<int64_t>(v);
}

// Element i of a packed scalar array of integer type, widened to 64 bits; false for a uint64
// over INT64_MAX.
bool ArrayInt(const MetaArray& a, uint64_t i, int64_t* out) {
  switch (a.element_type) {
    case ValueType::kUint8:
      *out = LoadElement<uint8_t>(a.raw, i);
      return true;
    case ValueType::kInt8:
      *out = LoadElement<int8_t>(a.raw, i);
      return true;
    case ValueType::kUint16:
      *out = LoadElement<uint16_t>(a.raw, i);
      return true;
    case ValueType::kInt16:
      *out = LoadElement<int16_t>(a.raw, i);
      return true;
    case ValueType::kUint32:
      *out = LoadElement<uint32_t>(a.raw, i);
      return true;
    case ValueType::kInt32:
      *out = LoadElement<int32_t>(a.raw, i);
      return true;
    case ValueType::kInt64:
      *out = LoadElement<int64_t>(a.raw, i);
      return true;
    case ValueType::kUint64: {
      uint64_t v;
      std::memcpy(&v, a.raw + i * sizeof v, sizeof v);
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      *out = static_cast<int64_t>(v);
      return true;
    }
    default:
      return false;
  }
}

}  // namespace

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
      return "uint8";
    case ValueType::kInt8:
      return "int8";
    case ValueType::kUint16:
      return "uint16";
    case ValueType::kInt16:
      return "int16";
    case ValueType::kUint32:
      return "uint32";
    case ValueType::kInt32:
      return "int32";
    case ValueType::kFloat32:
      return "float32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kUint64:
      return "uint64";
    case ValueType::kInt64:
      return "int64";
    case ValueType::kFloat64:
      return "float64";
  }
  return "unknown";
}

Expected<std::shared_ptr<const GgufFile>, std::string> GgufFile::Open(const std::string& path) {
  auto mapping = Mapping::MapFile(path);
  if (!mapping) return MakeUnexpected(std::move(mapping.error()));
  return Parse(std::move(*mapping), path);
}

const MetaValue* GgufFile::Find(std::string_view key) const {
  auto it = meta_index_.find(key);
  return it == meta_index_.end() ? nullptr : &meta_[it->second].second;
}

Expected<const MetaValue*, std::string> GgufFile::Require(std::string_view key,
                                                          ValueType type) const {
  const MetaValue* v = Find(key);
  if (v == nullptr) return MakeUnexpected(Named(key) + " is missing");
  if (v->type != type) {
    return MakeUnexpected(Named(key) + " is a " + std::string(ValueTypeName(v->type)) + ", not a " +
                          std::string(ValueTypeName(type)));
  }
  return v;
}

Expected<std::string_view, std::string> GgufFile::GetString(std::string_view key) const {
  auto v = Require(key, ValueType::kString);
  if (!v) return MakeUnexpected(std::move(v.error()));
  return std::get<std::string_view>((*v)->value);
}

Expected<int64_t, std::string> GgufFile::GetInt(std::string_view key) const {
  const MetaValue* v = Find(key);
  if (v == nullptr) return MakeUnexpected(Named(key) + " is missing");
  if (!IsInteger(v->type)) {
    return MakeUnexpected(Named(key) + " is a " + std::string(ValueTypeName(v->type)) +
                          ", not an integer");
  }
  int64_t out = 0;
  if (!AsInt(*v, &out)) return MakeUnexpected(Named(key) + " does not fit a signed 64-bit int");
  return out;
}

Expected<double, std::string> GgufFile::GetFloat(std::string_view key) const {
  const MetaValue* v = Find(key);
  if (v == nullptr) return MakeUnexpected(Named(key) + " is missing");
  if (v->type != ValueType::kFloat32 && v->type != ValueType::kFloat64) {
    return MakeUnexpected(Named(key) + " is a " + std::string(ValueTypeName(v->type)) +
                          ", not a float");
  }
  return std::get<double>(v->value);
}

Expected<bool, std::string> GgufFile::GetBool(std::string_view key) const {
  auto v = Require(key, ValueType::kBool);
  if (!v) return MakeUnexpected(std::move(v.error()));
  return std::get<bool>((*v)->value);
}

Expected<std::span<const std::string_view>, std::string> GgufFile::GetStringArray(
    std::string_view key) const {
  auto v = Require(key, ValueType::kArray);
  if (!v) return MakeUnexpected(std::move(v.error()));
  const MetaArray& a = std::get<MetaArray>((*v)->value);
  if (a.element_type != ValueType::kString) {
    return MakeUnexpected(Named(key) + " is an array of " +
                          std::string(ValueTypeName(a.element_type)) + ", not of strings");
  }
  return std::span<const std::string_view>(a.strings);
}

Expected<std::vector<float>, std::string> GgufFile::GetFloatArray(std::string_view key) const {
  auto v = Require(key, ValueType::kArray);
  if (!v) return MakeUnexpected(std::move(v.error()));
  const MetaArray& a = std::get<MetaArray>((*v)->value);
  std::vector<float> out;
  if (a.element_type == ValueType::kFloat32) {
    out.resize(a.count);
    if (a.count != 0) std::memcpy(out.data(), a.raw, a.count * sizeof(float));
  } else if (a.element_type == ValueType::kFloat64) {
    out.reserve(a.count);
    for (uint64_t i = 0; i < a.count; ++i) {
      double d;
      std::memcpy(&d, a.raw + i * sizeof d, sizeof d);
      out.push_back(static_cast<float>(d));
    }
  } else {
    return MakeUnexpected(Named(key) + " is an array of " +
                          std::string(ValueTypeName(a.element_type)) + ", not of floats");
  }
  return out;
}

Expected<std::vector<int64_t>, std::string> GgufFile::GetIntArray(std::string_view key) const {
  auto v = Require(key, ValueType::kArray);
  if (!v) return MakeUnexpected(std::move(v.error()));
  const MetaArray& a = std::get<MetaArray>((*v)->value);
  if (!IsInteger(a.element_type)) {
    return MakeUnexpected(Named(key) + " is an array of " +
                          std::string(ValueTypeName(a.element_type)) + ", not of integers");
  }
  std::vector<int64_t> out(a.count);
  for (uint64_t i = 0; i < a.count; ++i) {
    if (!ArrayInt(a, i, &out[i])) {
      return MakeUnexpected(Named(key) + "'s element #" + std::to_string(i) +
                            " does not fit a signed 64-bit int");
    }
  }
  return out;
}

const TensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Expected<const TensorInfo*, std::string> GgufFile::GetTensor(std::string_view name) const {
  const TensorInfo* t = FindTensor(name);
  if (t == nullptr) return MakeUnexpected("tensor '" + std::string(name) + "' is missing");
  return t;
}

}  // namespace infergate::gguf
