// A reader-biased shared mutex: readers touch only their own cache line, so
// point reads scale across cores; a writer pays a scan of every slot.
// Private: may change without notice.
//
// Readers announce themselves in one of `slots` counters (chosen per thread)
// and then check the writer flag; a writer raises the flag and waits for every
// counter to drain. Both sides use sequentially consistent operations, so
// either the reader sees the flag and backs off, or the writer sees the
// reader's count and waits (Dekker's argument). Writers are serialized by
// `writer_mu_`. Meets the SharedMutex requirements used by std::shared_lock
// and std::unique_lock (lock, unlock, lock_shared, unlock_shared).
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <thread>

namespace agora::bb::detail {

class reader_lock {
 public:
  static constexpr std::size_t slots = 16;

  void lock_shared() noexcept {
    auto& count = slots_[my_slot()].readers;
    while (true) {
      count.fetch_add(1, std::memory_order_seq_cst);
      if (!writer_.load(std::memory_order_seq_cst)) return;
      count.fetch_sub(1, std::memory_order_release);
      for (unsigned spins = 0; writer_.load(std::memory_order_acquire); ++spins)
        if (spins > 64) std::this_thread::yield();
    }
  }

  void unlock_shared() noexcept {
    slots_[my_slot()].readers.fetch_sub(1, std::memory_order_release);
  }

  void lock() {
    writer_mu_.lock();
    writer_.store(true, std::memory_order_seq_cst);
    for (auto& s : slots_)
      for (unsigned spins = 0; s.readers.load(std::memory_order_seq_cst) != 0; ++spins)
        if (spins > 64) std::this_thread::yield();
  }

  void unlock() {
    writer_.store(false, std::memory_order_release);
    writer_mu_.unlock();
  }

 private:
  struct alignas(64) slot {
    std::atomic<int> readers{0};
  };

  static std::size_t my_slot() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % slots;
    return mine;
  }

  slot slots_[slots];
  alignas(64) std::atomic<bool> writer_{false};
  std::mutex writer_mu_;
};

}  // namespace agora::bb::detail
