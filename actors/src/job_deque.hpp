// A worker's run queue for Agora's work-stealing scheduler (work_stealing.hpp):
// the owner takes from the head, thieves from the tail, and every operation is
// O(1). CAF 0.17's double_ended_queue finds the tail's predecessor by walking
// the whole singly-linked list while it holds both of its locks, so one steal
// costs O(queue length) and blocks the owner meanwhile; a worker with 100,000
// runnable actors (one actor spawning many, a large swarm round) then spends
// its time stealing. This queue is a growable ring buffer under one small
// spin lock: a critical section is a few loads and stores. The buffer
// doubles when full and never shrinks: a worker that once held N jobs keeps
// 8N bytes (800 KB after 100,000).
//
// No CAF here: the queue holds any T* (the tests use it without an actor
// system).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>

namespace agora::actors::detail {

template <class T>
class job_deque {
 public:
  job_deque() : buf_(std::make_unique<T*[]>(k_initial)), cap_(k_initial) {}
  job_deque(const job_deque&) = delete;
  job_deque& operator=(const job_deque&) = delete;

  /// Adds `x` behind the last element (external enqueue, resume later).
  void append(T* x) {
    guard g(lock_);
    grow_if_full();
    buf_[(head_ + size_) & (cap_ - 1)] = x;
    publish(size_ + 1);
  }

  /// Adds `x` before the first element (the owner's internal enqueue).
  void prepend(T* x) {
    guard g(lock_);
    grow_if_full();
    head_ = (head_ + cap_ - 1) & (cap_ - 1);
    buf_[head_] = x;
    publish(size_ + 1);
  }

  /// Removes and returns the first element; nullptr when empty.
  T* take_head() {
    if (empty()) return nullptr;  // the owner's idle polling takes no lock
    guard g(lock_);
    if (size_ == 0) return nullptr;
    T* x = buf_[head_];
    head_ = (head_ + 1) & (cap_ - 1);
    publish(size_ - 1);
    return x;
  }

  /// Removes and returns the last element (the oldest external job); nullptr
  /// when empty. What thieves call.
  T* take_tail() {
    if (empty()) return nullptr;
    guard g(lock_);
    if (size_ == 0) return nullptr;
    publish(size_ - 1);
    return buf_[(head_ + size_) & (cap_ - 1)];
  }

  /// Takes no lock: a hint that may be stale by the time the caller acts.
  bool empty() const noexcept { return shared_size_.load(std::memory_order_acquire) == 0; }

  std::size_t size() const noexcept { return shared_size_.load(std::memory_order_acquire); }

 private:
  static constexpr std::size_t k_initial = 64;  // a power of two, as every capacity

  class guard {
   public:
    explicit guard(std::atomic<bool>& l) : l_(l) {
      for (;;) {
        if (!l_.exchange(true, std::memory_order_acquire)) return;
        for (int spins = 0; l_.load(std::memory_order_relaxed); ++spins)
          if (spins > 64) std::this_thread::yield();  // the holder was preempted
      }
    }
    ~guard() { l_.store(false, std::memory_order_release); }
    guard(const guard&) = delete;
    guard& operator=(const guard&) = delete;

   private:
    std::atomic<bool>& l_;
  };

  void publish(std::size_t n) {
    size_ = n;
    shared_size_.store(n, std::memory_order_release);
  }

  void grow_if_full() {
    if (size_ < cap_) return;
    auto bigger = std::make_unique<T*[]>(cap_ * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = buf_[(head_ + i) & (cap_ - 1)];
    buf_ = std::move(bigger);
    cap_ *= 2;
    head_ = 0;
  }

  std::atomic<bool> lock_{false};
  std::atomic<std::size_t> shared_size_{0};
  std::unique_ptr<T*[]> buf_;
  std::size_t cap_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace agora::actors::detail
