// The Asio adapter for hiredis's async context (its ev.addRead/delRead/addWrite/delWrite/cleanup).
#include "shared/redis_asio.h"

#include <hiredis/async.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <memory>

#include "infergate/shared/redis_client.h"

namespace infergate::shared {
namespace {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;

// Lives while hiredis holds the context (self_) and while a wait is outstanding (the handler's
// copy of the pointer).
struct Events : std::enable_shared_from_this<Events> {
  Events(asio::any_io_executor executor, redisAsyncContext* context, RedisClient* owner)
      : socket(executor, context->c.fd), ac(context), client(owner) {}
  ~Events() {
    if (socket.is_open()) socket.release();  // the fd is hiredis's to close
  }

  void WaitRead() {
    if (ac == nullptr || read_waiting) return;
    read_waiting = true;
    socket.async_wait(Descriptor::wait_read, [self = shared_from_this()](auto ec) {
      self->read_waiting = false;
      if (ec || self->ac == nullptr || !self->reading) return;
      redisAsyncHandleRead(self->ac);  // may free the context (cleanup sets ac to null)
      if (self->ac == nullptr) return;
      self->client->OnRead();  // may free it too
      if (self->reading) self->WaitRead();
    });
  }

  void WaitWrite() {
    if (ac == nullptr || write_waiting) return;
    write_waiting = true;
    socket.async_wait(Descriptor::wait_write, [self = shared_from_this()](auto ec) {
      self->write_waiting = false;
      if (ec || self->ac == nullptr || !self->writing) return;
      redisAsyncHandleWrite(self->ac);
      if (self->writing) self->WaitWrite();
    });
  }

  static Events* Of(void* data) { return static_cast<Events*>(data); }
  static void AddRead(void* data) {
    Events* e = Of(data);
    e->reading = true;
    e->WaitRead();
  }
  static void DelRead(void* data) { Of(data)->reading = false; }
  static void AddWrite(void* data) {
    Events* e = Of(data);
    e->writing = true;
    e->WaitWrite();
  }
  static void DelWrite(void* data) { Of(data)->writing = false; }
  static void Cleanup(void* data) {
    Events* e = Of(data);
    redisAsyncContext* gone = e->ac;
    e->ac = nullptr;
    e->reading = e->writing = false;
    e->socket.release();  // cancels the waits; hiredis closes the fd itself
    e->client->OnContextGone(gone);
    auto keep = std::move(e->self);  // *e may go with it, when no wait holds it
  }

  Descriptor socket;
  redisAsyncContext* ac;
  RedisClient* client;
  bool reading = false, writing = false;
  bool read_waiting = false, write_waiting = false;
  std::shared_ptr<Events> self;
};

}  // namespace

void AttachToAsio(redisAsyncContext* ac, asio::any_io_executor executor, RedisClient* client) {
  auto events = std::make_shared<Events>(std::move(executor), ac, client);
  events->self = events;
  ac->ev.data = events.get();
  ac->ev.addRead = &Events::AddRead;
  ac->ev.delRead = &Events::DelRead;
  ac->ev.addWrite = &Events::AddWrite;
  ac->ev.delWrite = &Events::DelWrite;
  ac->ev.cleanup = &Events::Cleanup;
}

}  // namespace infergate::shared
