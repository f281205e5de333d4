// hiredis's event hooks on an Asio io_context: waits for readiness of the connection's socket with
// a posix::stream_descriptor and calls redisAsyncHandleRead/Write.
#pragma once

#include <boost/asio/any_io_executor.hpp>

struct redisAsyncContext;

namespace infergate::shared {

class RedisClient;

// Installs the hooks on `ac` (once, right after redisAsyncConnect). After each read the client's
// OnRead runs; when hiredis frees the context (ev.cleanup) the client's OnContextGone runs. The
// socket stays hiredis's: it is released, never closed, by the adapter.
void AttachToAsio(redisAsyncContext* ac, boost::asio::any_io_executor executor,
                  RedisClient* client);

}  // namespace infergate::shared
