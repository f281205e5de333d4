// The access_log keys: defaults, values and positioned errors.
#include <gtest/gtest.h>

#include <string>

#include "infergate/config/config.h"
#include "unit/config/config_test_util.h"

namespace infergate::config {
namespace {

using namespace infergate::config::testing;  // NOLINT: test helpers

#define BASE                                             \
  "listeners: [{name: l, listen: \":0\"}]\n"             \
  "pools: [{name: p, backends: [http://127.0.0.1:1]}]\n" \
  "routes: [{name: r, to: p}]\n"

TEST(AccessLogKeys, AbsentMeansNoAccessLog) {
  auto c = LoadOk(BASE);
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->access_log);
}

TEST(AccessLogKeys, Defaults) {
  auto c = LoadOk(BASE "access_log: {path: /var/log/infergate/access.log}\n");
  ASSERT_TRUE(c && c->access_log);
  EXPECT_EQ(c->access_log->path, "/var/log/infergate/access.log");
  EXPECT_EQ(c->access_log->format, LogFormat::kJson);
  EXPECT_EQ(c->access_log->buffer_lines, 16384u);
}

TEST(AccessLogKeys, Values) {
  auto c =
      LoadOk(BASE "access_log:\n  path: access.log\n  format: text\n  buffer_lines: 1000000\n");
  ASSERT_TRUE(c && c->access_log);
  EXPECT_EQ(c->access_log->path, "access.log");
  EXPECT_EQ(c->access_log->format, LogFormat::kText);
  EXPECT_EQ(c->access_log->buffer_lines, 1000000u);
  c = LoadOk(BASE "access_log: {path: a.log, format: json, buffer_lines: 1}\n");
  ASSERT_TRUE(c && c->access_log);
  EXPECT_EQ(c->access_log->buffer_lines, 1u);
}

class AccessLogErrorTest : public ::testing::TestWithParam<ErrorCase> {};
TEST_P(AccessLogErrorTest, ReportsPositionPathAndMessage) { ExpectErrorCase(GetParam()); }

const ErrorCase kCases[] = {
    {"MissingPath", BASE "access_log:\n  format: json\n", 5, 3, "access_log",
     "missing required key \"path\""},
    {"EmptyPath", BASE "access_log: {path: \"\"}\n", 4, 20, "access_log.path", "must not be empty"},
    {"DirectoryPath", BASE "access_log: {path: /var/log/}\n", 4, 20, "access_log.path",
     "names a directory; write the file's path, e.g. \"/var/log/access.log\""},
    {"UnknownKey", BASE "access_log:\n  path: a.log\n  fromat: text\n", 6, 3, "access_log.fromat",
     "did you mean \"format\"?"},
    {"UnknownFormat", BASE "access_log: {path: a.log, format: combined}\n", 4, 35,
     "access_log.format", "unknown value \"combined\" (allowed: json, text)"},
    {"ZeroBufferLines", BASE "access_log: {path: a.log, buffer_lines: 0}\n", 4, 41,
     "access_log.buffer_lines", "out of range (allowed: 1..1000000)"},
    {"TooManyBufferLines", BASE "access_log: {path: a.log, buffer_lines: 1000001}\n", 4, 41,
     "access_log.buffer_lines", "out of range (allowed: 1..1000000)"},
    {"NotAMapping", BASE "access_log: /var/log/a.log\n", 4, 13, "access_log", "expected a mapping"},
};
INSTANTIATE_TEST_SUITE_P(AccessLog, AccessLogErrorTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace infergate::config
