// Header-value regexes (RE2 syntax, linear time): the one way the config loader validates them
// and the route table compiles them, so a pattern the loader accepts is the pattern routing runs.
#pragma once

#include <re2/re2.h>

#include <memory>
#include <string>
#include <string_view>

#include "infergate/core/expected.h"

namespace infergate::config {

// Compiles `pattern` for whole-value matching of header values (use RE2::FullMatch). RE2 never
// backtracks, so a match takes time linear in the value's length whatever the pattern. Values
// are matched byte by byte (Latin-1), as std::regex did: every byte of a value, obs-text
// included, is one character. RE2 rejects backreferences and lookaround. On failure, returns
// RE2's message (e.g. "missing ): a(b").
Expected<std::unique_ptr<const re2::RE2>, std::string> CompileHeaderRegex(std::string_view pattern);

}  // namespace infergate::config
