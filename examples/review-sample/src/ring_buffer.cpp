// A fixed-capacity ring buffer of integers. This file is clean: the review
// must report nothing here.
#include <array>
#include <cstddef>
#include <optional>

namespace sample {

class ring_buffer {
 public:
  static constexpr std::size_t capacity = 8;

  // Adds a value; returns false when the buffer is full.
  bool push(int value) {
    if (size_ == capacity) {
      return false;
    }
    items_[(head_ + size_) % capacity] = value;
    ++size_;
    return true;
  }

  // Removes and returns the oldest value, or nothing when empty.
  std::optional<int> pop() {
    if (size_ == 0) {
      return std::nullopt;
    }
    const int value = items_[head_];
    head_ = (head_ + 1) % capacity;
    --size_;
    return value;
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::array<int, capacity> items_{};
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// Sums what a buffer holds, emptying it.
long drain_sum(ring_buffer& buffer) {
  long total = 0;
  while (auto v = buffer.pop()) {
    total += *v;
  }
  return total;
}

}  // namespace sample
