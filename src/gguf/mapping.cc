// Mapping: a read-only mmap of a whole file, or bytes held in memory.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "infergate/gguf/gguf_file.h"

namespace infergate::gguf {

Expected<std::shared_ptr<const Mapping>, std::string> Mapping::MapFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MakeUnexpected(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return MakeUnexpected(path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return MakeUnexpected(path + ": not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return MakeUnexpected(path + ": the file is empty");
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file's pages; the descriptor is not needed
  if (p == MAP_FAILED) return MakeUnexpected(path + ": cannot mmap: " + std::strerror(err));
  std::shared_ptr<Mapping> m(new Mapping());
  m->data_ = static_cast<const uint8_t*>(p);
  m->size_ = static_cast<uint64_t>(st.st_size);
  m->mapped_ = true;
  return std::shared_ptr<const Mapping>(std::move(m));
}

std::shared_ptr<const Mapping> Mapping::FromBytes(std::vector<uint8_t> bytes) {
  std::shared_ptr<Mapping> m(new Mapping());
  m->owned_ = std::move(bytes);
  m->data_ = m->owned_.data();
  m->size_ = m->owned_.size();
  return m;
}

void Mapping::Release(const uint8_t* p, size_t n) const {
  if (!mapped_ || p < data_ || n > size_ || p > data_ + (size_ - n)) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (begin >= end) return;
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);  // advice only
}

Mapping::~Mapping() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), static_cast<size_t>(size_));
}

}  // namespace infergate::gguf
