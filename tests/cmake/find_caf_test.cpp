// Proves that cmake/FindCAF.cmake yields usable CAF::core, CAF::io and
// CAF::openssl targets for Debian's libcaf-dev: the headers are found, the
// version is new enough, and the libraries link and run.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

namespace {

caf::behavior adder() {
  return {[](int a, int b) { return a + b; }};
}

}  // namespace

TEST_CASE("find_caf finds CAF 0.17.5 or newer", "[cmake][find_caf]") {
  CHECK(CAF_VERSION >= 1705);
  CHECK(CAF_MAJOR_VERSION == 0);
  CHECK(CAF_MINOR_VERSION == 17);
}

TEST_CASE("find_caf links core: an actor answers a request", "[cmake][find_caf]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto a = sys.spawn(adder);
  int sum = 0;
  self->request(a, std::chrono::seconds(10), 2, 40)
      .receive([&](int r) { sum = r; },
               [&](const caf::error& e) { FAIL("request failed: " << sys.render(e)); });
  CHECK(sum == 42);
  self->send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("find_caf links io and openssl: the middleman and TLS manager load",
          "[cmake][find_caf]") {
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  caf::actor_system sys{cfg};
  CHECK(sys.has_middleman());
  CHECK(sys.has_openssl_manager());
}
