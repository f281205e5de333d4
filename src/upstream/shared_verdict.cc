// SharedVerdict's JSON form.
#include "infergate/upstream/shared_verdict.h"

#include <simdjson.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>

#include "infergate/core/error.h"
#include "infergate/core/random.h"

namespace infergate::upstream {

namespace od = simdjson::ondemand;

std::string EncodeVerdict(const SharedVerdict& verdict) {
  std::string out = "{\"v\":1,\"from\":\"";
  AppendJsonEscaped(out, verdict.from);
  out += "\",\"pool\":\"";
  AppendJsonEscaped(out, verdict.pool);
  out += "\",\"backend\":\"";
  AppendJsonEscaped(out, verdict.backend);
  out += verdict.down ? "\",\"state\":\"down\",\"reason\":\"" : "\",\"state\":\"up\",\"reason\":\"";
  AppendJsonEscaped(out, verdict.reason);
  out += "\"}";
  return out;
}

std::optional<SharedVerdict> DecodeVerdict(std::string_view message) {
  if (message.size() > kMaxVerdictBytes) return std::nullopt;
  simdjson::padded_string padded(message);
  od::parser parser;
  od::document doc;
  od::object root;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(root)) return std::nullopt;
  SharedVerdict v;
  int64_t version = 0;
  std::string_view state;
  bool have_from = false, have_pool = false, have_backend = false;
  for (auto field : root) {
    std::string_view key, text;
    if (field.unescaped_key().get(key)) return std::nullopt;
    if (key == "v") {
      if (field.value().get_int64().get(version)) return std::nullopt;
      continue;
    }
    std::string* into = key == "from"      ? &v.from
                        : key == "pool"    ? &v.pool
                        : key == "backend" ? &v.backend
                        : key == "reason"  ? &v.reason
                                           : nullptr;
    if (key != "state" && into == nullptr) continue;  // a later version's field
    if (field.value().get_string().get(text)) return std::nullopt;
    if (into == nullptr) {
      state = text;
      continue;
    }
    into->assign(text);
    have_from |= key == "from";
    have_pool |= key == "pool";
    have_backend |= key == "backend";
  }
  if (version != 1 || !have_from || !have_pool || !have_backend) return std::nullopt;
  if (state != "down" && state != "up") return std::nullopt;
  v.down = state == "down";
  return v;
}

std::string InstanceId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  char id[384];
  std::snprintf(id, sizeof(id), "%s:%d:%08" PRIx32, host, static_cast<int>(getpid()),
                static_cast<uint32_t>(ThreadRng().Next()));
  return id;
}

}  // namespace infergate::upstream
