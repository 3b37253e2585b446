// ShmFile: the RAII owner of a region file's name in the run directory.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>

#include "netipc/unique_fd.h"

namespace netipc::shm {

// A file name this process created in a directory; unlinks it in its
// destructor, but only while the name still refers to the inode we created
// (st_dev/st_ino), so it never removes a file someone put there later.
class ShmFile {
 public:
  ShmFile() noexcept = default;
  ShmFile(UniqueFd dir_fd, std::string name, dev_t dev, ino_t ino) noexcept
      : dir_fd_(std::move(dir_fd)), name_(std::move(name)), dev_(dev), ino_(ino) {}
  ShmFile(ShmFile&& other) noexcept = default;
  ShmFile& operator=(ShmFile&& other) noexcept;
  ShmFile(const ShmFile&) = delete;
  ShmFile& operator=(const ShmFile&) = delete;
  ~ShmFile() { reset(); }

  bool valid() const noexcept { return dir_fd_.valid(); }
  const std::string& name() const noexcept { return name_; }
  void reset() noexcept;

 private:
  UniqueFd dir_fd_;
  std::string name_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace netipc::shm
