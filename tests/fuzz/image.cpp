// Image decoder path (datasets/image_folder.h): stb_image's JPEG and PNG decoders behind decode_image, with the
// size limit checked from the header first. The first byte is a mode: odd reads the rest from a file through
// read_image (what an image folder's workers do), even decodes it from memory. Every decoded pixel is read, so
// a buffer smaller than height × width × 3 shows under AddressSanitizer.
#include <cstdint>

#include "datasets/image_folder.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sf::fuzz::ScratchFile file("image.jpg");
  if (size == 0) return 0;
  const bool from_file = data[0] & 1;
  ++data, --size;
  sf::fuzz::expect_bad_input_only([&] {
    const sf::Image img = from_file ? sf::read_image(file.write(data, size)) : sf::decode_image(data, size, "fuzz");
    if (img.height < 1 || img.width < 1 || img.height * img.width > sf::kMaxImagePixels) std::abort();
    unsigned sum = 0;
    for (int64_t i = 0; i < img.height * img.width * 3; ++i) sum += img.rgb[static_cast<size_t>(i)];
    volatile unsigned sink = sum;
    (void)sink;
  });
  return 0;
}
