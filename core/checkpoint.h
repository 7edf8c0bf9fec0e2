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
  std::string name;  // "<layer>.<param or buffer>", e.g. "conv1.weight", "bn1.running_mean"
  Tensor tensor;
};

struct Checkpoint {
  // 1: parameters only. 2: also the models' state buffers (batch-norm statistics); same layout, so version 1
  // files still load into models without buffers.
  static constexpr uint32_t kVersion = 2;
  std::string architecture;
  std::vector<NamedTensor> tensors;
  uint32_t version = kVersion;  // of the file it was loaded from (saving always writes kVersion)
  const Tensor* find(const std::string& name) const;
};

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
Checkpoint load_checkpoint(const std::string& path);

}  // namespace sf
