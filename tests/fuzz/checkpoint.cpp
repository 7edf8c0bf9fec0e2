// Checkpoint reader (core/checkpoint.h load_checkpoint), then the whole of experiments/run.h load_model
// (architecture text, model build, tensor shapes). The first byte is a mode: odd recomputes the trailing
// CRC-32 before reading, so mutations get past the checksum to the structure checks; even leaves the bytes
// as they are (the checksum and truncation paths).
#include <zlib.h>

#include <cstdint>
#include <string>

#include "train/run.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sf::fuzz::ScratchFile file("model.sfm");
  if (size == 0) return 0;
  const bool fix_crc = data[0] & 1;
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (fix_crc && bytes.size() >= 4) {
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4)));
    for (int i = 0; i < 4; ++i) bytes[bytes.size() - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  }
  file.write(bytes.data(), bytes.size());
  sf::fuzz::expect_bad_input_only([&] { sf::load_model(file.path()); });
  return 0;
}
