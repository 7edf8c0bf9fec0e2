// CIFAR reader (datasets/cifar.h). The first byte is a mode; the rest is the input:
//   0, 1: one record file's bytes for check_cifar_records (CIFAR-10, CIFAR-100): sizes and label bytes;
//   2, 3: an archive given to load_cifar as it is (CIFAR-10, CIFAR-100): libarchive's tar and gzip parsing,
//         member matching and the size checks made before any member is read;
//   4, 5: the same, gzip-compressed here first, so mutations of the tar structure reach the gzip path (random
//         bytes are almost never a valid gzip stream).
#include "datasets/cifar.h"

#include <zlib.h>

#include <cstdint>

#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sf::fuzz::ScratchFile file("cifar.tar.gz");
  if (size == 0) return 0;
  const int mode = data[0] % 6;
  const sf::CifarKind kind = mode % 2 == 0 ? sf::CifarKind::cifar10 : sf::CifarKind::cifar100;
  ++data, --size;
  if (mode < 2) {
    sf::fuzz::expect_bad_input_only(
        [&] { sf::check_cifar_records(kind, data, static_cast<int64_t>(size), 0, "fuzz.bin"); });
    return 0;
  }
  if (mode < 4) {
    file.write(data, size);
  } else {
    gzFile gz = gzopen(file.path().c_str(), "wb");
    if (!gz) std::abort();
    if (size > 0 && gzwrite(gz, data, static_cast<unsigned>(size)) != static_cast<int>(size)) std::abort();
    gzclose(gz);
  }
  sf::fuzz::expect_bad_input_only([&] { sf::load_cifar(kind, file.path()); });
  return 0;
}
