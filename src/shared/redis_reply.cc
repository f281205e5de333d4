// Copies hiredis replies into RedisReply values and limits their size while they are parsed.
#include "shared/redis_reply.h"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

namespace infergate::shared {
namespace {

constexpr size_t kElementCost = 16;

ReplyBudget* BudgetOf(const redisReadTask* task) {
  return static_cast<ReplyBudget*>(task->privdata);
}

// Adds `cost` to the budget of the reply `task` belongs to; false (and exceeded) when over.
bool Charge(const redisReadTask* task, size_t cost) {
  ReplyBudget* budget = BudgetOf(task);
  if (task->parent == nullptr) {
    budget->used = 0;  // a new top-level reply
  }
  budget->used += cost;
  if (budget->used > budget->limit) {
    budget->exceeded = true;
    return false;
  }
  return true;
}

void* CreateString(const redisReadTask* task, char* str, size_t len) {
  if (!Charge(task, kElementCost + len)) return nullptr;
  return BudgetOf(task)->original->createString(task, str, len);
}
void* CreateArray(const redisReadTask* task, int elements) {
  const size_t n = elements > 0 ? static_cast<size_t>(elements) : 0;
  if (!Charge(task, kElementCost * (1 + n))) return nullptr;
  return BudgetOf(task)->original->createArray(task, elements);
}
void* CreateInteger(const redisReadTask* task, long long value) {
  if (!Charge(task, kElementCost)) return nullptr;
  return BudgetOf(task)->original->createInteger(task, value);
}
void* CreateNil(const redisReadTask* task) {
  if (!Charge(task, kElementCost)) return nullptr;
  return BudgetOf(task)->original->createNil(task);
}
void FreeObject(void* object) { freeReplyObject(object); }

redisReplyObjectFunctions kLimitedFunctions = {CreateString, CreateArray, CreateInteger, CreateNil,
                                               FreeObject};

RedisReply Copy(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      return out;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      // hiredis nests at most 7 levels deep, so the recursion is bounded.
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) {
        out.elements.push_back(Copy(r->element[i]));
      }
      return out;
    default:
      out.type = RedisReply::Type::kNil;
      return out;
  }
  out.str.assign(r->str, r->len);
  return out;
}

}  // namespace

void LimitReplySize(redisReader* reader, ReplyBudget* budget) {
  if (reader->fn != &kLimitedFunctions) {
    budget->original = reader->fn;
  }
  reader->fn = &kLimitedFunctions;
  reader->privdata = budget;
}

size_t UnparsedBytes(const redisReader* reader) {
  return reader->len > reader->pos ? reader->len - reader->pos : 0;
}

RedisResult ConvertReply(const void* reply) {
  const auto* r = static_cast<const redisReply*>(reply);
  if (r->type == REDIS_REPLY_ERROR) {
    return MakeUnexpected(RedisError{RedisErrorKind::kServerError, std::string(r->str, r->len)});
  }
  return Copy(r);
}

}  // namespace infergate::shared
