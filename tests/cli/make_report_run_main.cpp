// Makes the demo run of report_fixture.hpp in a directory, to look at:
//   make_report_run DIR [RUN]    then: agora report DIR; agora inspect DIR
#include <iostream>

#include "cli/report_fixture.hpp"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: make_report_run DIR [RUN]\n";
    return 2;
  }
  auto r = agora::test::make_demo_run(argv[1], argc == 3 ? argv[2] : "demo");
  if (!r) {
    std::cerr << "make_report_run: " << agora::bb::to_string(r.error()) << "\n";
    return 3;
  }
  std::cout << r->to_json().dump() << "\n";
  return 0;
}
