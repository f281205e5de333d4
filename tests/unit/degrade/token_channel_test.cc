// TokenChannel across threads: a producer thread's pieces reach a consumer coroutine complete
// and in order; closing, failing, cancelling while the producer runs, and a cancelled Wait.
#include "infergate/degrade/token_channel.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace infergate::degrade {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

// Drains `ch` into `out` until it is closed; counts the Wait calls.
asio::awaitable<void> Consume(std::shared_ptr<TokenChannel> ch, std::vector<std::string>* out,
                              int* waits) {
  for (;;) {
    co_await ch->Wait();
    ++*waits;
    const bool closed = ch->closed();
    for (std::string& piece : ch->Take()) out->push_back(std::move(piece));
    if (closed) co_return;
  }
}

void CheckThousandPieces(bool yield_between) {
  asio::io_context ioc;
  auto ch = std::make_shared<TokenChannel>(ioc.get_executor());
  std::vector<std::string> got;
  int waits = 0;
  asio::co_spawn(ioc, Consume(ch, &got, &waits), asio::detached);
  std::thread producer([ch, yield_between] {
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(ch->Push("p" + std::to_string(i)));
      if (yield_between && i % 7 == 0) std::this_thread::yield();
    }
    ch->Close(true);
  });
  ioc.run();
  producer.join();
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(got[i], "p" + std::to_string(i));
  EXPECT_TRUE(ch->closed());
  EXPECT_TRUE(ch->ok());
  EXPECT_GE(waits, 1);
  EXPECT_FALSE(ch->Push("late"));  // closed
}

TEST(TokenChannel, ThousandPiecesAcrossThreadsInOrder) { CheckThousandPieces(false); }
TEST(TokenChannel, ThousandPiecesWithAProducerThatYields) { CheckThousandPieces(true); }

TEST(TokenChannel, ManyShortStreams) {
  // Races between the notification and the consumer's check, many times over.
  for (int round = 0; round < 200; ++round) {
    asio::io_context ioc;
    auto ch = std::make_shared<TokenChannel>(ioc.get_executor());
    std::vector<std::string> got;
    int waits = 0;
    asio::co_spawn(ioc, Consume(ch, &got, &waits), asio::detached);
    std::thread producer([ch] {
      for (int i = 0; i < 5; ++i) ch->Push(std::string(1, static_cast<char>('a' + i)));
      ch->Close(true);
    });
    std::thread loop([&ioc] { ioc.run(); });
    producer.join();
    loop.join();
    ASSERT_EQ(got, (std::vector<std::string>{"a", "b", "c", "d", "e"})) << round;
  }
}

TEST(TokenChannel, WaitReturnsAtOnceWhenPiecesOrClosed) {
  asio::io_context ioc;
  auto ch = std::make_shared<TokenChannel>(ioc.get_executor());
  ASSERT_TRUE(ch->Push("x"));
  bool returned = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await ch->Wait();  // a piece is there
        EXPECT_EQ(ch->Take(), std::vector<std::string>{"x"});
        EXPECT_TRUE(ch->Take().empty());
        ch->Close(false);
        co_await ch->Wait();  // closed
        returned = true;
      },
      asio::detached);
  ioc.run();
  EXPECT_TRUE(returned);
  EXPECT_TRUE(ch->closed());
  EXPECT_FALSE(ch->ok());
}

TEST(TokenChannel, CloseWithoutPiecesWakesTheConsumer) {
  asio::io_context ioc;
  auto ch = std::make_shared<TokenChannel>(ioc.get_executor());
  std::vector<std::string> got;
  int waits = 0;
  asio::co_spawn(ioc, Consume(ch, &got, &waits), asio::detached);
  // Posted after the coroutine's start: it runs once the consumer is suspended in Wait.
  std::thread producer;
  asio::post(ioc, [&] { producer = std::thread([ch] { ch->Close(false); }); });
  ioc.run();
  producer.join();
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(waits, 1);
  EXPECT_FALSE(ch->ok());
}

TEST(TokenChannel, CancelWhileTheProducerRuns) {
  asio::io_context ioc;
  auto ch = std::make_shared<TokenChannel>(ioc.get_executor());
  std::weak_ptr<TokenChannel> weak = ch;
  std::promise<void> consumer_gone;
  std::atomic<int> pushed{0};
  std::atomic<bool> refused{false};
  std::thread producer([ch = ch, gone = consumer_gone.get_future(), &pushed, &refused]() mutable {
    while (ch->Push("tok")) {
      ++pushed;
      if (pushed % 16 == 0) std::this_thread::yield();
    }
    refused = true;
    gone.wait();  // keep generating after the consumer has been destroyed
    for (int i = 0; i < 100; ++i) EXPECT_FALSE(ch->Push("more"));
    ch->Close(true);
    ch.reset();  // the last reference: the channel dies on this thread
  });

  size_t taken = 0;
  asio::co_spawn(
      ioc,
      [ch, &taken]() -> asio::awaitable<void> {
        while (taken < 50) {
          co_await ch->Wait();
          taken += ch->Take().size();
        }
        ch->Cancel();
        EXPECT_TRUE(ch->Take().empty());
      },
      asio::detached);
  ch.reset();  // only the coroutine and the producer hold it now
  ioc.run();   // the coroutine finishes and its frame is destroyed
  EXPECT_GE(taken, 50u);
  consumer_gone.set_value();
  producer.join();
  EXPECT_TRUE(refused);
  EXPECT_TRUE(weak.expired());
  ioc.restart();
  EXPECT_EQ(ioc.poll(), 0u);  // nothing was posted after Cancel
}

TEST(TokenChannel, CancelWakesAWaitingConsumer) {
  asio::io_context ioc;
  auto ch = std::make_shared<TokenChannel>(ioc.get_executor());
  bool woke = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await ch->Wait();
        woke = true;
      },
      asio::detached);
  asio::steady_timer later(ioc, 10ms);
  later.async_wait([&](const boost::system::error_code&) { ch->Cancel(); });
  ioc.run();
  EXPECT_TRUE(woke);
  EXPECT_FALSE(ch->Push("x"));
}

TEST(TokenChannel, AWaitCancelledByATimeoutCanBeRetried) {
  using namespace asio::experimental::awaitable_operators;
  asio::io_context ioc;
  auto ch = std::make_shared<TokenChannel>(ioc.get_executor());
  std::vector<std::string> got;
  bool timed_out = false;
  std::thread producer;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timeout(ioc, 10ms);
        const auto first = co_await (ch->Wait() || timeout.async_wait(asio::use_awaitable));
        timed_out = first.index() == 1;
        producer = std::thread([ch] {
          ch->Push("late");
          ch->Close(true);
        });
        co_await ch->Wait();
        for (std::string& p : ch->Take()) got.push_back(std::move(p));
      },
      asio::detached);
  ioc.run();
  producer.join();
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(got, std::vector<std::string>{"late"});
}

}  // namespace
}  // namespace infergate::degrade
