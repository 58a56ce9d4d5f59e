// Tests of Agora's work-stealing scheduler (actors/src/work_stealing.hpp,
// job_deque.hpp): the queue's order and growth, every job taken exactly once
// under an owner and thieves, which scheduler a runtime installs, and that
// actors spawned in bulk from one actor all run.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/scheduler/coordinator.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <typeinfo>
#include <vector>

#include "agora/actors/runtime.hpp"
#include "job_deque.hpp"
#include "work_stealing.hpp"

using agora::actors::latency_profile;
using agora::actors::runtime;
using agora::actors::runtime_options;
using agora::actors::detail::job_deque;

namespace {

using hello_atom = caf::atom_constant<caf::atom("sch_hello")>;
using start_atom = caf::atom_constant<caf::atom("sch_start")>;
using done_atom = caf::atom_constant<caf::atom("sch_done")>;

constexpr std::uint64_t k_spawned = 50000;

}  // namespace

TEST_CASE("job_deque: the owner's end is LIFO for prepends, thieves take the oldest",
          "[scheduler]") {
  std::vector<int> v(4);
  job_deque<int> q;
  CHECK(q.empty());
  CHECK(q.take_head() == nullptr);
  CHECK(q.take_tail() == nullptr);
  q.append(&v[0]);   // external: behind everything
  q.prepend(&v[1]);  // internal: runs next
  q.prepend(&v[2]);
  q.append(&v[3]);
  CHECK(q.size() == 4);
  // front to back: 2 1 0 3
  CHECK(q.take_tail() == &v[3]);
  CHECK(q.take_head() == &v[2]);
  CHECK(q.take_tail() == &v[0]);
  CHECK(q.take_head() == &v[1]);
  CHECK(q.empty());
  CHECK(q.take_head() == nullptr);
}

TEST_CASE("job_deque: keeps order while it grows and wraps around", "[scheduler]") {
  std::vector<int> v(1000);
  job_deque<int> q;
  // Wrap the ring first: the head moves backwards past index 0.
  for (int i = 0; i < 10; ++i) q.prepend(&v[static_cast<std::size_t>(i)]);
  for (int i = 10; i < 1000; ++i) q.append(&v[static_cast<std::size_t>(i)]);  // several doublings
  REQUIRE(q.size() == 1000);
  for (int i = 9; i >= 0; --i) REQUIRE(q.take_head() == &v[static_cast<std::size_t>(i)]);
  for (int i = 999; i >= 10; --i) REQUIRE(q.take_tail() == &v[static_cast<std::size_t>(i)]);
  CHECK(q.empty());
}

TEST_CASE("job_deque: under an owner and two thieves every job is taken exactly once",
          "[scheduler]") {
  constexpr std::size_t n = 200000;
  std::vector<int> jobs(n);
  std::vector<std::atomic<int>> taken(n);
  job_deque<int> q;
  std::atomic<bool> producing{true};
  auto take = [&](int* j) {
    auto i = static_cast<std::size_t>(j - jobs.data());
    taken[i].fetch_add(1, std::memory_order_relaxed);
  };
  auto thief = [&] {
    for (;;) {
      bool was_producing = producing.load();
      if (int* j = q.take_tail())
        take(j);
      else if (!was_producing)
        return;  // nothing left and nothing more will come
    }
  };
  std::thread t1(thief), t2(thief);
  // The owner pushes at both ends and takes from the head, as a worker does.
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 3 == 0)
      q.prepend(&jobs[i]);
    else
      q.append(&jobs[i]);
    if (i % 4 == 0)
      if (int* j = q.take_head()) take(j);
  }
  producing = false;
  while (int* j = q.take_head()) take(j);
  t1.join();
  t2.join();
  std::size_t wrong = 0;
  for (auto& t : taken)
    if (t.load() != 1) ++wrong;
  CHECK(wrong == 0);
  CHECK(q.empty());
}

TEST_CASE("runtime: Agora's work stealing unless the latency profile asks for sharing",
          "[scheduler]") {
  using ours = caf::scheduler::coordinator<agora::actors::detail::work_stealing>;
  using sharing = caf::scheduler::coordinator<caf::policy::work_sharing>;
  for (auto p : {latency_profile::caf_default, latency_profile::balanced}) {
    runtime_options o;
    o.latency = p;
    runtime rt(o);
    CHECK(typeid(rt.system().scheduler()) == typeid(ours));
  }
  runtime_options o;
  o.latency = latency_profile::low_latency;
  runtime rt(o);
  CHECK(typeid(rt.system().scheduler()) == typeid(sharing));
}

TEST_CASE("runtime: 50,000 actors spawned from one actor all run and report", "[scheduler]") {
  for (std::size_t workers : {1u, 2u, 3u}) {
    runtime_options o;
    o.worker_threads = workers;
    runtime rt(o);
    auto spawner = rt.system().spawn([](caf::event_based_actor* self) -> caf::behavior {
      return {[=](start_atom) {
        auto driver = caf::actor_cast<caf::actor>(self->current_sender());
        auto me = caf::actor_cast<caf::actor>(self);
        for (std::uint64_t i = 0; i < k_spawned; ++i)
          self->spawn([me, i](caf::event_based_actor* child) {
            child->send(me, hello_atom::value, i);
            child->quit();
          });
        auto seen = std::make_shared<std::vector<bool>>(k_spawned, false);
        auto count = std::make_shared<std::uint64_t>(0);
        self->become([=](hello_atom, std::uint64_t i) {
          if (!(*seen)[i]) ++*count;
          (*seen)[i] = true;
          if (*count == k_spawned) {
            self->send(driver, done_atom::value, *count);
            self->quit();
          }
        });
      }};
    });
    caf::scoped_actor self{rt.system()};
    std::uint64_t got = 0;
    self->send(spawner, start_atom::value);
    self->receive([&](done_atom, std::uint64_t c) { got = c; },
                  caf::after(std::chrono::seconds(120)) >> [] {});
    INFO("workers: " << workers);
    CHECK(got == k_spawned);
    if (got != k_spawned) caf::anon_send_exit(spawner, caf::exit_reason::kill);
  }
}
