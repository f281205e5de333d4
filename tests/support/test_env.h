// Paths of the built binaries and the source tree, and temporary files for test configs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace infergate::testing {

// INFERGATE_BIN_DIR/name, e.g. BinaryPath("infergate-mock").
std::string BinaryPath(std::string_view name);
// INFERGATE_SOURCE_DIR/relative.
std::string SourcePath(std::string_view relative);
// A loopback port where nothing listens (an ephemeral port, bound and closed again): a backend
// that refuses connections.
uint16_t RefusingPort();

// A file with the given contents under $TMPDIR (or /tmp), deleted by the destructor.
class TempFile {
 public:
  explicit TempFile(std::string_view contents, std::string_view suffix = "");
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }
  // Replaces the contents (same path); false on I/O failure.
  bool Rewrite(std::string_view contents);

 private:
  std::string path_;
};

// A fresh empty directory under $TMPDIR (or /tmp), removed recursively by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes path()/name and returns its full path ("" on failure).
  std::string WriteFile(std::string_view name, std::string_view contents);

 private:
  std::string path_;
};

}  // namespace infergate::testing
