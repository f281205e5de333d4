// The usage codec: SSE events split anywhere (every byte boundary, random chunkings) give the
// same output and counts; the usage event is removed only when asked; estimated counts without
// usage; the first token; hostile input stays within the codec's bounds; JSON answers in pieces.
#include "infergate/exchange/usage_codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace infergate::exchange {
namespace {

using Format = UsageCodec::Format;

std::string Chunk(int i, bool first, const std::string& model = "m-served") {
  std::string content = "tok" + std::to_string(i);
  return "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"" +
         model + "\",\"choices\":[{\"index\":0,\"delta\":{" +
         (first ? std::string("\"role\":\"assistant\",") : std::string()) + "\"content\":\"" +
         content + "\"},\"finish_reason\":null}]}\n\n";
}

const std::string kRole =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m-served\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n";
const std::string kUsage =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"m-served\",\"choices\":[],\"usage\":{\"prompt_tokens\":17,\"completion_tokens\":5,"
    "\"total_tokens\":22}}\n\n";
const std::string kDone = "data: [DONE]\n\n";

// A stream of a role event, `n` content events, the usage event (when `usage`) and [DONE].
std::string Stream(int n, bool usage) {
  std::string s = kRole;
  for (int i = 0; i < n; ++i) s += Chunk(i, false);
  if (usage) s += kUsage;
  return s + kDone;
}

struct Outcome {
  std::string out;
  TokenUsage usage;
  uint64_t stripped = 0;
  size_t max_buffered = 0;
};

// Feeds `in` cut at `cuts` (ascending offsets) and ends it.
Outcome Feed(const std::string& in, const std::vector<size_t>& cuts, bool strip,
             Format format = Format::kSse) {
  UsageCodec c;
  c.Start(format, strip);
  Outcome r;
  size_t at = 0;
  auto feed = [&](size_t end) {
    std::string_view piece(in.data() + at, end - at);
    if (c.filtering()) {
      c.Feed(piece, &r.out);
    } else {
      r.out.append(piece);
      c.Feed(piece, nullptr);
    }
    r.max_buffered = std::max(r.max_buffered, c.buffered());
    at = end;
  };
  for (size_t cut : cuts) feed(cut);
  feed(in.size());
  c.End(&r.out);
  r.usage = c.Result();
  r.stripped = c.stripped_events();
  return r;
}

std::vector<size_t> EveryByte(size_t n) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < n; ++i) cuts.push_back(i);
  return cuts;
}

std::vector<size_t> RandomCuts(size_t n, std::mt19937& rng) {
  std::vector<size_t> cuts;
  std::uniform_int_distribution<size_t> step(1, 40);
  for (size_t at = step(rng); at < n; at += step(rng)) cuts.push_back(at);
  return cuts;
}

TEST(UsageCodec, StripsTheUsageEventWhereverTheStreamIsCut) {
  const std::string in = Stream(5, true);
  const std::string want = Stream(5, false);
  std::vector<std::vector<size_t>> cuttings = {{}, EveryByte(in.size())};
  for (size_t i = 1; i < in.size(); ++i) cuttings.push_back({i});  // every two-piece split
  std::mt19937 rng(7);
  for (int k = 0; k < 200; ++k) cuttings.push_back(RandomCuts(in.size(), rng));
  for (const auto& cuts : cuttings) {
    Outcome r = Feed(in, cuts, /*strip=*/true);
    ASSERT_EQ(r.out, want) << "cut into " << cuts.size() + 1 << " pieces";
    EXPECT_EQ(r.stripped, 1u);
    EXPECT_EQ(r.usage.input_tokens, 17u);
    EXPECT_EQ(r.usage.output_tokens, 5u);
    EXPECT_FALSE(r.usage.estimated);
    EXPECT_EQ(r.usage.model, "m-served");
  }
}

TEST(UsageCodec, KeepsTheUsageEventTheClientAskedFor) {
  const std::string in = Stream(3, true);
  for (const auto& cuts : {std::vector<size_t>{}, EveryByte(in.size())}) {
    Outcome r = Feed(in, cuts, /*strip=*/false);
    EXPECT_EQ(r.out, in);
    EXPECT_EQ(r.stripped, 0u);
    EXPECT_EQ(r.usage.input_tokens, 17u);
    EXPECT_EQ(r.usage.output_tokens, 5u);  // the usage event's count, not the 3 events
  }
}

TEST(UsageCodec, CountsContentEventsWhenNoUsageCame) {
  Outcome r = Feed(Stream(4, false), {}, /*strip=*/true);
  EXPECT_EQ(r.out, Stream(4, false));
  EXPECT_FALSE(r.usage.input_tokens);
  EXPECT_EQ(r.usage.output_tokens, 4u);  // the role event with empty content is not one
  EXPECT_TRUE(r.usage.estimated);
  EXPECT_EQ(r.stripped, 0u);
}

TEST(UsageCodec, UsageInsideContentChunksIsNeverStripped) {
  // vLLM's continuous usage stats: usage rides on the content chunks.
  const std::string in =
      "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":"
      "{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n"
      "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"b\"}}],\"usage\":"
      "{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n";
  Outcome r = Feed(in, EveryByte(in.size()), /*strip=*/true);
  EXPECT_EQ(r.out, in);
  EXPECT_EQ(r.usage.input_tokens, 3u);
  EXPECT_EQ(r.usage.output_tokens, 2u);
}

TEST(UsageCodec, FirstTokenIsTheFirstEventWithContent) {
  const std::string in = kRole + Chunk(0, false) + Chunk(1, false);
  UsageCodec c;
  c.Start(Format::kSse, false);
  size_t first_at = 0;
  int taken = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    c.Feed(std::string_view(in).substr(i, 1), nullptr);
    if (c.TakeFirstToken()) {
      ++taken;
      first_at = i + 1;
    }
  }
  EXPECT_EQ(taken, 1);
  EXPECT_EQ(first_at, kRole.size() + Chunk(0, false).size());  // when its event ended
}

TEST(UsageCodec, ReasoningAndLegacyCompletionsCount) {
  const std::string in =
      "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n"
      "data: {\"choices\":[{\"text\":\"x\",\"index\":0}]}\n\n"
      "data: {\"choices\":[{\"text\":\"\",\"index\":0,\"finish_reason\":\"stop\"}]}\n\n";
  Outcome r = Feed(in, {}, false);
  EXPECT_EQ(r.usage.output_tokens, 2u);
  EXPECT_TRUE(r.usage.estimated);
}

TEST(UsageCodec, ResponsesApiStream) {
  const std::string in =
      "event: response.created\n"
      "data: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-x\",\"usage\":null}}\n\n"
      "event: response.output_text.delta\n"
      "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n"
      "event: response.output_text.delta\n"
      "data: {\"type\":\"response.output_text.delta\",\"delta\":\" there\"}\n\n"
      "event: response.completed\n"
      "data: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-x\",\"usage\":"
      "{\"input_tokens\":9,\"output_tokens\":2,\"total_tokens\":11}}}\n\n";
  for (const auto& cuts : {std::vector<size_t>{}, EveryByte(in.size())}) {
    Outcome r = Feed(in, cuts, /*strip=*/true);
    EXPECT_EQ(r.out, in);  // Responses events are never removed
    EXPECT_EQ(r.usage.input_tokens, 9u);
    EXPECT_EQ(r.usage.output_tokens, 2u);
    EXPECT_FALSE(r.usage.estimated);
    EXPECT_EQ(r.usage.model, "gpt-x");
  }
}

TEST(UsageCodec, CrLfLineEndsSplitBetweenTheTwoBytes) {
  auto crlf = [](std::string s) {
    std::string out;
    for (char ch : s) out += ch == '\n' ? std::string("\r\n") : std::string(1, ch);
    return out;
  };
  const std::string in = crlf(Stream(2, true));
  const std::string want = crlf(Stream(2, false));
  for (const auto& cuts : {std::vector<size_t>{}, EveryByte(in.size())}) {
    Outcome r = Feed(in, cuts, /*strip=*/true);
    EXPECT_EQ(r.out, want);
    EXPECT_EQ(r.usage.output_tokens, 5u);
  }
}

TEST(UsageCodec, MultiLineDataAndComments) {
  const std::string in =
      ": keep-alive\n\n"
      "data: {\"choices\":[],\n"
      "data: \"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6}}\n\n";
  Outcome stripped = Feed(in, EveryByte(in.size()), true);
  EXPECT_EQ(stripped.out, ": keep-alive\n\n");
  EXPECT_EQ(stripped.usage.input_tokens, 4u);
  EXPECT_EQ(stripped.usage.output_tokens, 6u);
}

TEST(UsageCodec, InvalidJsonPassesAndCountsNothing) {
  const std::string in = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}\n\ndata: nope\n\n";
  Outcome r = Feed(in, EveryByte(in.size()), true);
  EXPECT_EQ(r.out, in);
  EXPECT_FALSE(r.usage.output_tokens);
}

TEST(UsageCodec, AnUnterminatedLastEventGoesOutAsItCame) {
  const std::string in = Chunk(0, true) + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}";
  Outcome r = Feed(in, EveryByte(in.size()), true);
  EXPECT_EQ(r.out, in);
  EXPECT_EQ(r.usage.input_tokens, 1u);
}

TEST(UsageCodec, AHugeEventIsGivenUpAndPassedThroughWithinTheBound) {
  std::string big = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1},\"pad\":\"" +
                    std::string(UsageCodec::kMaxEvent + 10, 'x') + "\"}\n\n";
  const std::string in = Chunk(0, true) + big + Chunk(1, false);
  std::mt19937 rng(3);
  for (const auto& cuts : {std::vector<size_t>{}, RandomCuts(in.size(), rng)}) {
    Outcome r = Feed(in, cuts, true);
    EXPECT_EQ(r.out, in);  // given up on: neither parsed nor removed
    EXPECT_FALSE(r.usage.input_tokens);
    EXPECT_EQ(r.usage.output_tokens, 2u);
    EXPECT_LE(r.max_buffered, 4 * UsageCodec::kMaxEvent);
  }
}

TEST(UsageCodec, NoNewlineEverStaysBoundedAndFlows) {
  for (bool strip : {true, false}) {
    UsageCodec c;
    c.Start(Format::kSse, strip);
    std::string out;
    size_t fed = 0;
    const std::string piece(4096, 'y');
    for (int i = 0; i < 256; ++i) {  // 1 MiB without a line end
      if (c.filtering()) {
        c.Feed(piece, &out);
      } else {
        c.Feed(piece, nullptr);
      }
      fed += piece.size();
      ASSERT_LE(c.buffered(), 3 * UsageCodec::kMaxEvent + 2 * piece.size());
      // Filtering holds at most one event's worth: the rest has gone on to the client.
      if (strip) {
        ASSERT_GE(out.size() + UsageCodec::kMaxEvent + piece.size(), fed);
      }
    }
    c.End(&out);
    if (strip) {
      EXPECT_EQ(out.size(), fed);
    }
  }
}

TEST(UsageCodec, LongLinesInManyEventsDoNotGrowTheBuffers) {
  std::string in;
  for (int i = 0; i < 40; ++i) in += "data: \"" + std::string(50000, 'z') + "\"\n\n";
  Outcome r = Feed(in, {}, true);
  EXPECT_EQ(r.out, in);
  EXPECT_LE(r.max_buffered, 4 * UsageCodec::kMaxEvent);
}

// ---- JSON answers

const std::string kCompletion =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m-served\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"say "
    "\\\"usage\\\":{\\\"prompt_tokens\\\":999} {[,:\"}}],"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,\"total_tokens\":46}}";

TEST(UsageCodec, JsonAnswerReadInAnyPieces) {
  std::vector<std::vector<size_t>> cuttings = {{}, EveryByte(kCompletion.size())};
  std::mt19937 rng(11);
  for (int k = 0; k < 50; ++k) cuttings.push_back(RandomCuts(kCompletion.size(), rng));
  for (const auto& cuts : cuttings) {
    Outcome r = Feed(kCompletion, cuts, /*strip=*/true, Format::kJson);
    EXPECT_EQ(r.out, kCompletion);
    EXPECT_EQ(r.usage.input_tokens, 12u);
    EXPECT_EQ(r.usage.output_tokens, 34u);
    EXPECT_FALSE(r.usage.estimated);
    EXPECT_EQ(r.usage.model, "m-served");
  }
}

TEST(UsageCodec, JsonResponsesAndEmbeddings) {
  Outcome resp = Feed(
      "{\"id\":\"resp_1\",\"object\":\"response\",\"model\":\"gpt-\\u0078\",\"output\":[{\"type\":"
      "\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"hi\"}]}],\"usage\":"
      "{\"input_tokens\":7,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":3}}",
      {}, false, Format::kJson);
  EXPECT_EQ(resp.usage.input_tokens, 7u);
  EXPECT_EQ(resp.usage.output_tokens, 3u);
  EXPECT_EQ(resp.usage.model, "gpt-x");
  Outcome emb = Feed(
      " {\"object\":\"list\",\"data\":[{\"embedding\":[0.1,-0.2,3e-4],\"index\":0}],"
      "\"model\":\"e5\",\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}\n",
      {}, false, Format::kJson);
  EXPECT_EQ(emb.usage.input_tokens, 8u);
  EXPECT_FALSE(emb.usage.output_tokens);
  EXPECT_EQ(emb.usage.model, "e5");
}

TEST(UsageCodec, JsonHostileInput) {
  // Not an object; a usage value over the cap; a nested "usage" that is not top-level.
  EXPECT_FALSE(
      Feed("[{\"usage\":{\"prompt_tokens\":1}}]", {}, false, Format::kJson).usage.input_tokens);
  std::string big = "{\"usage\":{\"prompt_tokens\":1,\"pad\":\"" +
                    std::string(UsageCodec::kMaxValue, 'p') + "\"},\"model\":\"m\"}";
  Outcome r = Feed(big, {}, false, Format::kJson);
  EXPECT_FALSE(r.usage.input_tokens);
  EXPECT_EQ(r.usage.model, "m");
  EXPECT_LE(r.max_buffered, 2 * UsageCodec::kMaxValue);
  EXPECT_FALSE(Feed("{\"choices\":[{\"usage\":{\"prompt_tokens\":5}}]}", {}, false, Format::kJson)
                   .usage.input_tokens);
  Outcome bad =
      Feed("{\"usage\":{\"prompt_tokens\":oops},\"model\":\"m\"", {}, false, Format::kJson);
  EXPECT_FALSE(bad.usage.input_tokens);
  EXPECT_EQ(bad.usage.model, "m");
}

}  // namespace
}  // namespace infergate::exchange
