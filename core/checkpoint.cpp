#include "core/checkpoint.h"

#include <zlib.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <unordered_set>

#include "core/error.h"
#include "core/io.h"

namespace sf {
namespace {

constexpr char kMagic[8] = {'S', 'F', 'M', 'O', 'D', 'E', 'L', '\0'};
constexpr uint32_t kMaxNameLength = 4096;
constexpr uint32_t kMaxRank = 8;
// Smallest possible tensor record (empty name is rejected, but bound loosely): name length + rank.
constexpr uint64_t kMinTensorRecord = 4 + 4;

// zlib's crc32 takes a 32-bit length; chunk so multi-GB checkpoints are checksummed correctly.
uint32_t crc32_of(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  constexpr size_t kChunk = size_t{1} << 30;
  while (size > 0) {
    const size_t n = size < kChunk ? size : kChunk;
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(n));
    data += n;
    size -= n;
  }
  return static_cast<uint32_t>(crc);
}

// Explicit little-endian encoding so the format does not depend on the host byte order.
template <typename U>
void put_le(std::string& out, U v) {
  static_assert(std::is_unsigned_v<U>);
  for (size_t i = 0; i < sizeof(U); ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u32(std::string& out, uint32_t v) { put_le(out, v); }
void put_u64(std::string& out, uint64_t v) { put_le(out, v); }
void put_i64(std::string& out, int64_t v) { put_le(out, static_cast<uint64_t>(v)); }

void put_floats(std::string& out, const float* p, int64_t n) {
  if (n <= 0) return;
  if constexpr (std::endian::native == std::endian::little) {
    out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n) * sizeof(float));
  } else {
    for (int64_t i = 0; i < n; ++i) put_u32(out, std::bit_cast<uint32_t>(p[i]));
  }
}

// Bounds-checked cursor over the file bytes: every read states what it is reading so a short file
// reports which field ran out.
class Reader {
 public:
  Reader(const std::string& path, const std::string& bytes, size_t end) : path_(path), bytes_(bytes), end_(end) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }

  void need(uint64_t n, const std::string& what) const {
    if (n > remaining())
      fail_input(path_, "truncated (" + what + " needs " + std::to_string(n) + " bytes, " +
                            std::to_string(remaining()) + " left)");
  }

  template <typename U>
  U get_le(const std::string& what) {
    need(sizeof(U), what);
    U v = 0;
    for (size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<unsigned char>(bytes_[pos_ + i])) << (8 * i);
    pos_ += sizeof(U);
    return v;
  }
  uint32_t u32(const std::string& what) { return get_le<uint32_t>(what); }
  uint64_t u64(const std::string& what) { return get_le<uint64_t>(what); }
  int64_t i64(const std::string& what) { return static_cast<int64_t>(get_le<uint64_t>(what)); }

  std::string str(uint64_t n, const std::string& what) {
    need(n, what);
    std::string s = bytes_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }

  void floats(float* dst, int64_t n, const std::string& what) {
    const uint64_t bytes = static_cast<uint64_t>(n) * sizeof(float);
    need(bytes, what);
    if (n <= 0) return;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(dst, bytes_.data() + pos_, static_cast<size_t>(bytes));
      pos_ += static_cast<size_t>(bytes);
    } else {
      for (int64_t i = 0; i < n; ++i) dst[i] = std::bit_cast<float>(u32(what));
    }
  }

 private:
  const std::string& path_;
  const std::string& bytes_;
  size_t end_;
  size_t pos_ = 0;
};

// "NaN at element 17" for the first element that is not finite, "" if all are.
std::string first_non_finite(const Tensor& t) {
  const float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (!std::isfinite(p[i]))
      return std::string(std::isnan(p[i]) ? "NaN" : p[i] > 0 ? "+Inf" : "-Inf") + " at element " + std::to_string(i);
  return "";
}

}  // namespace

const Tensor* Checkpoint::find(const std::string& name) const {
  for (const auto& nt : tensors)
    if (nt.name == name) return &nt.tensor;
  return nullptr;
}

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  // Refuse to write anything load_checkpoint would reject: a checkpoint that cannot be read back is
  // worse than a failed save.
  if (ckpt.tensors.size() > UINT32_MAX) fail_internal("save_checkpoint: too many tensors");
  std::unordered_set<std::string> seen;
  uint64_t total = sizeof(kMagic) + 4 + 8 + ckpt.architecture.size() + 4 + 4;
  for (const auto& nt : ckpt.tensors) {
    const std::string where = "save_checkpoint: tensor '" + nt.name + "'";
    if (nt.name.empty() || nt.name.size() > kMaxNameLength)
      fail_internal(where + ": name must be 1.." + std::to_string(kMaxNameLength) + " bytes");
    if (!seen.insert(nt.name).second) fail_internal(where + ": duplicate name");
    if (!nt.tensor.defined()) fail_internal(where + " is undefined");
    if (nt.tensor.device() != Device::cpu) fail_internal(where + " is not on the cpu; copy it there first");
    if (nt.tensor.ndim() > static_cast<int>(kMaxRank))
      fail_internal(where + ": rank " + std::to_string(nt.tensor.ndim()) + " exceeds " + std::to_string(kMaxRank));
    if (const std::string bad = first_non_finite(nt.tensor); !bad.empty())
      throw Error(ErrorKind::Numeric, where + " holds " + bad);
    total += 4 + nt.name.size() + 4 + 8 * nt.tensor.shape().size() +
             static_cast<uint64_t>(nt.tensor.numel()) * sizeof(float);
  }

  std::string out;
  out.reserve(static_cast<size_t>(total));
  out.append(kMagic, sizeof(kMagic));
  put_u32(out, Checkpoint::kVersion);
  put_u64(out, ckpt.architecture.size());
  out += ckpt.architecture;
  put_u32(out, static_cast<uint32_t>(ckpt.tensors.size()));
  for (const auto& nt : ckpt.tensors) {
    put_u32(out, static_cast<uint32_t>(nt.name.size()));
    out += nt.name;
    put_u32(out, static_cast<uint32_t>(nt.tensor.ndim()));
    for (int64_t d : nt.tensor.shape()) put_i64(out, d);
    put_floats(out, nt.tensor.data(), nt.tensor.numel());
  }
  put_u32(out, crc32_of(out.data(), out.size()));
  write_file_atomic(path, out);
}

Checkpoint load_checkpoint(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.empty()) fail_input(path, "empty file (not a spikeforge checkpoint)");
  if (bytes.size() < sizeof(kMagic)) {
    // A prefix of the magic is a cut-off checkpoint; anything else is some other file.
    if (std::memcmp(bytes.data(), kMagic, bytes.size()) == 0)
      fail_input(path, "truncated (" + std::to_string(bytes.size()) + " bytes, shorter than the header)");
    fail_input(path, "not a spikeforge checkpoint (bad magic)");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    fail_input(path, "not a spikeforge checkpoint (bad magic)");

  // Parse the structure first so a short file reports "truncated" and a newer file reports its version
  // (a future format may change the layout) rather than both collapsing into a checksum error. The CRC
  // is verified last, over the exact byte range the structure says precedes it.
  Reader r(path, bytes, bytes.size());
  r.str(sizeof(kMagic), "magic");
  const uint32_t version = r.u32("version");
  if (version > Checkpoint::kVersion)
    fail_input(path, "version " + std::to_string(version) + " is newer than this build supports (" +
                         std::to_string(Checkpoint::kVersion) + ")");
  if (version == 0) fail_input(path, "version 0 is not a valid checkpoint version (file is corrupt)");

  Checkpoint ckpt;
  ckpt.version = version;
  const uint64_t arch_len = r.u64("architecture length");
  ckpt.architecture = r.str(arch_len, "architecture text");

  const uint32_t count = r.u32("tensor count");
  r.need(static_cast<uint64_t>(count) * kMinTensorRecord, "records for tensor count " + std::to_string(count));
  ckpt.tensors.reserve(count);
  std::unordered_set<std::string> seen;
  for (uint32_t t = 0; t < count; ++t) {
    const std::string idx = "tensor #" + std::to_string(t);
    const uint32_t name_len = r.u32(idx + " name length");
    if (name_len == 0 || name_len > kMaxNameLength)
      fail_input(path, idx + " has name length " + std::to_string(name_len) + " (must be 1.." +
                           std::to_string(kMaxNameLength) + "; file is corrupt)");
    std::string name = r.str(name_len, idx + " name");
    const std::string what = "tensor '" + name + "'";
    if (!seen.insert(name).second) fail_input(path, "duplicate " + what);

    const uint32_t rank = r.u32(what + " rank");
    if (rank > kMaxRank)
      fail_input(path, what + " has rank " + std::to_string(rank) + " (at most " + std::to_string(kMaxRank) +
                           "; file is corrupt)");
    Shape shape(rank);
    for (uint32_t i = 0; i < rank; ++i) {
      shape[i] = r.i64(what + " dims");
      if (shape[i] < 0)
        fail_input(path, what + " has negative dimension " + std::to_string(shape[i]) + " (file is corrupt)");
    }
    // Multiply left to right as sf::numel does, refusing any prefix that would overflow int64; then bound
    // the element count by the bytes actually left, so a corrupt dimension never requests a huge buffer.
    uint64_t n = 1;
    for (int64_t d : shape) {
      if (n != 0 && static_cast<uint64_t>(d) > static_cast<uint64_t>(INT64_MAX) / n)
        fail_input(path, what + " has shape " + to_string(shape) + " whose size overflows (file is corrupt)");
      n *= static_cast<uint64_t>(d);
    }
    if (n > r.remaining() / sizeof(float))
      fail_input(path, "truncated (" + what + " of shape " + to_string(shape) + " needs " + std::to_string(n) +
                           " floats, " + std::to_string(r.remaining()) + " left)");
    Tensor tensor(std::move(shape));
    r.floats(tensor.data(), static_cast<int64_t>(n), what + " data");
    ckpt.tensors.push_back({std::move(name), std::move(tensor)});
  }

  const size_t crc_pos = r.pos();
  const uint32_t stored_crc = r.u32("checksum");
  if (r.remaining() != 0)
    fail_input(path, std::to_string(r.remaining()) + " unexpected bytes after the checksum (file is corrupt)");
  if (crc32_of(bytes.data(), crc_pos) != stored_crc) fail_input(path, "checksum mismatch — file is corrupt");
  // After the CRC, so a damaged file still reports the checksum: a NaN or Inf that was saved as such would
  // otherwise load and turn every evaluation into loss=nan with exit 0.
  for (const auto& nt : ckpt.tensors)
    if (const std::string bad = first_non_finite(nt.tensor); !bad.empty())
      fail_input(path, "tensor '" + nt.name + "' holds " + bad);
  return ckpt;
}

}  // namespace sf
