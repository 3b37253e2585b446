// cpu_relax(): the pause a spin-wait loop makes between two polls, so a
// spinning thread yields the core's resources to its sibling and leaves the
// loop quickly when the awaited store lands.
#pragma once

namespace netipc::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

}  // namespace netipc::detail
