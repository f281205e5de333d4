// SumPromSamples: sums over label sets, the text format's corners (comments, escaped label values,
// timestamps, special values, CRLF), garbage that must be skipped, and random input.
#include "infergate/health/prom_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace infergate::health {
namespace {

std::optional<double> One(std::string_view text, std::string_view name) {
  const std::string_view names[] = {name};
  return SumPromSamples(text, names).at(0);
}

TEST(PromText, VllmPage) {
  constexpr std::string_view kPage =
      "# HELP vllm:num_requests_running Number of requests currently running on GPU.\n"
      "# TYPE vllm:num_requests_running gauge\n"
      "vllm:num_requests_running{model_name=\"llama-8b\"} 3.0\n"
      "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
      "# TYPE vllm:num_requests_waiting gauge\n"
      "vllm:num_requests_waiting{model_name=\"llama-8b\"} 12.0\n"
      "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
      "# TYPE vllm:kv_cache_usage_perc gauge\n"
      "vllm:kv_cache_usage_perc{model_name=\"llama-8b\"} 0.25\n";
  const std::string_view names[] = {"vllm:num_requests_waiting", "vllm:num_requests_running",
                                    "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"};
  auto sums = SumPromSamples(kPage, names);
  ASSERT_EQ(sums.size(), 4u);
  EXPECT_EQ(sums[0], 12.0);
  EXPECT_EQ(sums[1], 3.0);
  EXPECT_EQ(sums[2], 0.25);
  EXPECT_EQ(sums[3], std::nullopt);
}

TEST(PromText, SumsAcrossLabelSets) {
  constexpr std::string_view kPage =
      "q{engine=\"0\"} 2\n"
      "q{engine=\"1\"} 5\n"
      "q 1\n"
      "other{engine=\"0\"} 100\n";
  EXPECT_EQ(One(kPage, "q"), 8.0);
  EXPECT_EQ(One(kPage, "other"), 100.0);
}

TEST(PromText, AbsentNameAndEmptyInputs) {
  EXPECT_EQ(One("", "q"), std::nullopt);
  EXPECT_EQ(One("\n\n\r\n", "q"), std::nullopt);
  EXPECT_EQ(One("q_total 3\nq_bucket{le=\"1\"} 2\nqq 1\n", "q"), std::nullopt);
  EXPECT_TRUE(SumPromSamples("q 1\n", {}).empty());
}

TEST(PromText, NamesMatchExactly) {
  constexpr std::string_view kPage = "tgi_queue_size 4\ntgi_queue_size_total 9\n";
  EXPECT_EQ(One(kPage, "tgi_queue_size"), 4.0);
  EXPECT_EQ(One(kPage, "tgi_queue"), std::nullopt);
}

TEST(PromText, TheSameNameTwiceInTheListGetsBothSums) {
  const std::string_view names[] = {"a", "b", "a"};
  auto sums = SumPromSamples("a 1\nb 2\n", names);
  EXPECT_EQ(sums[0], 1.0);
  EXPECT_EQ(sums[1], 2.0);
  EXPECT_EQ(sums[2], 1.0);
}

TEST(PromText, EscapesInsideLabelValues) {
  constexpr std::string_view kPage =
      "q{path=\"a \\\"quoted\\\" value, with a comma\",x=\"y\"} 1\n"
      "q{path=\"back\\\\slash\\\\\"} 2\n"
      "q{path=\"brace } and { inside\"} 4\n"
      "q{path=\"new\\nline\",} 8\n"
      "q{} 16\n"
      "q { a = \"b\" , c=\"d\" } 32\n";
  EXPECT_EQ(One(kPage, "q"), 63.0);
}

TEST(PromText, Timestamps) {
  EXPECT_EQ(One("q 5 1712345678901\n", "q"), 5.0);
  EXPECT_EQ(One("q{a=\"b\"} 5 -1\n", "q"), 5.0);
  EXPECT_EQ(One("q 5\t1712345678901  \n", "q"), 5.0);
  EXPECT_EQ(One("q 5 17x\n", "q"), std::nullopt);
  EXPECT_EQ(One("q 5 1 2\n", "q"), std::nullopt);
}

TEST(PromText, NumberForms) {
  EXPECT_EQ(One("q 1e3\n", "q"), 1000.0);
  EXPECT_EQ(One("q +2.5\n", "q"), 2.5);
  EXPECT_EQ(One("q -2.5\n", "q"), -2.5);
  EXPECT_EQ(One("q 0.000\n", "q"), 0.0);
  EXPECT_EQ(One("q .5\n", "q"), 0.5);
  EXPECT_EQ(One("q 1.5E-1\n", "q"), 0.15);
  EXPECT_EQ(One("q ++1\n", "q"), std::nullopt);
  EXPECT_EQ(One("q +-1\n", "q"), std::nullopt);
  EXPECT_EQ(One("q 1,5\n", "q"), std::nullopt);
  EXPECT_EQ(One("q 0x10\n", "q"), std::nullopt);
  EXPECT_EQ(One("q 1e999\n", "q"), std::nullopt);  // out of range
  EXPECT_EQ(One("q \n", "q"), std::nullopt);
  EXPECT_EQ(One("q\n", "q"), std::nullopt);
}

TEST(PromText, NonFiniteSamplesAreIgnored) {
  constexpr std::string_view kPage =
      "q{a=\"1\"} NaN\n"
      "q{a=\"2\"} +Inf\n"
      "q{a=\"3\"} -Inf\n"
      "q{a=\"4\"} 2\n";
  EXPECT_EQ(One(kPage, "q"), 2.0);
  EXPECT_EQ(One("q NaN\nq +Inf\n", "q"), std::nullopt);
  EXPECT_EQ(One("q 1.7e308\nq 1.7e308\n", "q"), 1.7e308);  // an overflowing sum stops growing
}

TEST(PromText, CrlfAndNoTrailingNewline) {
  EXPECT_EQ(One("# TYPE q gauge\r\nq 3\r\nq 4", "q"), 7.0);
  EXPECT_EQ(One("q 3", "q"), 3.0);
  EXPECT_EQ(One("q{a=\"b\"} 3\r", "q"), 3.0);
}

TEST(PromText, CommentsAndBlankLines) {
  constexpr std::string_view kPage =
      "# HELP q The queue. q 100\n"
      "#q 100\n"
      "   # indented comment\n"
      "\n"
      "   \t \n"
      "  q 1\n"
      "# EOF\n";
  EXPECT_EQ(One(kPage, "q"), 1.0);
}

TEST(PromText, GarbageLinesAreSkipped) {
  constexpr std::string_view kPage =
      "q{a=\"unterminated} 100\n"
      "q{a=\"b\" 100\n"
      "q{a=b} 100\n"
      "q{=\"b\"} 100\n"
      "q{1a=\"b\"} 100\n"
      "q{a=\"b\"}100\n"
      "q{a=\"b\"\"c\"} 100\n"
      "q{a=\"b\\\"} 100\n"
      "q100\n"
      "1q 100\n"
      "q 100 200 300\n"
      "{a=\"b\"} 100\n"
      "<html><body>Not found</body></html>\n"
      "q\t\t\n"
      "\xff\xfe q 100\n"
      "q 1\n";
  EXPECT_EQ(One(kPage, "q"), 1.0);
}

TEST(PromText, EmbeddedNulBytes) {
  const std::string page("q 1\n\0q 2\nq{a=\"\0\"} 4\n", 20);
  EXPECT_EQ(One(page, "q"), 5.0);
}

// Random bytes and random mutations of a valid page: must never crash or read out of bounds
// (the sanitizer build checks), and a sum is always finite.
TEST(PromText, RandomInputNeverBreaksIt) {
  const std::string_view names[] = {"q", "vllm:num_requests_waiting", "a_b"};
  const std::string base =
      "# TYPE q gauge\nq{a=\"x\\\"y\",b=\"z\"} 3 1700000000000\r\n"
      "vllm:num_requests_waiting{model_name=\"m\"} 2.5e0\na_b NaN\n";
  const std::string alphabet = "q{}\"\\=, \t\r\n#+-.eE0123456789aINfn:_";
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    if (round % 2 == 0) {
      text = base;
      int edits = 1 + static_cast<int>(rng() % 8);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        size_t at = rng() % text.size();
        switch (rng() % 3) {
          case 0:
            text[at] = alphabet[rng() % alphabet.size()];
            break;
          case 1:
            text.erase(at, 1 + rng() % 4);
            break;
          default:
            text.insert(at, 1, alphabet[rng() % alphabet.size()]);
        }
      }
      text.resize(rng() % (text.size() + 1));  // cut anywhere
    } else {
      size_t n = rng() % 96;
      for (size_t i = 0; i < n; ++i) {
        text.push_back(rng() % 4 == 0 ? static_cast<char>(rng() % 256)
                                      : alphabet[rng() % alphabet.size()]);
      }
    }
    auto sums = SumPromSamples(text, names);
    ASSERT_EQ(sums.size(), 3u);
    for (const auto& s : sums) {
      if (s) {
        ASSERT_TRUE(std::isfinite(*s)) << text;
      }
    }
  }
}

TEST(PromText, LargePage) {
  std::string page;
  for (int i = 0; i < 20000; ++i) {
    page += "filler_metric{le=\"" + std::to_string(i) + "\"} " + std::to_string(i) + "\n";
  }
  page += "q{a=\"1\"} 7\n";
  EXPECT_GT(page.size(), 500'000u);
  EXPECT_EQ(One(page, "q"), 7.0);
}

}  // namespace
}  // namespace infergate::health
