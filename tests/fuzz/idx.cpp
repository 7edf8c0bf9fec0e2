// IDX reader (datasets/idx.h read_idx), raw and gzip. The first byte picks the encoding so that mutations of
// the IDX structure also reach the gzip path (random bytes are almost never a valid gzip stream):
//   odd: the rest is gzip-compressed here before reading; even: the rest is written as is (it may itself be
//   a gzip stream, which exercises zlib's error reporting).
#include <zlib.h>

#include <cstdint>

#include "datasets/idx.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sf::fuzz::ScratchFile file("idx-ubyte");
  if (size == 0) return 0;
  const bool compress = data[0] & 1;
  ++data, --size;
  if (compress) {
    gzFile gz = gzopen(file.path().c_str(), "wb");
    if (!gz) std::abort();
    if (size > 0 && gzwrite(gz, data, static_cast<unsigned>(size)) != static_cast<int>(size)) std::abort();
    gzclose(gz);
  } else {
    file.write(data, size);
  }
  sf::fuzz::expect_bad_input_only([&] { sf::read_idx(file.path()); });
  return 0;
}
