#include "transport/shm/guard_linux.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

namespace netipc::shm::guard {

namespace {

// One registered mapping. `base` is written last on add() and cleared first
// on remove(); the handler reads base, size, base again and trusts the pair
// only if base did not change in between.
struct Slot {
  std::atomic<uintptr_t> base{0};
  std::atomic<size_t> size{0};
  std::atomic<uint32_t> broken{0};
  std::atomic<uint32_t> taken{0};
};

Slot g_slots[kSlots];
std::atomic<bool> g_installed{false};
std::atomic<uint64_t> g_repaired{0};
struct sigaction g_previous;  // written once, before the handler is installed
std::mutex g_install_mu;

static_assert(std::atomic<uintptr_t>::is_always_lock_free, "the handler reads these");
static_assert(std::atomic<size_t>::is_always_lock_free, "the handler reads these");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "the handler reads these");

void chain(int sig, siginfo_t* info, void* ctx) {
  const struct sigaction& prev = g_previous;
  if ((prev.sa_flags & SA_SIGINFO) != 0) {
    if (prev.sa_sigaction != nullptr) prev.sa_sigaction(sig, info, ctx);
    return;
  }
  if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
    // What would have happened without us: the default action. SIGBUS from
    // a fault cannot be ignored (the kernel forces it), so both restore the
    // default; returning re-executes the access, which faults again and ends
    // the process exactly as before.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGBUS, &dfl, nullptr);
    if (info == nullptr || info->si_code <= 0) raise(SIGBUS);  // sent, not a fault
    return;
  }
  prev.sa_handler(sig);
}

void on_sigbus(int sig, siginfo_t* info, void* ctx) {
  const int saved_errno = errno;
  const uintptr_t addr = info != nullptr ? reinterpret_cast<uintptr_t>(info->si_addr) : 0;
  if (addr != 0 && info->si_code > 0) {  // a fault, not a kill()
    for (Slot& s : g_slots) {
      const uintptr_t base = s.base.load(std::memory_order_acquire);
      if (base == 0 || addr < base) continue;
      const size_t size = s.size.load(std::memory_order_acquire);
      if (s.base.load(std::memory_order_acquire) != base || addr - base >= size) continue;
      // Zero pages over the whole mapping: the faulting access completes,
      // and every later one too, whatever the peer does to the file.
      void* p = mmap(reinterpret_cast<void*>(base), size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (p == MAP_FAILED) break;  // cannot repair: behave as without us
      s.broken.store(1, std::memory_order_release);
      g_repaired.fetch_add(1, std::memory_order_relaxed);
      errno = saved_errno;
      return;
    }
  }
  errno = saved_errno;
  chain(sig, info, ctx);
}

bool install() noexcept {
  if (g_installed.load(std::memory_order_acquire)) return true;
  std::lock_guard<std::mutex> lock(g_install_mu);
  if (g_installed.load(std::memory_order_relaxed)) return true;
  struct sigaction sa {};
  sa.sa_sigaction = &on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  // g_previous is complete before our handler can run.
  if (sigaction(SIGBUS, &sa, &g_previous) != 0) return false;
  g_installed.store(true, std::memory_order_release);
  return true;
}

}  // namespace

int add(uint8_t* base, size_t size) noexcept {
  if (base == nullptr || size == 0 || !install()) return -1;
  const long page = sysconf(_SC_PAGESIZE);
  const size_t rounded = (size + static_cast<size_t>(page) - 1) & ~(static_cast<size_t>(page) - 1);
  for (int i = 0; i < kSlots; ++i) {
    uint32_t expected = 0;
    if (!g_slots[i].taken.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      continue;
    }
    g_slots[i].broken.store(0, std::memory_order_relaxed);
    g_slots[i].size.store(rounded, std::memory_order_release);
    g_slots[i].base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    return i;
  }
  return -1;
}

void remove(int slot) noexcept {
  if (slot < 0 || slot >= kSlots) return;
  g_slots[slot].base.store(0, std::memory_order_release);
  g_slots[slot].size.store(0, std::memory_order_release);
  g_slots[slot].taken.store(0, std::memory_order_release);
}

bool broken(int slot) noexcept {
  if (slot < 0 || slot >= kSlots) return false;
  return g_slots[slot].broken.load(std::memory_order_acquire) != 0;
}

bool installed() noexcept { return g_installed.load(std::memory_order_acquire); }
uint64_t repaired_faults() noexcept { return g_repaired.load(std::memory_order_relaxed); }

}  // namespace netipc::shm::guard
