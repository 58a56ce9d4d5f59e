#include "agora/blackboard/watch.hpp"

#include "store.hpp"

namespace agora::bb {

namespace {
constexpr std::uint64_t catch_up_batch = 256;  // history records fetched at a time
}

watch& watch::operator=(watch&& other) noexcept {
  if (this != &other) {
    cancel();
    w_ = std::move(other.w_);
  }
  return *this;
}

watch::~watch() { cancel(); }

void watch::cancel() {
  if (!w_) return;
  {
    std::lock_guard lock(w_->mu);
    if (!w_->failure) w_->failure = error{errc::watch_closed, "the watch was cancelled"};
    w_->cv.notify_all();
  }
  if (auto s = w_->owner.lock()) s->remove_watch(w_.get());
}

std::uint64_t watch::next_revision() const {
  std::lock_guard lock(w_->mu);
  return w_->next_rev;
}

std::uint64_t watch::times_fell_behind() const {
  std::lock_guard lock(w_->mu);
  return w_->fell_behind;
}

void watch::on_ready(std::function<void()> fn) {
  std::lock_guard lock(w_->mu);
  w_->on_ready = std::move(fn);
}

result<std::optional<txn_record>> watch::next(std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  detail::watcher& w = *w_;
  std::unique_lock lock(w.mu);
  while (true) {
    if (w.failure) return *w.failure;
    if (!w.queue.empty()) {
      detail::record_ptr rec = std::move(w.queue.front());
      w.queue.pop_front();
      w.next_rev = rec->revision + 1;
      return std::optional<txn_record>(detail::filtered(*rec, w.prefix));
    }
    if (!w.live) {
      // Catching up from history: after a start in the past, or after the
      // buffer overflowed. Commits do not touch the queue meanwhile.
      const std::uint64_t from = w.fetch_from;
      lock.unlock();
      auto owner = w.owner.lock();
      if (!owner || owner->closed()) {
        lock.lock();
        if (!w.failure) w.failure = error{errc::watch_closed, "the blackboard was destroyed"};
        continue;
      }
      auto recs = owner->records(from, from + catch_up_batch - 1);
      lock.lock();
      if (w.failure) continue;
      if (!recs) {
        w.failure = std::move(recs).take_error();
        continue;
      }
      for (auto& r : *recs)
        if (detail::touches(*r, w.prefix)) w.queue.push_back(std::move(r));
      if (!recs->empty()) w.fetch_from = from + recs->size();
      if (recs->size() < catch_up_batch) {
        // History is exhausted: go live unless a commit slipped in meanwhile.
        lock.unlock();
        owner->try_go_live(w_);
        lock.lock();
      }
      continue;
    }
    if (timeout.count() <= 0 || clock::now() >= deadline) return std::optional<txn_record>{};
    w.reader_waiting = true;
    w.cv.wait_until(lock, deadline);
    w.reader_waiting = false;
  }
}

}  // namespace agora::bb
