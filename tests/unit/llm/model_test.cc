// Model::Load's checks (architecture, hyperparameter defaults, every tensor's presence and
// shape, with the file named) and Forward's refusals (a token outside the vocabulary, a full
// cache, a shared cache), which leave every cache and logits buffer untouched. The files are
// written by hand with the gguf tests' builder: a one-layer model 32 wide.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "infergate/llm/model.h"
#include "unit/gguf/gguf_builder.h"

namespace infergate::llm {
namespace {

using gguf::test::BuilderTensor;
using gguf::test::F32Bytes;
using gguf::test::GgufBuilder;

struct Tiny {
  std::string arch = "llama";
  int n_embd = 32, n_head = 2, n_kv = 1, n_ff = 64, n_vocab = 8;
  bool keys = true;     // the optional keys (head_count_kv, rope, eps)
  std::string skip;     // a tensor to leave out
  std::string reshape;  // a tensor to give the shape below
  std::vector<uint64_t> wrong_shape;
  std::string scaling;  // {arch}.rope.scaling.type, when set
  float scaling_factor = 4.0f;

  std::vector<uint8_t> Build() const {
    GgufBuilder b;
    b.String("general.architecture", arch);
    b.U32(arch + ".context_length", 64);
    b.U32(arch + ".embedding_length", static_cast<uint32_t>(n_embd));
    b.U32(arch + ".block_count", 1);
    b.U32(arch + ".feed_forward_length", static_cast<uint32_t>(n_ff));
    b.U32(arch + ".attention.head_count", static_cast<uint32_t>(n_head));
    if (keys) {
      b.U32(arch + ".attention.head_count_kv", static_cast<uint32_t>(n_kv));
      b.F32(arch + ".attention.layer_norm_rms_epsilon", 1e-6f);
      b.F32(arch + ".rope.freq_base", 500000.0f);
      b.U32(arch + ".rope.dimension_count", 8);
    }
    if (!scaling.empty()) {
      b.String(arch + ".rope.scaling.type", scaling);
      b.F32(arch + ".rope.scaling.factor", scaling_factor);
    }
    const uint64_t e = static_cast<uint64_t>(n_embd), hd = e / n_head;
    const uint64_t kv = (keys ? n_kv : n_head) * hd;
    auto add = [&](const std::string& name, std::vector<uint64_t> shape) {
      if (name == skip) return;
      if (name == reshape) shape = wrong_shape;
      size_t n = 1;
      for (uint64_t d : shape) n *= d;
      std::vector<float> v(n);
      for (size_t i = 0; i < n; ++i) v[i] = 0.01f * static_cast<float>((i * 7919) % 23) - 0.1f;
      b.Tensor(BuilderTensor(name, shape, 0, F32Bytes(v)));
    };
    add("token_embd.weight", {e, static_cast<uint64_t>(n_vocab)});
    add("output_norm.weight", {e});
    add("blk.0.attn_norm.weight", {e});
    add("blk.0.attn_q.weight", {e, e});
    add("blk.0.attn_k.weight", {e, kv});
    add("blk.0.attn_v.weight", {e, kv});
    if (arch == "qwen2") {
      add("blk.0.attn_q.bias", {e});
      add("blk.0.attn_k.bias", {kv});
      add("blk.0.attn_v.bias", {kv});
    }
    add("blk.0.attn_output.weight", {e, e});
    add("blk.0.ffn_norm.weight", {e});
    add("blk.0.ffn_gate.weight", {e, static_cast<uint64_t>(n_ff)});
    add("blk.0.ffn_up.weight", {e, static_cast<uint64_t>(n_ff)});
    add("blk.0.ffn_down.weight", {static_cast<uint64_t>(n_ff), e});
    return b.Build();
  }

  Expected<std::shared_ptr<const Model>, std::string> Load() const {
    auto file = gguf::GgufFile::Parse(gguf::Mapping::FromBytes(Build()), "tiny.gguf");
    if (!file) return MakeUnexpected(file.error());
    return Model::FromFile(*file);
  }
};

std::string ErrorOf(const Expected<std::shared_ptr<const Model>, std::string>& r) {
  return r.ok() ? "(loaded)" : r.error();
}

TEST(ModelLoad, ReadsHyperparameters) {
  auto m = Tiny{}.Load();
  ASSERT_TRUE(m.ok()) << m.error();
  const Hyper& h = (*m)->hyper();
  EXPECT_EQ(h.arch, Arch::kLlama);
  EXPECT_EQ(h.n_vocab, 8);
  EXPECT_EQ(h.n_embd, 32);
  EXPECT_EQ(h.n_head_kv, 1);
  EXPECT_EQ(h.head_dim, 16);
  EXPECT_EQ(h.n_rot, 8);
  EXPECT_FLOAT_EQ(h.rms_eps, 1e-6f);
  EXPECT_FLOAT_EQ(h.rope_base, 500000.0f);
  EXPECT_FALSE(h.rope_neox);
  // K and V, one KV head of 16 floats, one layer.
  EXPECT_EQ((*m)->kv_bytes_per_token(), 2u * 16 * 4);
  KvCache cache(**m, 10);
  EXPECT_EQ(cache.bytes(), 10 * (*m)->kv_bytes_per_token());
}

TEST(ModelLoad, DefaultsForAbsentKeys) {
  Tiny t;
  t.keys = false;
  auto m = t.Load();
  ASSERT_TRUE(m.ok()) << m.error();
  const Hyper& h = (*m)->hyper();
  EXPECT_EQ(h.n_head_kv, 2);  // head_count
  EXPECT_EQ(h.head_dim, 16);  // n_embd / n_head
  EXPECT_EQ(h.n_rot, 16);     // head_dim
  EXPECT_FLOAT_EQ(h.rope_base, 10000.0f);
  EXPECT_FLOAT_EQ(h.rms_eps, 1e-5f);
  EXPECT_FLOAT_EQ(h.rope_scale, 1.0f);
}

TEST(ModelLoad, RopeScaling) {
  Tiny t;
  t.scaling = "linear";
  auto m = t.Load();
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_FLOAT_EQ((*m)->hyper().rope_scale, 4.0f);
  t.scaling = "yarn";
  const std::string e = ErrorOf(t.Load());
  EXPECT_NE(e.find("rope scaling 'yarn' is not supported (supported: none, linear)"),
            std::string::npos)
      << e;
}

TEST(ModelLoad, Qwen2NeedsBiasesAndUsesNeoxRope) {
  Tiny t;
  t.arch = "qwen2";
  auto m = t.Load();
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_TRUE((*m)->hyper().rope_neox);
  t.skip = "blk.0.attn_k.bias";
  EXPECT_NE(ErrorOf(t.Load()).find("blk.0.attn_k.bias is missing"), std::string::npos)
      << ErrorOf(t.Load());
}

TEST(ModelLoad, OtherArchitecturesAreNamed) {
  Tiny t;
  t.arch = "gpt2";
  const std::string e = ErrorOf(t.Load());
  EXPECT_NE(e.find("'gpt2'"), std::string::npos) << e;
  EXPECT_NE(e.find("llama, qwen2"), std::string::npos) << e;
}

TEST(ModelLoad, MissingTensorIsNamed) {
  Tiny t;
  t.skip = "blk.0.ffn_up.weight";
  const std::string e = ErrorOf(t.Load());
  EXPECT_NE(e.find("gguf file: tensor blk.0.ffn_up.weight is missing (expected shape [32, 64])"),
            std::string::npos)
      << e;
}

TEST(ModelLoad, WrongShapeNamesBothShapes) {
  Tiny t;
  t.reshape = "blk.0.attn_k.weight";
  t.wrong_shape = {32, 32};
  const std::string e = ErrorOf(t.Load());
  EXPECT_NE(e.find("tensor blk.0.attn_k.weight has shape [32, 32], expected [32, 16]"),
            std::string::npos)
      << e;
  t.reshape = "output_norm.weight";
  t.wrong_shape = {31};
  EXPECT_NE(ErrorOf(t.Load()).find("output_norm.weight has shape [31], expected [32]"),
            std::string::npos);
}

TEST(ModelLoad, LoadNamesThePath) {
  char path[] = "/tmp/llm_model_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  Tiny t;
  t.skip = "output_norm.weight";
  const std::vector<uint8_t> bytes = t.Build();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  const std::string e = ErrorOf(Model::Load(path));
  std::remove(path);
  EXPECT_EQ(e.rfind(std::string(path) + ": tensor output_norm.weight is missing", 0), 0u) << e;
  EXPECT_NE(ErrorOf(Model::Load("/nonexistent/x.gguf")).find("/nonexistent/x.gguf"),
            std::string::npos);
}

class ForwardErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Tiny{}.Load();
    ASSERT_TRUE(m.ok()) << m.error();
    model_ = *m;
  }
  std::shared_ptr<const Model> model_;
  Scratch scratch_;
};

TEST_F(ForwardErrors, TokenOutsideVocabularyAppendsNothing) {
  KvCache a(*model_, 8), b(*model_, 8);
  std::vector<float> la(8, 123.0f), lb(8, 123.0f);
  const std::vector<int32_t> good = {1, 2}, bad = {3, 8};
  std::vector<BatchItem> batch = {{&a, good, la}, {&b, bad, lb}};
  auto r = Forward(*model_, batch, scratch_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "batch item 1: token 8 at index 1 is outside the vocabulary of 8");
  EXPECT_EQ(a.size(), 0);
  EXPECT_EQ(b.size(), 0);
  EXPECT_EQ(la, std::vector<float>(8, 123.0f));
  const std::vector<int32_t> negative = {-1};
  batch[1].tokens = negative;
  EXPECT_FALSE(Forward(*model_, batch, scratch_).ok());
}

TEST_F(ForwardErrors, FullCacheAppendsNothing) {
  KvCache a(*model_, 8), b(*model_, 3);
  std::vector<float> la(8), lb(8);
  const std::vector<int32_t> two = {1, 2};
  std::vector<BatchItem> batch = {{&a, two, la}, {&b, two, lb}};
  ASSERT_TRUE(Forward(*model_, batch, scratch_).ok());
  EXPECT_EQ(a.size(), 2);
  EXPECT_EQ(b.size(), 2);
  const std::vector<float> before = la;
  auto r = Forward(*model_, batch, scratch_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "batch item 1: 2 tokens, but the KV cache has room for 1 more (capacity 3)");
  EXPECT_EQ(a.size(), 2);
  EXPECT_EQ(b.size(), 2);
  EXPECT_EQ(la, before);
}

TEST_F(ForwardErrors, MalformedItems) {
  KvCache a(*model_, 8);
  std::vector<float> logits(8), small(7);
  const std::vector<int32_t> one = {1};
  std::vector<BatchItem> batch = {{&a, one, logits}, {&a, one, logits}};
  auto r = Forward(*model_, batch, scratch_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "batch item 1: shares its KV cache with batch item 0");
  batch = {{nullptr, one, logits}};
  EXPECT_EQ(Forward(*model_, batch, scratch_).error(), "batch item 0: no KV cache");
  batch = {{&a, {}, logits}};
  EXPECT_EQ(Forward(*model_, batch, scratch_).error(), "batch item 0: no tokens");
  batch = {{&a, one, small}};
  EXPECT_EQ(Forward(*model_, batch, scratch_).error(), "batch item 0: room for 7 logits, needs 8");
  EXPECT_EQ(a.size(), 0);
  // Another model's cache.
  Tiny wide;
  wide.n_kv = 2;
  auto other = wide.Load();
  ASSERT_TRUE(other.ok()) << other.error();
  KvCache foreign(**other, 8);
  batch = {{&foreign, one, logits}};
  EXPECT_EQ(Forward(*model_, batch, scratch_).error(),
            "batch item 0: the KV cache was made for another model");
  EXPECT_EQ(*Forward(*model_, std::span<BatchItem>(), scratch_), 0);
}

}  // namespace
}  // namespace infergate::llm
