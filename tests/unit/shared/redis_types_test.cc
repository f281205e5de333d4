// Redis options from config text, the password from the environment, script names, and the reply
// size limit applied while hiredis parses (a reader fed bytes, no socket).
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "infergate/shared/redis_script.h"
#include "infergate/shared/redis_types.h"
#include "shared/redis_reply.h"

namespace infergate::shared {
namespace {

TEST(RedisAddress, ParsesHostAndPort) {
  RedisOptions o;
  std::string error;
  ASSERT_TRUE(ParseRedisAddress("10.0.0.5:6380", &o, &error)) << error;
  EXPECT_EQ(o.host, "10.0.0.5");
  EXPECT_EQ(o.port, 6380);
  ASSERT_TRUE(ParseRedisAddress("127.0.0.1", &o, &error)) << error;
  EXPECT_EQ(o.port, 6379);
  ASSERT_TRUE(ParseRedisAddress("[::1]:7000", &o, &error)) << error;
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 7000);
  ASSERT_TRUE(ParseRedisAddress("::1", &o, &error)) << error;
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 6379);
  ASSERT_TRUE(ParseRedisAddress("localhost:1", &o, &error)) << error;
  EXPECT_EQ(o.host, "127.0.0.1");
}

TEST(RedisAddress, RefusesNamesAndBadPorts) {
  RedisOptions o;
  std::string error;
  EXPECT_FALSE(ParseRedisAddress("redis.internal:6379", &o, &error));
  EXPECT_NE(error.find("IP address"), std::string::npos) << error;
  EXPECT_FALSE(ParseRedisAddress("10.0.0.5:", &o, &error));
  EXPECT_FALSE(ParseRedisAddress("10.0.0.5:0", &o, &error));
  EXPECT_FALSE(ParseRedisAddress("10.0.0.5:65536", &o, &error));
  EXPECT_FALSE(ParseRedisAddress("10.0.0.5:12a", &o, &error));
  EXPECT_FALSE(ParseRedisAddress("[::1", &o, &error));
}

TEST(RedisPasswordEnv, ReadsTheVariableAndNeverEchoesIt) {
  ::setenv("INFERGATE_TEST_REDIS_PW", "s3cret", 1);
  auto pw = ReadPasswordEnv("INFERGATE_TEST_REDIS_PW");
  ASSERT_TRUE(pw.ok());
  EXPECT_EQ(*pw, "s3cret");
  ::setenv("INFERGATE_TEST_REDIS_PW", "", 1);
  auto empty = ReadPasswordEnv("INFERGATE_TEST_REDIS_PW");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().find("INFERGATE_TEST_REDIS_PW"), std::string::npos);
  ::unsetenv("INFERGATE_TEST_REDIS_PW");
  EXPECT_FALSE(ReadPasswordEnv("INFERGATE_TEST_REDIS_PW").ok());
}

TEST(RedisScript, NamedByTheSha1RedisUses) {
  // SCRIPT LOAD "return 1" answers this digest.
  EXPECT_EQ(RedisScript("return 1").sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  EXPECT_EQ(AllowanceScript().sha1().size(), 40u);
}

// Feeds `bytes` to a reader limited to `limit` bytes; the parsed reply, or an error.
RedisResult Parse(std::string_view bytes, size_t limit, ReplyBudget* budget) {
  redisReader* reader = redisReaderCreate();
  budget->limit = limit;
  LimitReplySize(reader, budget);
  redisReaderFeed(reader, bytes.data(), bytes.size());
  void* reply = nullptr;
  const int rc = redisReaderGetReply(reader, &reply);
  RedisResult out = MakeUnexpected(RedisError{RedisErrorKind::kProtocol, "incomplete"});
  if (rc != REDIS_OK) {
    out = MakeUnexpected(RedisError{RedisErrorKind::kProtocol, reader->errstr});
  } else if (reply != nullptr) {
    out = ConvertReply(reply);
    freeReplyObject(reply);
  }
  redisReaderFree(reader);
  return out;
}

TEST(RedisReplyLimit, RepliesWithinTheLimitAreCopied) {
  ReplyBudget budget;
  auto r = Parse("*3\r\n$3\r\nabc\r\n:42\r\n$-1\r\n", 1000, &budget);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->type, RedisReply::Type::kArray);
  ASSERT_EQ(r->elements.size(), 3u);
  EXPECT_EQ(r->elements[0].str, "abc");
  EXPECT_EQ(r->elements[1].integer, 42);
  EXPECT_EQ(r->elements[2].type, RedisReply::Type::kNil);
  EXPECT_FALSE(budget.exceeded);
}

TEST(RedisReplyLimit, AnErrorReplyBecomesAServerError) {
  ReplyBudget budget;
  auto r = Parse("-NOSCRIPT No matching script\r\n", 1000, &budget);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, RedisErrorKind::kServerError);
  EXPECT_EQ(r.error().message, "NOSCRIPT No matching script");
}

TEST(RedisReplyLimit, ALargeBulkOrAManyElementArrayIsRefused) {
  ReplyBudget budget;
  const std::string big = "$200\r\n" + std::string(200, 'x') + "\r\n";
  EXPECT_FALSE(Parse(big, 100, &budget).ok());
  EXPECT_TRUE(budget.exceeded);
  std::string many = "*20\r\n";
  for (int i = 0; i < 20; ++i) many += ":1\r\n";
  ReplyBudget budget2;
  EXPECT_FALSE(Parse(many, 200, &budget2).ok());
  EXPECT_TRUE(budget2.exceeded);
  ReplyBudget budget3;
  EXPECT_TRUE(Parse(many, 1000, &budget3).ok());
}

TEST(RedisReplyLimit, EachTopLevelReplyHasItsOwnBudget) {
  ReplyBudget budget;
  budget.limit = 100;
  redisReader* reader = redisReaderCreate();
  LimitReplySize(reader, &budget);
  for (int i = 0; i < 20; ++i) {
    const std::string bytes = "$40\r\n" + std::string(40, 'y') + "\r\n";
    redisReaderFeed(reader, bytes.data(), bytes.size());
    void* reply = nullptr;
    ASSERT_EQ(redisReaderGetReply(reader, &reply), REDIS_OK);
    ASSERT_NE(reply, nullptr);
    freeReplyObject(reply);
  }
  EXPECT_FALSE(budget.exceeded);
  redisReaderFree(reader);
}

}  // namespace
}  // namespace infergate::shared
