// The admin listener's endpoints.
#include "server/admin.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "infergate/core/error.h"
#include "infergate/core/log.h"
#include "infergate/isolation/tenants.h"
#include "server/accept.h"

namespace infergate::server {
namespace {

namespace beast_http = boost::beast::http;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 422:
      return "Unprocessable Entity";
    default:
      return "Error";
  }
}

std::string JsonStrings(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += "\"";
    AppendJsonEscaped(out, items[i]);
    out += "\"";
  }
  return out + "]";
}

}  // namespace

Admin::Admin(observability::Registry& registry, std::atomic<bool>& draining,
             upstream::HealthController& health, std::function<ReloadOutcome()> reload)
    : registry_(registry),
      draining_(draining),
      health_(health),
      reload_(std::move(reload)),
      acceptor_(io_) {
  unauthorized_ = registry_.GetCounter(
      "infergate_admin_unauthorized_total",
      "Admin requests to endpoints that change state refused for a missing or wrong token.");
}

bool Admin::Bind(const config::HostPort& hp, std::string* error, int inherited) {
  auto ep = Endpoint(hp, error);
  if (!ep) return false;
  if (inherited >= 0) {
    boost::system::error_code ec;
    acceptor_.assign(ep->protocol(), inherited, ec);
    if (ec) {
      ::close(inherited);
      *error = "a socket taken over: " + ec.message();
      return false;
    }
  } else if (!OpenAcceptor(acceptor_, *ep, false, error)) {
    return false;
  }
  IG_INFO("admin listening on %s", Describe(acceptor_.local_endpoint()).c_str());
  return true;
}

void Admin::Start() {
  asio::co_spawn(io_, Accept(), asio::detached);
  thread_ = std::thread([this] {
    SetThreadLogName("admin");
    io_.run();
  });
}

void Admin::StopAccepting() {
  asio::post(io_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
}

void Admin::Stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void Admin::SetToken(std::string token_sha256) {
  std::lock_guard lock(token_mu_);
  token_sha256_ = std::move(token_sha256);
}

asio::awaitable<void> Admin::Accept() {
  while (true) {
    auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Admin::Serve(tcp::socket socket) {
  boost::beast::flat_buffer buffer;
  while (true) {
    beast_http::request<beast_http::string_body> req;
    auto [ec, n] = co_await beast_http::async_read(socket, buffer, req, kNoThrow);
    if (ec) co_return;
    const auto auth = req[beast_http::field::authorization];
    Answer a = Handle(std::string_view(req.method_string().data(), req.method_string().size()),
                      std::string_view(req.target().data(), req.target().size()),
                      std::string_view(auth.data(), auth.size()));
    std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " + Reason(a.status) +
                      "\r\nContent-Type: " + a.type +
                      "\r\nContent-Length: " + std::to_string(a.body.size()) + "\r\n" + a.extra +
                      (req.keep_alive() ? "" : "Connection: close\r\n") + "\r\n" + a.body;
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(out), kNoThrow);
    if (wec || !req.keep_alive()) co_return;
  }
}

bool Admin::Authorized(std::string_view authorization) {
  std::string want;
  {
    std::lock_guard lock(token_mu_);
    want = token_sha256_;
  }
  if (want.empty()) return true;
  const std::optional<std::string_view> key = isolation::BearerKey(authorization);
  if (key && !key->empty()) {
    const std::string got = isolation::Sha256Hex(*key);
    if (got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0)
      return true;
  }
  unauthorized_->Inc();
  return false;
}

Admin::Answer Admin::Handle(std::string_view method, std::string_view target,
                            std::string_view authorization) {
  Answer a;
  const bool post = method == "POST";
  const bool changes_state =
      post && (target == "/admin/reload" || target.starts_with("/admin/backends/"));
  if (changes_state && !Authorized(authorization)) {
    a.status = 401;
    a.extra = "WWW-Authenticate: Bearer realm=\"infergate-admin\"\r\n";
    a.body = OpenAiErrorBody(ErrorKind::kUnauthorized,
                             "this admin endpoint changes state: send Authorization: Bearer TOKEN "
                             "with the token whose SHA-256 is admin.token_sha256");
    return a;
  }
  if (post && target == "/admin/reload") {
    const ReloadOutcome r = reload_();
    if (r.ok) {
      a.body = "{\"status\":\"reloaded\",\"generation\":" + std::to_string(r.generation) +
               ",\"warnings\":" + JsonStrings(r.warnings) + "}";
    } else {
      // 422: the request was fine, the config it asked to apply is not. The old one serves.
      a.status = 422;
      std::string message = "the configuration was rejected; generation " +
                            std::to_string(r.generation) + " keeps serving: ";
      for (size_t i = 0; i < r.errors.size(); ++i) message += (i ? "; " : "") + r.errors[i];
      a.body = OpenAiErrorBody(ErrorKind::kBadRequest, message);
      a.body.pop_back();  // the closing brace: the errors follow as a list
      a.body += ",\"errors\":" + JsonStrings(r.errors) +
                ",\"generation\":" + std::to_string(r.generation) + "}";
    }
    return a;
  }
  if (post && target.starts_with("/admin/backends/")) return Backend(target);
  if (method != "GET") {
    a.status = 405;
    a.extra = "Allow: GET\r\n";
    a.body = OpenAiErrorBody(ErrorKind::kMethodNotAllowed,
                             "this admin endpoint takes GET (POST: /admin/reload and "
                             "/admin/backends/{pool}/{backend}/drain|undrain)");
  } else if (target == "/admin/backends") {
    a.body = health_.BackendsJson();
  } else if (target == "/metrics") {
    a.type = "text/plain; version=0.0.4";
    a.body = registry_.Render();
  } else if (target == "/health") {
    a.body = R"({"status":"ok"})";
  } else if (target == "/ready") {
    const bool draining = draining_.load();
    a.status = draining ? 503 : 200;
    a.body = draining ? R"({"status":"draining"})" : R"({"status":"ready"})";
  } else {
    a.status = 404;
    a.body = OpenAiErrorBody(ErrorKind::kRouteNotFound,
                             "unknown admin path (try /metrics, /health, /ready, /admin/backends)");
  }
  return a;
}

// POST /admin/backends/{pool}/{backend}/drain | /undrain
Admin::Answer Admin::Backend(std::string_view target) {
  Answer a;
  std::string_view rest = target.substr(std::string_view("/admin/backends/").size());
  const size_t s1 = rest.find('/');
  const size_t s2 = rest.rfind('/');
  const std::string_view action =
      s2 == std::string_view::npos ? std::string_view() : rest.substr(s2 + 1);
  const bool known =
      (action == "drain" || action == "undrain") && s1 != std::string_view::npos && s2 > s1 &&
      health_.Drain(rest.substr(0, s1), rest.substr(s1 + 1, s2 - s1 - 1), action == "drain");
  if (!known) {
    a.status = 404;
    a.body = OpenAiErrorBody(
        ErrorKind::kRouteNotFound,
        "use POST /admin/backends/{pool}/{backend}/drain or /undrain with a known pool and "
        "backend (host:port)");
    return a;
  }
  a.body = std::string(R"({"status":")") + (action == "drain" ? "drained" : "undrained") + "\"}";
  return a;
}

}  // namespace infergate::server
