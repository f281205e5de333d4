// hiredis replies to RedisReply values, and a reply-size limit enforced while hiredis parses.
#pragma once

#include <cstddef>

#include "infergate/shared/redis_types.h"

struct redisReader;
struct redisReplyObjectFunctions;

namespace infergate::shared {

// The reader's budget for the reply being parsed: the bulk bytes plus 16 per element so far.
struct ReplyBudget {
  const redisReplyObjectFunctions* original = nullptr;
  size_t limit = 0;
  size_t used = 0;
  bool exceeded = false;
};

// Makes `reader` build its replies through `budget`'s limit: an object that takes the reply over
// budget->limit is refused (the reader then fails, hiredis drops the connection) and
// budget->exceeded is set. `budget` must outlive the reader.
void LimitReplySize(redisReader* reader, ReplyBudget* budget);
// Bytes received and not yet parsed into a reply (a bulk string arrives whole before it is parsed).
size_t UnparsedBytes(const redisReader* reader);

// A copy of hiredis's reply (a redisReply*). A top-level error reply becomes kServerError.
RedisResult ConvertReply(const void* reply);

}  // namespace infergate::shared
