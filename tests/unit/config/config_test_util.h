// Helpers shared by the config loader's tests: YAML literals, loading, and positioned error
// cases checked by line, column, key path and message.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "infergate/config/config.h"

namespace infergate::config::testing {

// Drops the newline that follows R"( so that the first line of the text is line 1.
inline std::string Yaml(const char* text) {
  std::string s(text);
  if (!s.empty() && s.front() == '\n') s.erase(0, 1);
  return s;
}

inline std::string Describe(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& e : errors) out += "\n  " + e.ToString();
  return out.empty() ? "\n  (no errors)" : out;
}

inline std::vector<ConfigError> Errors(const std::string& yaml,
                                       const std::string& file = "test.yaml") {
  LoadResult result = LoadConfigString(yaml, file);
  if (result.ok()) return {};
  return result.error();
}

inline std::shared_ptr<const Config> LoadOk(const std::string& yaml) {
  LoadResult result = LoadConfigString(yaml, "test.yaml");
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : Describe(result.error()));
  return result.ok() ? *result : nullptr;
}

struct ErrorCase {
  const char* name;
  const char* yaml;
  int line;
  int column;
  const char* path;
  const char* message;  // a substring of the message
  size_t count = 1;     // errors expected in all
};

inline std::ostream& operator<<(std::ostream& os, const ErrorCase& c) { return os << c.name; }

// The case's YAML yields `count` errors, one of them at the expected place with the message.
inline void ExpectErrorCase(const ErrorCase& c) {
  std::vector<ConfigError> errors = Errors(Yaml(c.yaml));
  EXPECT_EQ(errors.size(), c.count) << Describe(errors);
  bool found = false;
  for (const ConfigError& e : errors) {
    found = found || (e.line == c.line && e.column == c.column && e.path == c.path &&
                      e.message.find(c.message) != std::string::npos);
  }
  EXPECT_TRUE(found) << "expected test.yaml:" << c.line << ":" << c.column << ": " << c.path
                     << ": ..." << c.message << "...\ngot:" << Describe(errors);
}

}  // namespace infergate::config::testing
