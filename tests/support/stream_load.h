// Streaming chat load for integration tests that change the gateway under traffic (reload,
// hand-over): client threads send streamed chat requests until stopped (at most 5000 each) and
// count every request that did not end well (not 200, cut, or no [DONE]).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace infergate::testing {

class StreamLoad {
 public:
  // `fresh_connections`: a new connection per request (exercises accept queues), else one
  // keep-alive connection per client.
  StreamLoad(uint16_t port, int clients, bool fresh_connections);
  ~StreamLoad();
  // Waits (bounded, about 20 s) until `more` further requests have finished.
  void WaitForMore(int more);
  // Stops the clients and joins them.
  void Stop();
  int done() const { return done_.load(); }
  int failures() const { return failures_.load(); }
  std::string first_failure();

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> done_{0};
  std::atomic<int> failures_{0};
  std::mutex mu_;
  std::condition_variable finished_;  // signalled as each request ends
  std::string first_failure_;
  std::vector<std::thread> threads_;
};

}  // namespace infergate::testing
