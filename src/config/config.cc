// Loading and validation of the YAML config; config/infergate.yaml documents every key.
#include "infergate/config/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <span>
#include <utility>

#include "config/config_parser.h"
#include "infergate/config/fallback_coverage.h"

namespace infergate::config {
namespace {

using detail::ConfigParser;
using detail::Diagnostics;
using detail::Pos;
using detail::PosOf;

std::string SyntaxMessage(const YAML::Exception& e, std::string_view yaml) {
  std::string message = "YAML syntax error: " + e.msg;
  std::string_view line;
  if (!e.mark.is_null() && e.mark.line >= 0) {
    size_t start = 0;
    for (int i = 0; i < e.mark.line && start != std::string_view::npos; ++i) {
      start = yaml.find('\n', start);
      if (start != std::string_view::npos) ++start;
    }
    if (start != std::string_view::npos) line = yaml.substr(start, yaml.find('\n', start) - start);
  }
  std::string_view indent = line.substr(0, line.find_first_not_of(" \t"));
  if (indent.find('\t') != std::string_view::npos) {
    message += " (tabs cannot be used for indentation; use spaces)";
  } else if (line.find("[") != std::string_view::npos &&
             line.find("]:") != std::string_view::npos) {
    message += " (quote IPv6 addresses, e.g. \"[::1]:8080\")";
  } else if (e.msg == "illegal map value") {
    message += " (check the indentation, and quote values that contain \": \")";
  }
  return message;
}

LoadResult Fail(Diagnostics& diag) { return MakeUnexpected(diag.TakeSorted()); }

}  // namespace

std::string ConfigError::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

std::optional<HostPort> ParseHostPort(std::string_view text) {
  std::string why;
  return detail::ParseHostPortWithReason(text, &why);
}

LoadResult LoadConfigString(const std::string& yaml, const std::string& file_name) {
  Diagnostics diag(file_name);
  try {
    std::vector<YAML::Node> documents;
    try {
      documents = detail::LoadAllDocuments(yaml);
    } catch (const YAML::Exception& e) {
      Pos pos;
      if (!e.mark.is_null() && e.mark.line >= 0) pos = {e.mark.line + 1, e.mark.column + 1};
      diag.Add(pos, "", SyntaxMessage(e, yaml));
      return Fail(diag);
    }
    if (documents.empty() || documents.front().IsNull()) {
      diag.Add(Pos{}, "", "the config is empty (expected listeners, pools and routes)");
      return Fail(diag);
    }
    for (size_t i = 1; i < documents.size(); ++i) {
      if (!documents[i].IsNull()) {
        diag.Add(PosOf(documents[i]), "",
                 "only one YAML document is allowed (remove the second \"---\" section)");
        break;
      }
    }
    auto config = std::make_shared<Config>();
    config->source = file_name;
    ConfigParser(diag, yaml).Parse(documents.front(), *config);
    if (!diag.empty()) return Fail(diag);
    for (const std::string& w : FallbackCoverageWarnings(*config))
      config->warnings.push_back(file_name + ": warning: " + w);
    return std::shared_ptr<const Config>(std::move(config));
  } catch (const std::exception& e) {
    diag.Add(Pos{}, "", std::string("internal error while loading the config: ") + e.what());
    return Fail(diag);
  }
}

LoadResult LoadConfigFile(const std::string& path) {
  auto cannot_read = [&](int error) {
    return MakeUnexpected(std::vector<ConfigError>{
        ConfigError{path, 0, 0, "", std::string("cannot read: ") + std::strerror(error)}});
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cannot_read(errno);
  std::string content;
  char buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      int error = errno;
      ::close(fd);
      return cannot_read(error);
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return LoadConfigString(content, path);
}

}  // namespace infergate::config
