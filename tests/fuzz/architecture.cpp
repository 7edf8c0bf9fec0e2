// A checkpoint's architecture text (experiments/run.h model_from_architecture): the YAML that rebuilds the
// model, parsed, validated and built without the checkpoint around it (whose CRC would hide most mutations).
#include <cstdint>
#include <string>

#include "train/run.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  sf::fuzz::expect_bad_input_only([&] { sf::model_from_architecture(text, "fuzz.sfm"); });
  return 0;
}
