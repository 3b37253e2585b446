// Result<T>: the return type of every fallible call in NetIPC.
//
// An Error carries a project error code, the errno captured at the failing
// system call (0 when none), and a static string naming what failed. The
// action() tells the caller what to do next; it is derived from the code so
// that every layer agrees on it.
#pragma once

#include <cassert>
#include <cstdint>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

namespace netipc {

enum class Errc : uint16_t {
  kOk = 0,
  // Parameters and configuration (the caller's fault).
  kInvalidArgument,
  kPathTooLong,
  kUnsafeRunDir,
  // Decoding (the peer's fault).
  kTruncated,
  kBadMagic,
  kBadVersion,
  kBadHeaderLen,
  kBadKind,
  kBadLayout,
  kBadAlignment,
  kOutOfBounds,
  kMissingNul,
  kBadItemCount,
  kProtocol,  // any other violation of the wire rules
  // Negotiation outcomes.
  kAuthFailed,
  kIncompatible,
  kUnsupported,
  kLimitExceeded,  // a negotiated ceiling would be exceeded
  kBadEnvelope,    // the server said our request was malformed
  kInternalError,  // the server's handler failed
  // Runtime conditions.
  kTimeout,
  kAborted,
  kPeerGone,
  kNotFound,   // no server at the endpoint
  kAddrInUse,  // a live server owns the endpoint
  kNotReady,
  kPermission,  // peer credentials or file ownership refused
  kNoSpace,     // backing store full (fallocate)
  kShmUnavailable,  // an SHM profile was agreed but its region could not be attached
  kNoMemory,
  kSystem,  // an unexpected system call failure; see sys_errno
};

// What a caller should do about an error.
enum class Action : uint8_t {
  kNone,             // success
  kFixConfig,        // misconfiguration: retrying will not help
  kRetryLater,       // transient: try again later
  kReconnect,        // the session is gone; a new one may work
  kMalformedPeer,    // the peer broke the protocol; the session was dropped
  kGiveUp,           // terminal for this client context (auth, incompatible)
};

const char* errc_name(Errc code) noexcept;
Action action_of(Errc code) noexcept;

struct Error {
  Errc code = Errc::kOk;
  int sys_errno = 0;
  const char* what = "";  // static string naming the failed operation

  Action action() const noexcept { return action_of(code); }
  // "what: CODE (strerror)" — for logs and CLI messages.
  std::string message() const;
};

inline Error make_error(Errc code, const char* what = "", int sys_errno = 0) noexcept {
  return Error{code, sys_errno, what};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT: implicit by design
      : ok_(true) {
    new (&storage_.value) T(std::move(value));
  }
  Result(Error error) noexcept : ok_(false) {  // NOLINT: implicit by design
    new (&storage_.error) Error(error);
  }
  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(other.ok_) {
    if (ok_) {
      new (&storage_.value) T(std::move(other.storage_.value));
    } else {
      new (&storage_.error) Error(other.storage_.error);
    }
  }
  Result& operator=(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &other) {
      destroy();
      ok_ = other.ok_;
      if (ok_) {
        new (&storage_.value) T(std::move(other.storage_.value));
      } else {
        new (&storage_.error) Error(other.storage_.error);
      }
    }
    return *this;
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  ~Result() { destroy(); }

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }

  // The value of an ok Result. On an error these read nothing meaningful:
  // debug builds assert (check ok() first).
  T& value() & noexcept {
    assert(ok_ && "Result::value() on an error");
    return storage_.value;
  }
  const T& value() const& noexcept {
    assert(ok_ && "Result::value() on an error");
    return storage_.value;
  }
  T&& value() && noexcept {
    assert(ok_ && "Result::value() on an error");
    return std::move(storage_.value);
  }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }

  const Error& error() const noexcept { return storage_.error; }
  Errc code() const noexcept { return ok_ ? Errc::kOk : storage_.error.code; }

 private:
  void destroy() noexcept {
    if (ok_) {
      storage_.value.~T();
    } else {
      storage_.error.~Error();
    }
  }
  union Storage {
    Storage() {}
    ~Storage() {}
    T value;
    Error error;
  } storage_;
  bool ok_;
};

// Result<void>: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(Error error) noexcept : error_(error) {}  // NOLINT: implicit by design
  bool ok() const noexcept { return error_.code == Errc::kOk; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const noexcept { return error_; }
  Errc code() const noexcept { return error_.code; }

 private:
  Error error_{};
};

inline Status ok_status() noexcept { return Status(); }

}  // namespace netipc

// Propagate an error from an expression returning Result<T> or Status.
#define NETIPC_RETURN_IF_ERROR(expr)            \
  do {                                          \
    auto&& netipc_status_ = (expr);             \
    if (!netipc_status_.ok()) return netipc_status_.error(); \
  } while (0)
