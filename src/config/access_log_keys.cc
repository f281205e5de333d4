// The top-level access_log mapping: the file, its line format and the writer's queue bound.
// config/infergate.yaml documents them; --check-config also checks the file can be appended to.
#include <string>

#include "config/yaml_reader.h"

namespace infergate::config::detail {
namespace {

constexpr std::string_view kAccessLogKeys[] = {"path", "format", "buffer_lines"};
constexpr int64_t kMaxBufferLines = 1000000;
constexpr std::pair<std::string_view, LogFormat> kFormats[] = {{"json", LogFormat::kJson},
                                                               {"text", LogFormat::kText}};

}  // namespace

void ReadAccessLog(Reader& reader, const Value& v, AccessLogConfig& out) {
  std::optional<Map> map = reader.Mapping(v, kAccessLogKeys);
  if (!map) return;
  if (const Value* p = map->Require("path", reader.diag())) {
    if (std::optional<std::string> path = reader.NonEmptyString(*p)) {
      if (path->back() == '/') {
        reader.diag().Add(
            *p, "names a directory; write the file's path, e.g. " + Quoted(*path + "access.log"));
      } else {
        out.path = std::move(*path);
      }
    }
  }
  Keys keys(reader, *map);
  keys.Enum("format", out.format, kFormats);
  keys.Integer("buffer_lines", out.buffer_lines, 1, kMaxBufferLines);
}

}  // namespace infergate::config::detail
