// The GGUF reader on hand-built files: every metadata type, the accessors, and each validation
// with the message it gives.
#include "infergate/gguf/gguf_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "unit/gguf/gguf_builder.h"

namespace infergate::gguf {
namespace {

using test::BuilderTensor;
using test::ByteWriter;
using test::F32Bytes;
using test::GgufBuilder;

Expected<std::shared_ptr<const GgufFile>, std::string> ParseBytes(std::vector<uint8_t> bytes) {
  return GgufFile::Parse(Mapping::FromBytes(std::move(bytes)), "test.gguf");
}

// The error of a parse that must fail.
std::string ErrorOf(std::vector<uint8_t> bytes) {
  auto f = ParseBytes(std::move(bytes));
  EXPECT_FALSE(f.ok());
  return f.ok() ? std::string() : f.error();
}

GgufBuilder TwoTensorFile() {
  GgufBuilder b;
  b.String("general.architecture", "llama");
  b.Tensor({"a.weight", {4, 2}, 0, F32Bytes({1, 2, 3, 4, 5, 6, 7, 8})});
  b.Tensor({"b.weight", {3}, 0, F32Bytes({-1, -2, -3})});
  return b;
}

TEST(GgufFile, ReadsEveryMetadataType) {
  GgufBuilder b;
  b.Scalar<uint8_t>("u8", 0, 200)
      .Scalar<int8_t>("i8", 1, -100)
      .Scalar<uint16_t>("u16", 2, 60000)
      .Scalar<int16_t>("i16", 3, -30000)
      .U32("u32", 4000000000u)
      .Scalar<int32_t>("i32", 5, -2000000000)
      .F32("f32", 0.25f)
      .Scalar<uint8_t>("bool", 7, 1)
      .String("str", "héllo")
      .Scalar<uint64_t>("u64", 10, 1ull << 60)
      .Scalar<int64_t>("i64", 11, -(1ll << 60))
      .Scalar<double>("f64", 12, 1e-300)
      .Scalar<uint64_t>("huge", 10, ~0ull)
      .StringArray("strs", {"<unk>", "", "▁the"})
      .ScalarArray<float>("floats", 6, {0.5f, -1.5f})
      .ScalarArray<double>("doubles", 12, {2.5})
      .ScalarArray<int32_t>("ints", 5, {-1, 7, 3})
      .ScalarArray<uint8_t>("bools", 7, {1, 0})
      .ScalarArray<int8_t>("i8s", 1, {-3, 4})
      .ScalarArray<uint16_t>("u16s", 2, {65535})
      .ScalarArray<int64_t>("i64s", 11, {-(1ll << 40)})
      .ScalarArray<uint64_t>("u64s", 10, {5, ~0ull});
  // An array of arrays of strings.
  ByteWriter nested;
  nested.Put<uint32_t>(9);
  nested.Put<uint64_t>(2);
  for (const std::vector<std::string>& inner :
       {std::vector<std::string>{"a", "b"}, std::vector<std::string>{"c"}}) {
    nested.Put<uint32_t>(8);
    nested.Put<uint64_t>(inner.size());
    for (const std::string& s : inner) nested.PutString(s);
  }
  b.Raw("nested", 9, nested.bytes);

  auto f = ParseBytes(b.Build());
  ASSERT_TRUE(f.ok()) << f.error();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.metadata().size(), 23u);
  EXPECT_EQ(*g.GetInt("u8"), 200);
  EXPECT_EQ(*g.GetInt("i8"), -100);
  EXPECT_EQ(*g.GetInt("u16"), 60000);
  EXPECT_EQ(*g.GetInt("i16"), -30000);
  EXPECT_EQ(*g.GetInt("u32"), 4000000000);
  EXPECT_EQ(*g.GetInt("i32"), -2000000000);
  EXPECT_EQ(*g.GetFloat("f32"), 0.25);
  EXPECT_TRUE(*g.GetBool("bool"));
  EXPECT_EQ(*g.GetString("str"), "héllo");
  EXPECT_EQ(*g.GetInt("u64"), int64_t{1} << 60);
  EXPECT_EQ(*g.GetInt("i64"), -(int64_t{1} << 60));
  EXPECT_EQ(*g.GetFloat("f64"), 1e-300);
  EXPECT_EQ(g.GetInt("huge").error(), "metadata key 'huge' does not fit a signed 64-bit int");
  auto strs = g.GetStringArray("strs");
  ASSERT_TRUE(strs.ok());
  ASSERT_EQ(strs->size(), 3u);
  EXPECT_EQ((*strs)[0], "<unk>");
  EXPECT_EQ((*strs)[1], "");
  EXPECT_EQ((*strs)[2], "▁the");
  EXPECT_EQ(*g.GetFloatArray("floats"), (std::vector<float>{0.5f, -1.5f}));
  EXPECT_EQ(*g.GetFloatArray("doubles"), (std::vector<float>{2.5f}));
  EXPECT_EQ(*g.GetIntArray("ints"), (std::vector<int64_t>{-1, 7, 3}));
  EXPECT_EQ(*g.GetIntArray("i8s"), (std::vector<int64_t>{-3, 4}));
  EXPECT_EQ(*g.GetIntArray("u16s"), (std::vector<int64_t>{65535}));
  EXPECT_EQ(*g.GetIntArray("i64s"), (std::vector<int64_t>{-(int64_t{1} << 40)}));
  EXPECT_EQ(g.GetIntArray("u64s").error(),
            "metadata key 'u64s''s element #1 does not fit a signed 64-bit int");
  EXPECT_EQ(g.GetIntArray("floats").error(),
            "metadata key 'floats' is an array of float32, not of integers");
  const MetaValue* n = g.Find("nested");
  ASSERT_NE(n, nullptr);
  const auto& outer = std::get<MetaArray>(n->value);
  ASSERT_EQ(outer.element_type, ValueType::kArray);
  ASSERT_EQ(outer.arrays.size(), 2u);
  const auto& first = std::get<MetaArray>(outer.arrays[0].value);
  ASSERT_EQ(first.strings.size(), 2u);
  EXPECT_EQ(first.strings[1], "b");
  EXPECT_EQ(std::get<MetaArray>(outer.arrays[1].value).strings.at(0), "c");
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_TRUE(g.tensors().empty());
}

TEST(GgufFile, GettersNameTheKeyAndTheTypeOnMismatch) {
  GgufBuilder b;
  b.U32("n", 3).String("s", "x").StringArray("a", {"x"}).F32("f", 1.0f);
  auto f = ParseBytes(b.Build());
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ((*f)->GetString("n").error(), "metadata key 'n' is a uint32, not a string");
  EXPECT_EQ((*f)->GetInt("s").error(), "metadata key 's' is a string, not an integer");
  EXPECT_EQ((*f)->GetFloat("n").error(), "metadata key 'n' is a uint32, not a float");
  EXPECT_EQ((*f)->GetString("missing").error(), "metadata key 'missing' is missing");
  EXPECT_EQ((*f)->GetFloatArray("a").error(),
            "metadata key 'a' is an array of string, not of floats");
  EXPECT_EQ((*f)->GetIntArray("a").error(),
            "metadata key 'a' is an array of string, not of integers");
  EXPECT_EQ((*f)->GetStringArray("f").error(), "metadata key 'f' is a float32, not a array");
  EXPECT_EQ((*f)->GetBool("n").error(), "metadata key 'n' is a uint32, not a bool");
}

TEST(GgufFile, TensorsHaveShapeTypeAndAlignedData) {
  auto f = ParseBytes(TwoTensorFile().Build());
  ASSERT_TRUE(f.ok()) << f.error();
  const GgufFile& g = **f;
  ASSERT_EQ(g.tensors().size(), 2u);
  const TensorInfo* a = g.FindTensor("a.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->n_dims, 2u);
  EXPECT_EQ(a->ne[0], 4u);
  EXPECT_EQ(a->ne[1], 2u);
  EXPECT_EQ(a->ne[2], 1u);
  EXPECT_EQ(a->n_elements, 8u);
  EXPECT_EQ(a->n_bytes, 32u);
  EXPECT_EQ(a->rows(), 2u);
  EXPECT_EQ(a->row_bytes(), 16u);
  EXPECT_EQ(a->type, GgmlType::kF32);
  EXPECT_EQ(a->offset % 32, 0u);
  EXPECT_EQ(a->offset, g.data_offset());
  float second_row[4];
  ASSERT_TRUE(Dequantize(a->type, a->data + a->row_bytes(), 4, second_row));
  EXPECT_EQ(second_row[0], 5.0f);
  EXPECT_EQ(second_row[3], 8.0f);
  auto b = g.GetTensor("b.weight");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->offset, g.data_offset() + 32);
  EXPECT_EQ((*b)->bytes().size(), 12u);
  EXPECT_EQ(g.GetTensor("c.weight").error(), "tensor 'c.weight' is missing");
}

TEST(GgufFile, ReadsVersion2AndCustomAlignment) {
  GgufBuilder b(2);
  b.U32("general.alignment", 64);
  b.Tensor({"x", {2}, 0, F32Bytes({1, 2})});
  b.Tensor({"y", {2}, 0, F32Bytes({3, 4})});
  auto f = ParseBytes(b.Build(64));
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ((*f)->version(), 2u);
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
  EXPECT_EQ((*f)->FindTensor("y")->offset, (*f)->data_offset() + 64);
}

TEST(GgufFile, RefusesWhatIsNotGgufVersion2Or3) {
  std::vector<uint8_t> bytes = TwoTensorFile().Build();
  bytes[0] = 'X';
  EXPECT_EQ(ErrorOf(bytes), "test.gguf: not a GGUF file (the first four bytes are not \"GGUF\")");
  EXPECT_EQ(ErrorOf(GgufBuilder(1).Build()),
            "test.gguf: GGUF version 1 is not supported (versions 2 and 3 are)");
  EXPECT_EQ(ErrorOf(GgufBuilder(0x03000000).Build()),
            "test.gguf: a big-endian GGUF file: only little-endian files are supported");
  EXPECT_EQ(ErrorOf(GgufBuilder(7).Build()), "test.gguf: unknown GGUF version 7");
  EXPECT_EQ(ErrorOf({'G', 'G', 'U'}),
            "test.gguf: truncated at byte 0 reading the magic number: 4 bytes needed, 3 left");
}

TEST(GgufFile, TruncationNamesTheByteAndTheField) {
  GgufBuilder b;
  b.U32("first", 1).String("general.name", "a name that is long");
  std::vector<uint8_t> bytes = b.Build();
  bytes.resize(bytes.size() - 5);
  EXPECT_EQ(ErrorOf(bytes),
            "test.gguf: truncated at byte " + std::to_string(bytes.size() - 14) +
                " reading metadata key #1 'general.name''s value: 19 bytes needed, 14 left");
}

TEST(GgufFile, BoundsCountsByTheBytesLeft) {
  EXPECT_EQ(ErrorOf(GgufBuilder().OverrideCounts(0, 1000).Build()),
            "test.gguf: the header claims 1000 metadata keys, more than the 0 bytes left can "
            "hold");
  EXPECT_EQ(ErrorOf(GgufBuilder().OverrideCounts(1ull << 62, 0).Build()),
            "test.gguf: the header claims 4611686018427387904 tensors, more than the 0 bytes "
            "left can describe");
  ByteWriter w;
  w.Put<uint32_t>(8);
  w.Put<uint64_t>(~0ull);  // 2^64-1 strings
  GgufBuilder b;
  b.Raw("tokenizer.ggml.tokens", 9, w.bytes);
  EXPECT_EQ(ErrorOf(b.Build()),
            "test.gguf: metadata key #0 'tokenizer.ggml.tokens''s value at byte 61 claims "
            "18446744073709551615 elements, more than the 0 bytes left can hold");
  GgufBuilder s;
  s.Scalar<uint64_t>("s", 8, 1ull << 40);  // a string whose length is far past the end
  EXPECT_EQ(ErrorOf(s.Build()),
            "test.gguf: truncated at byte 45 reading metadata key #0 's''s value: "
            "1099511627776 bytes needed, 0 left");
}

TEST(GgufFile, RefusesBadMetadata) {
  GgufBuilder dup;
  dup.U32("k", 1).U32("k", 2);
  EXPECT_EQ(ErrorOf(dup.Build()), "test.gguf: metadata key #1 'k' is a duplicate");
  GgufBuilder type;
  type.Scalar<uint32_t>("k", 13, 0);
  EXPECT_EQ(ErrorOf(type.Build()), "test.gguf: metadata key #0 'k' at byte 33 has unknown type 13");
  GgufBuilder boolean;
  boolean.Scalar<uint8_t>("k", 7, 2);
  EXPECT_EQ(ErrorOf(boolean.Build()),
            "test.gguf: metadata key #0 'k''s value at byte 37 is a bool of value 2, not 0 or 1");
  GgufBuilder align;
  align.U32("general.alignment", 48);
  EXPECT_EQ(ErrorOf(align.Build()), "test.gguf: general.alignment 48 is not a power of two");
  GgufBuilder align_type;
  align_type.String("general.alignment", "32");
  EXPECT_EQ(ErrorOf(align_type.Build()), "test.gguf: general.alignment is a string, not a uint32");
  // Arrays nested nine deep.
  ByteWriter deep;
  for (int i = 0; i < 9; ++i) {
    deep.Put<uint32_t>(9);
    deep.Put<uint64_t>(1);
  }
  deep.Put<uint32_t>(0);
  deep.Put<uint64_t>(0);
  GgufBuilder nest;
  nest.Raw("k", 9, deep.bytes);
  EXPECT_NE(ErrorOf(nest.Build()).find("nests arrays deeper than 8"), std::string::npos);
  // Nested arrays cost far more in memory than in the file: their number is capped.
  ByteWriter wide;
  wide.Put<uint32_t>(9);
  wide.Put<uint64_t>(70000);
  for (int i = 0; i < 70000; ++i) {
    wide.Put<uint32_t>(0);
    wide.Put<uint64_t>(0);
  }
  GgufBuilder many;
  many.Raw("k", 9, wide.bytes);
  EXPECT_EQ(ErrorOf(many.Build()),
            "test.gguf: metadata key #0 'k''s value brings the metadata over 65536 nested arrays");
}

TEST(GgufFile, RefusesBadTensorInfos) {
  auto one = [](BuilderTensor t) {
    GgufBuilder b;
    b.Tensor(std::move(t));
    return ErrorOf(b.Build());
  };
  EXPECT_EQ(one({"t", {1, 1, 1, 1, 1}, 0, {}}),
            "test.gguf: tensor 't' has 5 dimensions (1 to 4 allowed)");
  EXPECT_EQ(one({"t", {4, 0}, 0, {}}), "test.gguf: tensor 't''s dimension 1 is 0");
  EXPECT_EQ(one({"t", {1ull << 32, 1ull << 32}, 0, {}}),
            "test.gguf: tensor 't''s element count overflows 63 bits");
  EXPECT_EQ(one({"t", {32}, 19, {}}),
            "test.gguf: tensor 't' has unknown or unsupported ggml type 19");
  EXPECT_EQ(one({"t", {100, 2}, 12, {}}),
            "test.gguf: tensor 't' has rows of 100 values, not a multiple of the q4_K block of "
            "256");
  EXPECT_EQ(one({"t", {1ull << 62}, 0, {}}), "test.gguf: tensor 't''s byte size overflows 64 bits");
  EXPECT_EQ(one({"", {1}, 0, F32Bytes({1})}), "test.gguf: tensor info #0 has an empty name");
  EXPECT_NE(one({std::string(64, 'n'), {1}, 0, F32Bytes({1})}).find("over the limit of 63"),
            std::string::npos);
  EXPECT_EQ(one({"t", {1}, 0, F32Bytes({1}), 16}),
            "test.gguf: tensor 't''s offset 16 is not a multiple of the 32-byte alignment");
  GgufBuilder dup;
  dup.Tensor({"t", {1}, 0, F32Bytes({1})}).Tensor({"t", {1}, 0, F32Bytes({2})});
  EXPECT_EQ(ErrorOf(dup.Build()), "test.gguf: tensor 't' appears twice");
  GgufBuilder overlap;
  overlap.Tensor({"a", {16}, 0, F32Bytes(std::vector<float>(16))})
      .Tensor({"b", {8}, 0, F32Bytes(std::vector<float>(8)), 32});
  EXPECT_NE(ErrorOf(overlap.Build()).find("tensor 'b' at byte "), std::string::npos);
}

TEST(GgufFile, RefusesTensorDataPastTheEnd) {
  std::vector<uint8_t> bytes = TwoTensorFile().Build();
  auto good = ParseBytes(bytes);
  ASSERT_TRUE(good.ok()) << good.error();
  const uint64_t data = (*good)->data_offset();
  bytes.resize(bytes.size() - 4);
  EXPECT_EQ(ErrorOf(bytes), "test.gguf: tensor 'b.weight': data ends at byte " +
                                std::to_string(data + 44) + " past the file's end " +
                                std::to_string(data + 40));
  // An offset so large that offset + size wraps around 2^64.
  GgufBuilder wrap;
  wrap.Tensor({"w", {8}, 0, {}, ~0ull / 32 * 32 - 64});
  EXPECT_EQ(ErrorOf(wrap.Build()),
            "test.gguf: tensor 'w': data ends at byte (beyond 2^64) past the file's end " +
                std::to_string(wrap.Build().size()));
}

TEST(GgufFile, OpensAFileWithMmap) {
  char dir_template[] = "/tmp/gguf_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/m.gguf";
  const std::vector<uint8_t> bytes = TwoTensorFile().Build();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(*(*f)->GetString("general.architecture"), "llama");
  EXPECT_EQ((*f)->mapping().size(), bytes.size());
  // The mapping is page aligned, so the 32-byte aligned offsets give 32-byte aligned pointers.
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*f)->FindTensor("b.weight")->data) % 32, 0u);
  EXPECT_EQ(GgufFile::Open(path + ".missing").error(),
            path + ".missing: cannot open: No such file or directory");
  std::ofstream(path + ".empty").close();
  EXPECT_EQ(GgufFile::Open(path + ".empty").error(), path + ".empty: the file is empty");
  EXPECT_EQ(GgufFile::Open(std::string(dir_template)).error(),
            std::string(dir_template) + ": not a regular file");
  std::remove((path + ".empty").c_str());
  std::remove(path.c_str());
  rmdir(dir_template);
}

}  // namespace
}  // namespace infergate::gguf
