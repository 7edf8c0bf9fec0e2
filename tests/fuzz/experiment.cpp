// Experiment YAML (experiments/experiment.h load_experiment) with `--set` overrides. The input is the YAML
// file, then zero or more NUL-separated override assignments (KEY=VALUE), e.g. "train: {epochs: 2}\0seed=3".
#include <cstdint>
#include <string>
#include <vector>

#include "train/experiment.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sf::fuzz::ScratchFile file("experiment.yaml");
  const std::string all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  file.write(all.data(), nul == std::string::npos ? all.size() : nul);
  std::vector<std::string> sets;
  for (size_t start = nul; start != std::string::npos && start < all.size();) {
    const size_t next = all.find('\0', start + 1);
    sets.push_back(all.substr(start + 1, next == std::string::npos ? std::string::npos : next - start - 1));
    start = next;
  }
  sf::fuzz::expect_bad_input_only([&] { sf::load_experiment(file.path(), sets); });
  return 0;
}
