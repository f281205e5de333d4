// The GGUF parser: walks the header, the metadata and the tensor infos with a bounds-checked
// cursor, then checks every tensor's byte range against the file. Every count read from the
// file is bounded by the bytes left, and every sum or product of file-controlled numbers is
// checked for overflow, so a hostile file never causes an out-of-bounds read. Memory grows only
// as entries are actually read (reservations from file counts are capped), within the element
// caps below, so a lying count cannot make an allocation fail (and throw) either.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "infergate/gguf/gguf_file.h"

namespace infergate::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint64_t kMaxKeyBytes = 65535;
// ggml's GGML_MAX_NAME is 64 including the terminating NUL; llama.cpp refuses longer names.
constexpr uint64_t kMaxTensorNameBytes = 63;
constexpr int kMaxArrayDepth = 8;  // real files nest one level (arrays of string arrays)
// Strings inside arrays become 16-byte views; a large vocabulary has ~260k tokens and as many
// merges. Nested arrays become full values (about 100 bytes each) and real files have a handful.
constexpr uint64_t kMaxArrayStrings = uint64_t{1} << 24;
constexpr uint64_t kMaxNestedArrays = uint64_t{1} << 16;
// The most entries reserved ahead from a count in the file; beyond it vectors grow as they fill.
constexpr uint64_t kMaxReserve = 4096;
// Smallest encodings, for bounding counts by the bytes left.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;                  // key length, 1-byte key, type, u8
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, 1 dim, type, offset

uint64_t ScalarSize(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
      return 8;
    default:
      return 0;  // string, array
  }
}

bool KnownValueType(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

std::string Quote(std::string_view s) {
  // Names come from the file: keep the message one printable line.
  std::string out = "'";
  for (char c : s.substr(0, 200)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u != 0x7f) ? c : '?';
  }
  if (s.size() > 200) out += "...";
  return out + "'";
}

}  // namespace

class Parser {
 public:
  Parser(const Mapping& m, GgufFile& out) : base_(m.data()), size_(m.size()), out_(out) {}

  bool Run();
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  uint64_t Left() const { return size_ - pos_; }
  // `what` names the thing being read; it is only turned into a message on failure.
  bool Need(uint64_t n, const std::string& what) {
    if (n <= Left()) return true;
    return Fail("truncated at byte " + std::to_string(pos_) + " reading " + what + ": " +
                std::to_string(n) + " bytes needed, " + std::to_string(Left()) + " left");
  }
  template <typename T>
  bool Read(T* out, const std::string& what) {
    if (!Need(sizeof(T), what)) return false;
    std::memcpy(out, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool ReadString(std::string_view* out, uint64_t max_len, const std::string& what);
  bool ReadValue(ValueType type, MetaValue* out, int depth, const std::string& what);
  bool ReadArray(MetaArray* out, int depth, const std::string& what);
  bool ReadHeader(uint64_t* n_tensors, uint64_t* n_kv);
  bool ReadMetadata(uint64_t n_kv);
  bool ReadAlignment();
  bool ReadTensorInfo(uint64_t index);
  bool PlaceTensors();

  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t array_strings_ = 0;
  uint64_t nested_arrays_ = 0;
  GgufFile& out_;
  std::string error_;
};

bool Parser::ReadString(std::string_view* out, uint64_t max_len, const std::string& what) {
  uint64_t len = 0;
  if (!Read(&len, what)) return false;
  if (len > max_len) {
    return Fail(what + " at byte " + std::to_string(pos_ - 8) + " has length " +
                std::to_string(len) + ", over the limit of " + std::to_string(max_len));
  }
  if (!Need(len, what)) return false;
  *out = std::string_view(reinterpret_cast<const char*>(base_ + pos_), len);
  pos_ += len;
  return true;
}

bool Parser::ReadValue(ValueType type, MetaValue* out, int depth, const std::string& what) {
  out->type = type;
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kUint16:
    case ValueType::kUint32:
    case ValueType::kUint64: {
      const uint64_t n = ScalarSize(type);
      if (!Need(n, what)) return false;
      uint64_t v = 0;
      std::memcpy(&v, base_ + pos_, n);  // little-endian: the low bytes
      pos_ += n;
      out->value = v;
      return true;
    }
    case ValueType::kInt8:
    case ValueType::kInt16:
    case ValueType::kInt32:
    case ValueType::kInt64: {
      const uint64_t n = ScalarSize(type);
      if (!Need(n, what)) return false;
      uint64_t bits = 0;
      std::memcpy(&bits, base_ + pos_, n);
      pos_ += n;
      // Sign-extend from n bytes.
      const unsigned shift = static_cast<unsigned>(64 - 8 * n);
      out->value = static_cast<int64_t>(bits << shift) >> shift;
      return true;
    }
    case ValueType::kFloat32: {
      float f = 0;
      if (!Read(&f, what)) return false;
      out->value = static_cast<double>(f);
      return true;
    }
    case ValueType::kFloat64: {
      double f = 0;
      if (!Read(&f, what)) return false;
      out->value = f;
      return true;
    }
    case ValueType::kBool: {
      uint8_t b = 0;
      if (!Read(&b, what)) return false;
      if (b > 1) {
        return Fail(what + " at byte " + std::to_string(pos_ - 1) + " is a bool of value " +
                    std::to_string(b) + ", not 0 or 1");
      }
      out->value = b == 1;
      return true;
    }
    case ValueType::kString: {
      std::string_view s;
      if (!ReadString(&s, std::numeric_limits<uint64_t>::max(), what)) return false;
      out->value = s;
      return true;
    }
    case ValueType::kArray: {
      MetaArray array;
      if (!ReadArray(&array, depth, what)) return false;
      out->value = std::move(array);
      return true;
    }
  }
  return Fail(what + " has unknown type " + std::to_string(static_cast<uint32_t>(type)));
}

bool Parser::ReadArray(MetaArray* out, int depth, const std::string& what) {
  if (depth >= kMaxArrayDepth) {
    return Fail(what + " nests arrays deeper than " + std::to_string(kMaxArrayDepth));
  }
  uint32_t element_type = 0;
  if (!Read(&element_type, what + " (its element type)")) return false;
  if (!KnownValueType(element_type)) {
    return Fail(what + " at byte " + std::to_string(pos_ - 4) + " is an array of unknown type " +
                std::to_string(element_type));
  }
  out->element_type = static_cast<ValueType>(element_type);
  if (!Read(&out->count, what + " (its element count)")) return false;
  const uint64_t scalar = ScalarSize(out->element_type);
  const uint64_t min_element = scalar != 0                               ? scalar
                               : out->element_type == ValueType::kString ? 8
                                                                         : 4 + 8;
  if (out->count > Left() / min_element) {
    return Fail(what + " at byte " + std::to_string(pos_ - 8) + " claims " +
                std::to_string(out->count) + " elements, more than the " + std::to_string(Left()) +
                " bytes left can hold");
  }
  if (scalar != 0) {
    out->raw = base_ + pos_;
    pos_ += out->count * scalar;  // bounded by Left() just above
    if (out->element_type == ValueType::kBool) {
      for (uint64_t i = 0; i < out->count; ++i) {
        if (out->raw[i] > 1) return Fail(what + " holds a bool that is not 0 or 1");
      }
    }
    return true;
  }
  if (out->element_type == ValueType::kString) {
    if (out->count > kMaxArrayStrings - array_strings_) {
      return Fail(what + " brings the metadata over " + std::to_string(kMaxArrayStrings) +
                  " strings in arrays");
    }
    array_strings_ += out->count;
    out->strings.reserve(std::min(out->count, kMaxReserve));
    for (uint64_t i = 0; i < out->count; ++i) {
      std::string_view s;
      if (!ReadString(&s, std::numeric_limits<uint64_t>::max(), what)) {
        error_ += " (element #" + std::to_string(i) + ")";
        return false;
      }
      out->strings.push_back(s);
    }
    return true;
  }
  if (out->count > kMaxNestedArrays - nested_arrays_) {
    return Fail(what + " brings the metadata over " + std::to_string(kMaxNestedArrays) +
                " nested arrays");
  }
  nested_arrays_ += out->count;
  out->arrays.reserve(std::min(out->count, kMaxReserve));
  for (uint64_t i = 0; i < out->count; ++i) {
    MetaArray inner;
    if (!ReadArray(&inner, depth + 1, what + " element #" + std::to_string(i))) return false;
    out->arrays.push_back(MetaValue{ValueType::kArray, std::move(inner)});
  }
  return true;
}

bool Parser::ReadHeader(uint64_t* n_tensors, uint64_t* n_kv) {
  uint32_t magic = 0;
  if (!Read(&magic, "the magic number")) return false;
  if (magic != kMagic) return Fail("not a GGUF file (the first four bytes are not \"GGUF\")");
  uint32_t version = 0;
  if (!Read(&version, "the version")) return false;
  if (version == 1) return Fail("GGUF version 1 is not supported (versions 2 and 3 are)");
  if (version != 2 && version != 3) {
    if ((version & 0xffff) == 0 && version != 0) {
      return Fail("a big-endian GGUF file: only little-endian files are supported");
    }
    return Fail("unknown GGUF version " + std::to_string(version));
  }
  out_.version_ = version;
  if (!Read(n_tensors, "the tensor count") || !Read(n_kv, "the metadata count")) return false;
  if (*n_kv > Left() / kMinKvBytes) {
    return Fail("the header claims " + std::to_string(*n_kv) + " metadata keys, more than the " +
                std::to_string(Left()) + " bytes left can hold");
  }
  if (*n_tensors > Left() / kMinTensorInfoBytes) {
    return Fail("the header claims " + std::to_string(*n_tensors) + " tensors, more than the " +
                std::to_string(Left()) + " bytes left can describe");
  }
  return true;
}

bool Parser::ReadMetadata(uint64_t n_kv) {
  out_.meta_.reserve(std::min(n_kv, kMaxReserve));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string where = "metadata key #" + std::to_string(i);
    std::string_view key;
    if (!ReadString(&key, kMaxKeyBytes, where)) return false;
    if (key.empty()) return Fail(where + " is empty");
    const std::string named = where + " " + Quote(key);
    uint32_t type = 0;
    if (!Read(&type, named + "'s type")) return false;
    if (!KnownValueType(type)) {
      return Fail(named + " at byte " + std::to_string(pos_ - 4) + " has unknown type " +
                  std::to_string(type));
    }
    MetaValue value;
    if (!ReadValue(static_cast<ValueType>(type), &value, 0, named + "'s value")) return false;
    if (!out_.meta_index_.emplace(key, out_.meta_.size()).second) {
      return Fail(named + " is a duplicate");
    }
    out_.meta_.emplace_back(key, std::move(value));
  }
  return true;
}

bool Parser::ReadAlignment() {
  const MetaValue* v = out_.Find("general.alignment");
  if (v == nullptr) return true;  // the default, 32
  if (v->type != ValueType::kUint32) {
    return Fail("general.alignment is a " + std::string(ValueTypeName(v->type)) + ", not a uint32");
  }
  const uint64_t a = std::get<uint64_t>(v->value);
  if (a == 0 || (a & (a - 1)) != 0) {
    return Fail("general.alignment " + std::to_string(a) + " is not a power of two");
  }
  out_.alignment_ = a;
  return true;
}

bool Parser::ReadTensorInfo(uint64_t index) {
  const std::string where = "tensor info #" + std::to_string(index);
  TensorInfo t;
  if (!ReadString(&t.name, kMaxTensorNameBytes, where + "'s name")) return false;
  if (t.name.empty()) return Fail(where + " has an empty name");
  const std::string named = "tensor " + Quote(t.name);
  if (!Read(&t.n_dims, named + "'s dimension count")) return false;
  if (t.n_dims == 0 || t.n_dims > 4) {
    return Fail(named + " has " + std::to_string(t.n_dims) + " dimensions (1 to 4 allowed)");
  }
  t.n_elements = 1;
  for (uint32_t d = 0; d < t.n_dims; ++d) {
    if (!Read(&t.ne[d], named + "'s dimension " + std::to_string(d))) return false;
    if (t.ne[d] == 0) return Fail(named + "'s dimension " + std::to_string(d) + " is 0");
    constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (t.ne[d] > kMax / t.n_elements) {
      return Fail(named + "'s element count overflows 63 bits");
    }
    t.n_elements *= t.ne[d];
  }
  uint32_t type = 0;
  if (!Read(&type, named + "'s type")) return false;
  const TypeTraits* traits = FindType(type);
  if (traits == nullptr) {
    return Fail(named + " has unknown or unsupported ggml type " + std::to_string(type));
  }
  t.type = traits->type;
  if (t.ne[0] % traits->block_size != 0) {
    return Fail(named + " has rows of " + std::to_string(t.ne[0]) +
                " values, not a multiple of the " + std::string(traits->name) + " block of " +
                std::to_string(traits->block_size));
  }
  t.n_bytes = BytesFor(t.type, t.n_elements);
  if (t.n_bytes == 0) return Fail(named + "'s byte size overflows 64 bits");
  if (!Read(&t.offset, named + "'s offset")) return false;
  if (t.offset % out_.alignment_ != 0) {
    return Fail(named + "'s offset " + std::to_string(t.offset) + " is not a multiple of the " +
                std::to_string(out_.alignment_) + "-byte alignment");
  }
  if (!out_.tensor_index_.emplace(t.name, out_.tensors_.size()).second) {
    return Fail(named + " appears twice");
  }
  out_.tensors_.push_back(t);
  return true;
}

bool Parser::PlaceTensors() {
  // The data section starts at the next multiple of the alignment after the tensor infos.
  const uint64_t a = out_.alignment_;
  const uint64_t rem = pos_ % a;
  const uint64_t pad = rem == 0 ? 0 : a - rem;
  if (pad > Left()) {
    if (out_.tensors_.empty()) {
      out_.data_offset_ = size_;  // nothing to place; a file may end without padding
      return true;
    }
    return Fail("the data section would start at byte " + std::to_string(pos_) + " + " +
                std::to_string(pad) + " padding, past the file's end " + std::to_string(size_));
  }
  out_.data_offset_ = pos_ + pad;
  const uint64_t data_size = size_ - out_.data_offset_;
  for (TensorInfo& t : out_.tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      // Computed without overflow: offset + n_bytes may exceed 64 bits in a hostile file.
      const bool wraps =
          t.offset > std::numeric_limits<uint64_t>::max() - out_.data_offset_ ||
          t.n_bytes > std::numeric_limits<uint64_t>::max() - (out_.data_offset_ + t.offset);
      return Fail("tensor " + Quote(t.name) + ": data ends at byte " +
                  (wraps ? std::string("(beyond 2^64)")
                         : std::to_string(out_.data_offset_ + t.offset + t.n_bytes)) +
                  " past the file's end " + std::to_string(size_));
    }
    t.offset += out_.data_offset_;
    t.data = base_ + t.offset;
  }
  // No two tensors may share bytes (a writer never produces that; a crafted file could alias
  // a tensor into another one's data).
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(out_.tensors_.size());
  for (const TensorInfo& t : out_.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* x, const TensorInfo* y) { return x->offset < y->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    if (by_offset[i]->offset < prev.offset + prev.n_bytes) {
      return Fail("tensor " + Quote(by_offset[i]->name) + " at byte " +
                  std::to_string(by_offset[i]->offset) + " overlaps tensor " + Quote(prev.name) +
                  " (bytes " + std::to_string(prev.offset) + " to " +
                  std::to_string(prev.offset + prev.n_bytes) + ")");
    }
  }
  return true;
}

bool Parser::Run() {
  uint64_t n_tensors = 0, n_kv = 0;
  if (!ReadHeader(&n_tensors, &n_kv) || !ReadMetadata(n_kv) || !ReadAlignment()) return false;
  // Re-check the tensor count against what is left now that the metadata is consumed.
  if (n_tensors > Left() / kMinTensorInfoBytes) {
    return Fail("the header claims " + std::to_string(n_tensors) + " tensors, more than the " +
                std::to_string(Left()) + " bytes after the metadata can describe");
  }
  out_.tensors_.reserve(std::min(n_tensors, kMaxReserve));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    if (!ReadTensorInfo(i)) return false;
  }
  return PlaceTensors();
}

}  // namespace infergate::gguf

namespace infergate::gguf {

Expected<std::shared_ptr<const GgufFile>, std::string> GgufFile::Parse(
    std::shared_ptr<const Mapping> mapping, std::string label) {
  if (mapping == nullptr) return MakeUnexpected(label + ": no bytes");
  std::shared_ptr<GgufFile> file(new GgufFile());
  file->mapping_ = mapping;
  Parser parser(*mapping, *file);
  if (!parser.Run()) return MakeUnexpected(label + ": " + parser.error());
  return std::shared_ptr<const GgufFile>(std::move(file));
}

}  // namespace infergate::gguf
