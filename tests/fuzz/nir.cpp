// NIR reader (backends/nir/nir_import.h network_from_nir): libhdf5's parse of the file, then the graph layout,
// the chain walk and the node fields.
#include <cstdint>
#include <cstdlib>

#include "backends/nir/nir_import.h"
#include "tests/fuzz/fuzz_common.h"

// libhdf5 allocates what a corrupt file's sizes say. The release reader limits its child's address space; under
// AddressSanitizer (whose shadow memory defeats such a limit) allocations above 1 GiB return null instead, which
// libhdf5 reports as an error.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1:max_allocation_size_mb=1024"; }

// libhdf5 loops forever on some corrupt files: the reader's deadline must come before libFuzzer's -timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("SPIKEFORGE_NIR_READ_TIMEOUT", "3", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sf::fuzz::ScratchFile file("network.nir");
  file.write(data, size);
  sf::fuzz::expect_bad_input_only([&] { sf::nir::network_from_nir(file.path()); });
  return 0;
}
