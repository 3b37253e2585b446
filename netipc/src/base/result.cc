#include "netipc/result.h"

#include <cstring>

namespace netipc {

const char* errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::kOk: return "OK";
    case Errc::kInvalidArgument: return "INVALID_ARGUMENT";
    case Errc::kPathTooLong: return "PATH_TOO_LONG";
    case Errc::kUnsafeRunDir: return "UNSAFE_RUN_DIR";
    case Errc::kTruncated: return "TRUNCATED";
    case Errc::kBadMagic: return "BAD_MAGIC";
    case Errc::kBadVersion: return "BAD_VERSION";
    case Errc::kBadHeaderLen: return "BAD_HEADER_LEN";
    case Errc::kBadKind: return "BAD_KIND";
    case Errc::kBadLayout: return "BAD_LAYOUT";
    case Errc::kBadAlignment: return "BAD_ALIGNMENT";
    case Errc::kOutOfBounds: return "OUT_OF_BOUNDS";
    case Errc::kMissingNul: return "MISSING_NUL";
    case Errc::kBadItemCount: return "BAD_ITEM_COUNT";
    case Errc::kProtocol: return "PROTOCOL_ERROR";
    case Errc::kAuthFailed: return "AUTH_FAILED";
    case Errc::kIncompatible: return "INCOMPATIBLE";
    case Errc::kUnsupported: return "UNSUPPORTED";
    case Errc::kLimitExceeded: return "LIMIT_EXCEEDED";
    case Errc::kBadEnvelope: return "BAD_ENVELOPE";
    case Errc::kInternalError: return "INTERNAL_ERROR";
    case Errc::kTimeout: return "TIMEOUT";
    case Errc::kAborted: return "ABORTED";
    case Errc::kPeerGone: return "PEER_GONE";
    case Errc::kNotFound: return "NOT_FOUND";
    case Errc::kAddrInUse: return "ADDR_IN_USE";
    case Errc::kNotReady: return "NOT_READY";
    case Errc::kPermission: return "PERMISSION";
    case Errc::kNoSpace: return "NO_SPACE";
    case Errc::kShmUnavailable: return "SHM_UNAVAILABLE";
    case Errc::kNoMemory: return "NO_MEMORY";
    case Errc::kSystem: return "SYSTEM_ERROR";
  }
  return "UNKNOWN";
}

Action action_of(Errc code) noexcept {
  switch (code) {
    case Errc::kOk:
      return Action::kNone;
    case Errc::kInvalidArgument:
    case Errc::kPathTooLong:
    case Errc::kUnsafeRunDir:
    case Errc::kPermission:
      return Action::kFixConfig;
    case Errc::kTruncated:
    case Errc::kBadMagic:
    case Errc::kBadVersion:
    case Errc::kBadHeaderLen:
    case Errc::kBadKind:
    case Errc::kBadLayout:
    case Errc::kBadAlignment:
    case Errc::kOutOfBounds:
    case Errc::kMissingNul:
    case Errc::kBadItemCount:
    case Errc::kProtocol:
    case Errc::kBadEnvelope:
      return Action::kMalformedPeer;
    case Errc::kAuthFailed:
    case Errc::kIncompatible:
    case Errc::kUnsupported:
      return Action::kGiveUp;
    case Errc::kLimitExceeded:
    case Errc::kPeerGone:
    case Errc::kShmUnavailable:
    case Errc::kTimeout:
    case Errc::kAborted:
    case Errc::kInternalError:
      return Action::kReconnect;
    case Errc::kNotFound:
    case Errc::kAddrInUse:
    case Errc::kNotReady:
    case Errc::kNoSpace:
    case Errc::kNoMemory:
    case Errc::kSystem:
      return Action::kRetryLater;
  }
  return Action::kRetryLater;
}

std::string Error::message() const {
  std::string out = (what != nullptr && *what != '\0') ? std::string(what) + ": " : std::string();
  out += errc_name(code);
  if (sys_errno != 0) {
    char buf[128];
    // GNU strerror_r returns the message pointer, which may not be buf.
    const char* msg = strerror_r(sys_errno, buf, sizeof buf);
    out += " (";
    out += msg;
    out += ")";
  }
  return out;
}

}  // namespace netipc
