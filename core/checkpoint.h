// The .sfm checkpoint: a versioned little-endian binary file.
//   magic "SFMODEL\0" | u32 version | u64 architecture length | architecture text (the model section of
//   the experiment as YAML, enough to rebuild the net) | u32 tensor count | per tensor: u32 name length,
//   name, u32 rank, i64 dims[rank], f32 data[numel] | u32 CRC-32 (zlib) of every byte before it.
// Writes are atomic; reads check the magic, the version, every length against the file size, the CRC and
// that every weight is finite, and fail with BadInput naming the file (and the tensor, where there is one).
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sf {

struct NamedTensor {
  std::string name;  // "<layer>.<param>", e.g. "conv1.weight"
  Tensor tensor;
};

struct Checkpoint {
  static constexpr uint32_t kVersion = 1;
  std::string architecture;
  std::vector<NamedTensor> tensors;
  const Tensor* find(const std::string& name) const;
};

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
Checkpoint load_checkpoint(const std::string& path);

}  // namespace sf
