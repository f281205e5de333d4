// redis-server as a child process for the Redis client's integration tests.
#include "support/redis_server.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "support/test_env.h"

namespace infergate::testing {

bool RedisServer::Installed() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && ::access((dir + "/redis-server").c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::unique_ptr<RedisServer> RedisServer::Start(std::vector<std::string> args,
                                                std::chrono::milliseconds timeout) {
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->args_ = std::move(args);
  // The free port is found by binding and closing, so another process may take it before redis
  // binds it: a few tries, each on a fresh port.
  for (int attempt = 0; attempt < 3; ++attempt) {
    server->port_ = RefusingPort();
    if (server->Launch(timeout)) return server;
  }
  return nullptr;
}

std::unique_ptr<RedisServer> RedisServer::StartTls(const Tls& tls, std::vector<std::string> args,
                                                   std::chrono::milliseconds timeout) {
  std::vector<std::string> all = {
      "--tls-cert-file",    tls.cert, "--tls-key-file",     tls.key,
      "--tls-ca-cert-file", tls.ca,   "--tls-auth-clients", tls.require_client_cert ? "yes" : "no"};
  all.insert(all.end(), args.begin(), args.end());
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->tls_ = true;
  server->args_ = std::move(all);
  for (int attempt = 0; attempt < 3; ++attempt) {
    server->port_ = RefusingPort();
    if (server->Launch(timeout)) return server;
  }
  return nullptr;
}

RedisServer::~RedisServer() {
  if (process_ != nullptr) Resume();  // a stopped process ignores SIGTERM until continued
}

bool RedisServer::Launch(std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {"redis-server",
                                   "--port",
                                   tls_ ? "0" : std::to_string(port_),
                                   "--tls-port",
                                   tls_ ? std::to_string(port_) : "0",
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   "/tmp",
                                   "--daemonize",
                                   "no"};
  argv.insert(argv.end(), args_.begin(), args_.end());
  process_ = Process::Start(argv);
  if (process_ == nullptr) return false;
  if (process_->WaitForOutput("Ready to accept connections", timeout)) return true;
  std::fprintf(stderr, "redis-server on port %u did not start:\n%s\n", port_,
               process_->Output().c_str());
  process_.reset();
  return false;
}

void RedisServer::Kill() {
  if (process_ == nullptr) return;
  process_->Signal(SIGKILL);
  process_->Wait(std::chrono::seconds(10));
}

void RedisServer::Stop() {
  if (process_ == nullptr) return;
  Resume();
  process_->Stop();
}

void RedisServer::Pause() {
  if (process_ != nullptr) process_->Signal(SIGSTOP);
}

void RedisServer::Resume() {
  if (process_ != nullptr) process_->Signal(SIGCONT);
}

bool RedisServer::Restart(std::chrono::milliseconds timeout) {
  if (process_ != nullptr && process_->Running()) Stop();
  return Launch(timeout);
}

}  // namespace infergate::testing
