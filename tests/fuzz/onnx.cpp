// ONNX reader (interchange/onnx_import.h import_onnx): libonnx's parse, checker and shape inference, then the
// node mapping, initializer decoding and the model build.
#include <cstdint>

#include "interchange/onnx_import.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sf::fuzz::ScratchFile file("model.onnx");
  file.write(data, size);
  sf::fuzz::expect_bad_input_only([&] { sf::import_onnx(file.path()); });
  return 0;
}
