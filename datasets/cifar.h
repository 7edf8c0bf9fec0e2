// CIFAR-10 and CIFAR-100 in their binary form (https://www.cs.toronto.edu/~kriz/cifar.html), read from the
// extracted folder or straight from the downloaded .tar.gz through libarchive.
//   CIFAR-10  (cifar-10-binary.tar.gz → cifar-10-batches-bin/): data_batch_1.bin … data_batch_5.bin and
//             test_batch.bin, 10,000 records each of 1 label byte + 3,072 pixel bytes; class names in
//             batches.meta.txt.
//   CIFAR-100 (cifar-100-binary.tar.gz → cifar-100-binary/): train.bin (50,000) and test.bin (10,000), records of
//             1 coarse-label byte + 1 fine-label byte + 3,072 pixel bytes; fine_label_names.txt,
//             coarse_label_names.txt.
// The pixels are the R plane, then G, then B, each 32×32 row-major: already the {3, 32, 32} CHW order.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/source.h"

namespace sf {

enum class CifarKind { cifar10, cifar100 };

constexpr int64_t kCifarPixels = 3 * 32 * 32;

// The images stay as the file's bytes (3 KB per image; as floats the 60,000 would take 737 MB instead of 184 MB)
// and read() converts one sample to floats / 255 → [0, 1], like MNIST.
class CifarSource final : public DataSource {
 public:
  // records: whole records of label_bytes + kCifarPixels bytes, labels already checked; the label of a sample is
  // its byte at label_offset (CIFAR-100: 0 coarse, 1 fine).
  CifarSource(std::string name, std::vector<uint8_t> records, int64_t label_bytes, int64_t label_offset, int classes,
              std::vector<std::string> class_names);
  int64_t size() const override { return size_; }
  Shape sample_shape() const override { return {3, 32, 32}; }
  int num_classes() const override { return classes_; }
  std::string name() const override { return name_; }
  void read(int64_t index, float* pixels, int32_t* label) const override;
  std::vector<std::string> class_names() const override { return class_names_; }

 private:
  std::string name_;
  std::vector<uint8_t> records_;
  int64_t record_size_, label_offset_, size_;
  int classes_;
  std::vector<std::string> class_names_;
};

struct CifarData {
  std::unique_ptr<CifarSource> train, test;
  std::string origin;  // the folder or archive read
};

// path: the extracted folder, a folder holding it or the downloaded archive (the extracted folder wins), or the
// archive itself; "" = default_dataset_dir. label (CIFAR-100 only): "fine" (100 classes) or "coarse" (20).
// Every file is checked before use: a missing one is named with the command that fetches it; a file whose size is
// not exactly the format's (10,000 records of 3,073 bytes, ...) is named with the size expected, and a label
// byte out of range with its record.
CifarData load_cifar(CifarKind kind, const std::string& path, const std::string& label = "fine");

// Checks one record file's bytes: a whole number of records — `records` of them when > 0 — whose label bytes are
// in range. `what` names the file in the BadInput it throws.
void check_cifar_records(CifarKind kind, const uint8_t* data, int64_t size, int64_t records, const std::string& what);

}  // namespace sf
