// EVALSHA with the EVAL fallback, and the allowance script.
#include "infergate/shared/redis_script.h"

#include <openssl/evp.h>

#include <utility>

namespace infergate::shared {

namespace asio = boost::asio;

namespace {

std::string Sha1Hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

std::vector<std::string> EvalArgs(std::string command, std::string script,
                                  const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back(std::move(command));
  argv.push_back(std::move(script));
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// KEYS[1]: the counter. ARGV[1]: the amount to add. ARGV[2]: the window in milliseconds.
constexpr const char* kAllowanceSource = R"lua(
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {total, ttl}
)lua";

}  // namespace

RedisScript::RedisScript(std::string source)
    : source_(std::move(source)), sha1_(Sha1Hex(source_)) {}

asio::awaitable<RedisResult> EvalScript(RedisClient& client, const RedisScript& script,
                                        std::vector<std::string> keys,
                                        std::vector<std::string> args, TimePoint deadline) {
  RedisResult result =
      co_await client.Command(EvalArgs("EVALSHA", script.sha1(), keys, args), deadline);
  const bool noscript = !result.ok() && result.error().kind == RedisErrorKind::kServerError &&
                        result.error().message.starts_with("NOSCRIPT");
  if (!noscript) co_return result;
  co_return co_await client.Command(EvalArgs("EVAL", script.source(), keys, args), deadline);
}

const RedisScript& AllowanceScript() {
  static const RedisScript script(kAllowanceSource);
  return script;
}

asio::awaitable<Expected<Allowance, RedisError>> TakeAllowance(RedisClient& client, std::string key,
                                                               int64_t amount, Millis window,
                                                               TimePoint deadline) {
  // Named vectors: GCC 12 miscompiles braced lists in a co_await's arguments.
  std::vector<std::string> keys;
  keys.push_back(std::move(key));
  std::vector<std::string> args;
  args.push_back(std::to_string(amount));
  args.push_back(std::to_string(window.count()));
  RedisResult result =
      co_await EvalScript(client, AllowanceScript(), std::move(keys), std::move(args), deadline);
  if (!result.ok()) co_return MakeUnexpected(std::move(result.error()));
  const RedisReply& reply = *result;
  if (reply.type != RedisReply::Type::kArray || reply.elements.size() != 2 ||
      reply.elements[0].type != RedisReply::Type::kInteger ||
      reply.elements[1].type != RedisReply::Type::kInteger) {
    co_return MakeUnexpected(
        RedisError{RedisErrorKind::kProtocol, "allowance script: unexpected reply shape"});
  }
  Allowance allowance;
  allowance.total = reply.elements[0].integer;
  allowance.window_left = Millis(reply.elements[1].integer);
  co_return allowance;
}

}  // namespace infergate::shared
