// StopCheck: how a caller ends a shared-memory wait early.
#pragma once

#include <memory>
#include <type_traits>

#include "netipc/result.h"

namespace netipc {

// A non-owning reference to a callable `Errc()` or `bool()` evaluated while a
// call waits. Errc::kOk / false: keep waiting. Any other Errc ends the wait
// with that code; true ends it with Errc::kAborted. The callable must outlive
// the call it is passed to (a lambda written in the argument list does).
class StopCheck {
 public:
  StopCheck() noexcept = default;
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, StopCheck>>>
  StopCheck(F&& f) noexcept  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_(&invoke<std::remove_reference_t<F>>) {}

  bool empty() const noexcept { return call_ == nullptr; }
  Errc operator()() const { return call_ == nullptr ? Errc::kOk : call_(obj_); }

 private:
  template <typename F>
  static Errc invoke(void* obj) {
    auto& fn = *static_cast<F*>(obj);
    if constexpr (std::is_same_v<decltype(fn()), bool>) {
      return fn() ? Errc::kAborted : Errc::kOk;
    } else {
      return fn();
    }
  }
  void* obj_ = nullptr;
  Errc (*call_)(void*) = nullptr;
};

}  // namespace netipc
