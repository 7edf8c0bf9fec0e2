// The NIR importer on graphs as the reader process sends them (backends/nir/nir_graph.h unpack_graph): the
// chain walk, node fields and the network they build. In-process, so the fuzzer sees this code's coverage
// (tests/fuzz/nir.cpp fuzzes the whole file path, whose HDF5 parsing runs in a child process it cannot see).
#include <cstdint>
#include <string>

#include "backends/nir/nir_import.h"
#include "core/error.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sf::nir::Graph g;
  try {
    g = sf::nir::unpack_graph(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const sf::Error&) {
    return 0;  // not a message the reader process could send
  }
  sf::fuzz::expect_bad_input_only([&] { sf::nir::network_from_graph(g, "fuzz.nir"); });
  return 0;
}
