// Compiling header-value regexes with RE2: the options shared by config validation and routing.
#include "infergate/config/header_regex.h"

namespace infergate::config {

Expected<std::unique_ptr<const re2::RE2>, std::string> CompileHeaderRegex(
    std::string_view pattern) {
  re2::RE2::Options options;
  options.set_encoding(re2::RE2::Options::EncodingLatin1);
  options.set_log_errors(false);  // the caller reports the error with the config position
  auto compiled =
      std::make_unique<const re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!compiled->ok()) return MakeUnexpected(compiled->error());
  return std::unique_ptr<const re2::RE2>(std::move(compiled));
}

}  // namespace infergate::config
