// IDX files (LeCun's MNIST format): magic 0x0000 | dtype | ndim, big-endian u32 dims, then the data.
// Only dtype 0x08 (unsigned byte) is used by MNIST-family datasets; other dtypes are rejected by name.
// Files ending in .gz (or starting with the gzip magic) are inflated through zlib.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sf {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

IdxArray read_idx(const std::string& path);

}  // namespace sf
