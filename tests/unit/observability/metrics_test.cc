// The registry: histograms with their own bounds, series read at scrape time (set, replaced,
// removed), and the /proc parsing behind the process metrics.
#include "infergate/observability/metrics.h"

#include <gtest/gtest.h>

#include "infergate/observability/process_metrics.h"

namespace infergate::observability {
namespace {

TEST(Registry, HistogramWithItsOwnBounds) {
  Registry reg(1);
  Histogram* h = reg.GetHistogram("tokens", "Tokens.", "t=\"in\"", {1, 4, 16});
  h->Observe(1);
  h->Observe(5);
  h->Observe(100);
  EXPECT_EQ(reg.GetHistogram("tokens", "Tokens.", "t=\"in\"", {2}), h);  // same series
  const std::string text = reg.Render();
  EXPECT_NE(text.find("# TYPE tokens histogram\n"), std::string::npos);
  EXPECT_NE(text.find("tokens_bucket{t=\"in\",le=\"1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tokens_bucket{t=\"in\",le=\"4\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("tokens_bucket{t=\"in\",le=\"16\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("tokens_bucket{t=\"in\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("tokens_sum{t=\"in\"} 106\n"), std::string::npos);
  EXPECT_NE(text.find("tokens_count{t=\"in\"} 3\n"), std::string::npos);
}

TEST(Registry, CallbackSeriesAreReadAtRenderAndCanGo) {
  Registry reg(1);
  double v = 1.5;
  reg.SetCallback("cb_value", "A value.", Registry::CallbackType::kGauge, "l=\"a\"",
                  [&v] { return v; });
  EXPECT_NE(reg.Render().find("cb_value{l=\"a\"} 1.5\n"), std::string::npos);
  v = 1733486400.25;
  EXPECT_NE(reg.Render().find("cb_value{l=\"a\"} 1733486400.25\n"), std::string::npos);
  // Setting again replaces the reader: one series.
  reg.SetCallback("cb_value", "A value.", Registry::CallbackType::kGauge, "l=\"a\"",
                  [] { return 2.0; });
  std::string text = reg.Render();
  EXPECT_EQ(text.find("cb_value{l=\"a\"} 2\n"), text.rfind("cb_value{l=\"a\"}"));
  reg.SetCallback("cb_total", "A count.", Registry::CallbackType::kCounter, {}, [] { return 3.0; });
  EXPECT_NE(reg.Render().find("# TYPE cb_total counter\ncb_total 3\n"), std::string::npos);
  reg.RemoveCallback("cb_value", "l=\"a\"");
  text = reg.Render();
  EXPECT_EQ(text.find("cb_value"), std::string::npos) << text;  // no HELP/TYPE left alone
}

TEST(ProcessMetrics, ParsesProcSelfStat) {
  // A command name with spaces and a parenthesis; fields 22 (start), 23 (vsize), 24 (rss).
  std::string stat = "4242 (infer gate) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 5 0 ";
  stat += "2500 104857600 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  auto s = ParseProcessStat(stat, 1700000000, 100, 4096);
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1700000025);
  EXPECT_DOUBLE_EQ(s->virtual_bytes, 104857600);
  EXPECT_DOUBLE_EQ(s->resident_bytes, 300.0 * 4096);
  EXPECT_FALSE(ParseProcessStat("garbage", 0, 100, 4096));
  EXPECT_FALSE(ParseProcessStat("1 (x) S 1 2", 0, 100, 4096));
}

TEST(ProcessMetrics, RenderedWithTheirTypes) {
  Registry reg(1);
  RegisterProcessMetrics(reg);
  RegisterProcessMetrics(reg);  // again: still one series each
  const std::string text = reg.Render();
  for (const char* name :
       {"process_start_time_seconds", "process_open_fds", "process_max_fds",
        "process_resident_memory_bytes", "process_virtual_memory_bytes", "infergate_build_info"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " gauge\n"), std::string::npos) << name;
    EXPECT_EQ(text.find(std::string("\n") + name), text.rfind(std::string("\n") + name)) << name;
  }
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("infergate_build_info{version=\""), std::string::npos);
  EXPECT_EQ(text.find("process_open_fds 0\n"), std::string::npos);  // this test has fds open
  EXPECT_EQ(text.find("process_resident_memory_bytes 0\n"), std::string::npos);
}

}  // namespace
}  // namespace infergate::observability
