// Streaming chat load for integration tests.
#include "support/stream_load.h"

#include <chrono>
#include <memory>

#include "support/http_client.h"

namespace infergate::testing {

StreamLoad::StreamLoad(uint16_t port, int clients, bool fresh_connections) {
  for (int t = 0; t < clients; ++t) {
    threads_.emplace_back([this, port, fresh_connections] {
      auto c = std::make_unique<HttpClient>(port);
      for (int i = 0; i < 5000 && !stop_; ++i) {
        if (fresh_connections) c = std::make_unique<HttpClient>(port);
        auto r = c->Post("/v1/chat/completions",
                         R"({"model":"mock-model","messages":[{"role":"user","content":"hi"}],)"
                         R"("stream":true})",
                         {{"content-type", "application/json"},
                          {"x-mock-tokens", "8"},
                          {"x-mock-token-interval-ms", "5"}},
                         std::chrono::seconds(20));
        const bool ok =
            r.status == 200 && r.complete && r.body.find("data: [DONE]") != std::string::npos;
        if (!ok && failures_++ == 0) {
          std::lock_guard lock(mu_);
          first_failure_ = std::to_string(r.status) + " " + r.error + " " + r.body;
        }
        ++done_;
        finished_.notify_all();
      }
    });
  }
}

StreamLoad::~StreamLoad() { Stop(); }

void StreamLoad::WaitForMore(int more) {
  const int target = done_.load() + more;
  std::unique_lock lock(mu_);
  finished_.wait_for(lock, std::chrono::seconds(20), [&] { return done_.load() >= target; });
}

void StreamLoad::Stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::string StreamLoad::first_failure() {
  std::lock_guard lock(mu_);
  return first_failure_;
}

}  // namespace infergate::testing
