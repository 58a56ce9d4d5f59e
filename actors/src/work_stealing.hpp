// Agora's work-stealing scheduler policy for CAF 0.17: CAF's own
// caf::policy::work_stealing (the same polling strategies, read from the
// same "work-stealing.*" settings, and the same order: the owner runs the
// newest internal job first, thieves take the oldest) with one change, each
// worker's queue is a job_deque, whose steal is O(1) where CAF's is
// O(queue length) (job_deque.hpp says why that matters).
//
// runtime.cpp installs it as the scheduler module unless the latency profile
// asks for CAF's work-sharing scheduler. Private to agora_actors: it pulls in
// CAF's scheduler headers.
#pragma once

#include <array>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <random>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/timespan.hpp>

#include "job_deque.hpp"

namespace agora::actors::detail {

class work_stealing : public caf::policy::unprofiled {
 public:
  ~work_stealing() override;

  using queue_type = job_deque<caf::resumable>;

  struct poll_strategy {
    std::size_t attempts;
    std::size_t step_size;
    std::size_t steal_interval;
    caf::timespan sleep_duration;
  };

  struct wait_strategy {
    std::mutex lock;
    std::condition_variable cv;
    bool sleeping{false};
  };

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    std::atomic<std::size_t> next_worker{0};
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator* p);
    worker_data(const worker_data& other);

    queue_type queue;
    std::default_random_engine rengine;
    std::uniform_int_distribution<std::size_t> uniform;
    std::array<poll_strategy, 3> strategies;
    wait_strategy waitdata;
  };

  template <class Worker>
  caf::resumable* try_steal(Worker* self) {
    auto p = self->parent();
    if (p->num_workers() < 2) return nullptr;
    auto victim = d(self).uniform(d(self).rengine);
    if (victim == self->id()) victim = p->num_workers() - 1;
    return d(p->worker_by_id(victim)).queue.take_tail();
  }

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    auto w = self->worker_by_id(d(self).next_worker++ % self->num_workers());
    w->external_enqueue(job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    d(self).queue.append(job);
    std::unique_lock<std::mutex> guard(d(self).waitdata.lock);
    if (d(self).waitdata.sleeping && !d(self).queue.empty()) d(self).waitdata.cv.notify_one();
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    d(self).queue.prepend(job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    d(self).queue.append(job);
  }

  /// Polls the own queue (stealing every steal_interval attempts) under the
  /// aggressive, then the moderate strategy, then sleeps on the condition
  /// variable between attempts, as CAF's policy does.
  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& strategies = d(self).strategies;
    caf::resumable* job = nullptr;
    for (std::size_t k = 0; k < 2; ++k) {
      for (std::size_t i = 0; i < strategies[k].attempts; i += strategies[k].step_size) {
        job = d(self).queue.take_head();
        if (job) return job;
        if ((i % strategies[k].steal_interval) == 0) {
          job = try_steal(self);
          if (job) return job;
        }
        if (strategies[k].sleep_duration.count() > 0)
          std::this_thread::sleep_for(strategies[k].sleep_duration);
      }
    }
    auto& relaxed = strategies[2];
    auto& wait = d(self).waitdata;
    for (std::size_t i = 1; job == nullptr; ++i) {
      bool woken = true;
      {
        std::unique_lock<std::mutex> guard(wait.lock);
        wait.sleeping = true;
        woken = wait.cv.wait_for(guard, relaxed.sleep_duration,
                                 [&] { return !d(self).queue.empty(); });
        wait.sleeping = false;
      }
      if (woken)
        job = d(self).queue.take_head();
      else if ((i % relaxed.steal_interval) == 0)
        job = try_steal(self);
    }
    return job;
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker* self, UnaryFunction f) {
    for (auto job = d(self).queue.take_head(); job != nullptr; job = d(self).queue.take_head())
      f(job);
  }

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator*, UnaryFunction) {}
};

/// Makes `cfg`'s actor systems use caf::scheduler::coordinator<work_stealing>
/// (adds a module factory; CAF then skips "scheduler.policy").
void use_agora_work_stealing(caf::actor_system_config& cfg);

}  // namespace agora::actors::detail
