// Unix SOCK_SEQPACKET endpoints: naming, the listener (run-directory safety
// checks, owner-only socket, stale-socket recovery, peer credential check)
// and the client connect. See docs/transport.md A.1-A.4.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "netipc/result.h"
#include "netipc/unique_fd.h"

namespace netipc {

// [A-Za-z0-9._-]+, not "." or "..".
Status validate_service_name(std::string_view service);
// "{run_dir}/{service}.sock"; kPathTooLong past 107 characters.
Result<std::string> socket_path(std::string_view run_dir, std::string_view service);

// Run directory rules: absolute, an existing directory and not a symlink,
// owned by this euid or root, not group- or world-writable.
Status check_run_dir(const std::string& run_dir);

// The packet size this side offers: SO_SNDBUF - 32 (the kernel refuses a
// SEQPACKET send larger than that), 65536 when SO_SNDBUF is unreadable.
uint32_t auto_packet_size(int fd);

// Lets `packets` packets of `packet_size` bytes be in flight on a sending
// SEQPACKET socket, as far as net.core.wmem_max allows (best effort; the
// packet size already agreed is unchanged). With the default SO_SNDBUF a
// multi-packet message moves one packet at a time: the sender may queue the
// next packet only after the receiver has copied the previous one out, so
// the two copies never overlap. With 4 packets in flight a 100k-item
// snapshot (~80 packets) is fetched in 11-12 ms instead of 17-19 ms (p50,
// netipc-bench snapshot-large on a shared 2-core machine).
void allow_packets_in_flight(int fd, uint32_t packet_size, uint32_t packets);

struct ListenerOptions {
  int backlog = 16;
  // Peers whose uid is not listed are refused at accept. Empty = this
  // process's euid and root.
  std::vector<uid_t> allowed_uids;
  // 0600 by default; 0660 lets a group in (the group is the creator's).
  mode_t socket_mode = 0600;
  // Skip check_run_dir (tests of the checks themselves, special setups).
  bool skip_run_dir_check = false;
};

class UdsListener {
 public:
  // Validates, recovers a stale socket node (A.2), binds owner-only and
  // listens. kAddrInUse when a live server owns the endpoint.
  static Result<UdsListener> listen(const std::string& run_dir, const std::string& service,
                                    const ListenerOptions& options = {});
  UdsListener() = default;
  UdsListener(UdsListener&&) noexcept = default;
  UdsListener& operator=(UdsListener&& other) noexcept;
  ~UdsListener();  // closes and unlinks the socket node if it is still ours

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

  // Non-blocking accept (the listener fd is non-blocking): kNotReady when no
  // connection is pending; kPermission when the peer's uid is not allowed
  // (that connection is already closed). The accepted fd is non-blocking
  // and close-on-exec.
  Result<UniqueFd> accept();

 private:
  void close_and_unlink();
  UniqueFd fd_;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::vector<uid_t> allowed_;
};

// Connects to {run_dir}/{service}.sock. A connect failure is kNotFound
// (with its errno), except EACCES/EPERM (kPermission) and a full backlog
// (kNotReady). The fd is non-blocking and
// close-on-exec: callers poll.
Result<UniqueFd> uds_connect(const std::string& run_dir, const std::string& service);

// SO_PEERCRED uid of a connected socket.
Result<uid_t> peer_uid(int fd);

}  // namespace netipc
