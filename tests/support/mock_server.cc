// Starting infergate-mock for tests and reading its /mock/stats.
#include "support/mock_server.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "support/test_env.h"

namespace infergate::testing {
namespace {

int64_t IntField(simdjson::dom::element e, std::string_view key) {
  int64_t v = 0;
  if (e[key].get_int64().get(v) != simdjson::SUCCESS) return 0;
  return v;
}

double DoubleField(simdjson::dom::element e, std::string_view key) {
  double d = 0;
  simdjson::dom::element v;
  if (e[key].get(v) != simdjson::SUCCESS) return 0;
  if (v.get_double().get(d) == simdjson::SUCCESS) return d;
  int64_t i = 0;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  return 0;
}

std::string StringField(simdjson::dom::element e, std::string_view key) {
  std::string_view s;
  if (e[key].get_string().get(s) != simdjson::SUCCESS) return "";
  return std::string(s);
}

}  // namespace

std::string RecordedRequest::Header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? "" : it->second;
}

int64_t MockStats::ByModel(const std::string& model) const {
  auto it = by_model.find(model);
  return it == by_model.end() ? 0 : it->second;
}

std::optional<MockStats> ParseMockStats(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size(), true).get(root) != simdjson::SUCCESS ||
      !root.is_object()) {
    return std::nullopt;
  }
  MockStats s;
  s.json = std::string(json);
  s.id = StringField(root, "id");
  s.requests = IntField(root, "requests");
  s.completed = IntField(root, "completed");
  s.active_requests = IntField(root, "active_requests");
  s.active_streams = IntField(root, "active_streams");
  s.client_disconnects = IntField(root, "client_disconnects");
  s.connections_accepted = IntField(root, "connections_accepted");
  s.connections_open = IntField(root, "connections_open");
  s.health_checks = IntField(root, "health_checks");
  s.tokens_streamed = IntField(root, "tokens_streamed");
  simdjson::dom::element gauges;
  if (root["gauges"].get(gauges) == simdjson::SUCCESS) {
    s.waiting = IntField(gauges, "waiting");
    s.running = IntField(gauges, "running");
    s.kv_cache_usage = DoubleField(gauges, "kv_cache_usage");
  }
  simdjson::dom::object by_model;
  if (root["by_model"].get_object().get(by_model) == simdjson::SUCCESS) {
    for (auto [key, value] : by_model) {
      int64_t n = 0;
      if (value.get_int64().get(n) == simdjson::SUCCESS) s.by_model[std::string(key)] = n;
    }
  }
  simdjson::dom::object last;
  if (root["last_request"].get_object().get(last) == simdjson::SUCCESS) {
    RecordedRequest r;
    simdjson::dom::element last_element = root["last_request"];
    r.method = StringField(last_element, "method");
    r.target = StringField(last_element, "target");
    r.body = StringField(last_element, "body");
    simdjson::dom::object headers;
    if (last["headers"].get_object().get(headers) == simdjson::SUCCESS) {
      for (auto [key, value] : headers) {
        std::string_view v;
        if (value.get_string().get(v) == simdjson::SUCCESS) {
          r.headers[std::string(key)] = std::string(v);
        }
      }
    }
    s.last_request = std::move(r);
  }
  return s;
}

std::unique_ptr<MockServer> MockServer::Start(const std::vector<std::string>& args,
                                              Millis timeout) {
  std::vector<std::string> argv = {BinaryPath("infergate-mock")};
  bool has_listen = false;
  for (const std::string& a : args) {
    if (a == "--listen" || a.starts_with("--listen=")) has_listen = true;
  }
  if (!has_listen) {
    argv.push_back("--listen");
    argv.push_back("127.0.0.1:0");
  }
  argv.insert(argv.end(), args.begin(), args.end());
  std::unique_ptr<MockServer> mock(new MockServer());
  mock->process_ = Process::Start(argv);
  if (!mock->process_) return nullptr;
  auto port = mock->process_->WaitForOutput(R"(infergate-mock listening on [^\s]*:(\d+))", timeout);
  if (!port) {
    std::fprintf(stderr, "infergate-mock did not start; output:\n%s\n",
                 mock->process_->Output().c_str());
    return nullptr;
  }
  mock->port_ = static_cast<uint16_t>(std::stoi(*port));
  // The address it listens on (--listen 127.0.0.2:0 for a second loopback address): the control
  // connection must reach this mock, not another one on the same port.
  auto host =
      mock->process_->WaitForOutput(R"(infergate-mock listening on ([0-9.]+):\d+)", timeout);
  if (host && *host != "0.0.0.0") mock->host_ = *host;
  mock->control_ = std::make_unique<HttpClient>(mock->port_, mock->host_);
  if (!mock->Reset()) {
    std::fprintf(stderr, "infergate-mock does not answer /mock/reset; output:\n%s\n",
                 mock->process_->Output().c_str());
    return nullptr;
  }
  return mock;
}

MockServer::~MockServer() {
  control_.reset();
  if (process_) process_->Stop(Millis(2000));
}

HttpResponse MockServer::Control(std::string_view method, std::string_view target,
                                 std::string_view body) {
  std::lock_guard<std::mutex> lock(mu_);
  Headers headers;
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  HttpResponse r = control_->Request(method, target, headers, body, Millis(5000));
  if (r.status == 0) {
    control_->Close();
    r = control_->Request(method, target, headers, body, Millis(5000));
  }
  return r;
}

std::optional<MockStats> MockServer::Stats() {
  HttpResponse r = Control("GET", "/mock/stats");
  if (r.status != 200 || !r.complete) return std::nullopt;
  return ParseMockStats(r.body);
}

bool MockServer::WaitForStats(const std::function<bool(const MockStats&)>& predicate,
                              Millis timeout, MockStats* last) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    std::optional<MockStats> s = Stats();
    if (s) {
      if (last != nullptr) *last = *s;
      if (predicate(*s)) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

bool MockServer::Reset() { return Control("POST", "/mock/reset", "{}").status == 200; }

bool MockServer::SetGauges(std::string_view json) {
  return Control("POST", "/mock/gauges", json).status == 200;
}

std::optional<int> MockServer::Stop(Millis timeout) {
  control_->Close();
  return process_->Stop(timeout);
}

}  // namespace infergate::testing
