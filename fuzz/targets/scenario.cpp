// Fuzz target of the `agora` command's scenario files (cli/scenario.hpp):
// any bytes, with and without --set overrides, must give a scenario or
// errors — never a crash, an exception or a hang.
#include <string>
#include <vector>

#include "scenario.hpp"
#include "support.hpp"

namespace agora::fuzz {

int fuzz_scenario(const std::uint8_t* data, std::size_t size) {
  return guarded("scenario", [&] {
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::vector<std::vector<std::string>> override_sets{
        {}, {"name=fuzz"}, {"agents.0.kind=tool", "/stop/any/0=1"}, {"stop.max_rounds=2"}};
    for (const auto& overrides : override_sets) {
      auto l = cli::parse_scenario(text, "fuzz.json", overrides);
      if (!l) {
        AGORA_FUZZ_CHECK(!l.errors.empty(), "rejected without an error");
        for (const auto& e : l.errors) {
          const std::string s = e.to_string();
          AGORA_FUZZ_CHECK(s.rfind(e.file, 0) == 0, "error does not start with its file: " + s);
          AGORA_FUZZ_CHECK(e.file == "fuzz.json" || e.file.rfind("--set ", 0) == 0, "error names " + e.file);
          if (e.file == "fuzz.json" && e.line) AGORA_FUZZ_CHECK(e.column >= 1, "line without column: " + s);
        }
        continue;
      }
      const cli::scenario& s = *l.value;
      AGORA_FUZZ_CHECK(l.errors.empty(), "accepted with errors");
      AGORA_FUZZ_CHECK(!s.agents.empty(), "accepted without agents");
      AGORA_FUZZ_CHECK(s.run.stop.bounded(), "accepted an unbounded stop policy");
      AGORA_FUZZ_CHECK(!s.name.empty() && s.name.find('/') == std::string::npos, "accepted name " + s.name);
      for (const auto& a : s.agents) {
        AGORA_FUZZ_CHECK(!a.id.empty() && !a.part.empty(), "agent without id or part");
        AGORA_FUZZ_CHECK(a.kind == "llm" || a.kind == "tool" || a.kind == "scripted", "agent kind " + a.kind);
      }
    }
  });
}

}  // namespace agora::fuzz
