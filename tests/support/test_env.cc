// Binary and source paths, temporary files and directories for integration tests.
#include "support/test_env.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace infergate::testing {
namespace {

std::string TempBase() {
  const char* dir = std::getenv("TMPDIR");
  return (dir != nullptr && *dir != '\0') ? dir : "/tmp";
}

bool WriteAll(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  return static_cast<bool>(out);
}

}  // namespace

std::string BinaryPath(std::string_view name) {
  // INFERGATE_TEST_BIN_DIR runs the tests against other binaries (e.g. an older build, to see
  // a regression test fail before its fix).
  const char* dir = std::getenv("INFERGATE_TEST_BIN_DIR");
  return std::string(dir && *dir ? dir : INFERGATE_BIN_DIR) + "/" + std::string(name);
}

uint16_t RefusingPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  uint16_t port = 1;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

std::string SourcePath(std::string_view relative) {
  return std::string(INFERGATE_SOURCE_DIR) + "/" + std::string(relative);
}

TempFile::TempFile(std::string_view contents, std::string_view suffix) {
  std::string pattern = TempBase() + "/infergate-test-XXXXXX" + std::string(suffix);
  int fd = ::mkstemps(pattern.data(), static_cast<int>(suffix.size()));
  if (fd < 0) return;
  ::close(fd);
  path_ = pattern;
  Rewrite(contents);
}

TempFile::~TempFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

bool TempFile::Rewrite(std::string_view contents) {
  return !path_.empty() && WriteAll(path_, contents);
}

TempDir::TempDir() {
  std::string pattern = TempBase() + "/infergate-test-XXXXXX";
  if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::WriteFile(std::string_view name, std::string_view contents) {
  if (path_.empty()) return "";
  std::string full = path_ + "/" + std::string(name);
  return WriteAll(full, contents) ? full : "";
}

}  // namespace infergate::testing
