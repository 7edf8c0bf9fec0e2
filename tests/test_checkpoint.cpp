#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string_view>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/io.h"

namespace sf {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() / ("sf_ckpt_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static void write_raw(const std::string& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  // A checkpoint whose bytes are known to be valid, for the corruption tests.
  std::string valid_bytes() {
    Checkpoint c;
    c.architecture = kArch;
    c.tensors.push_back({"conv1.weight", Tensor::from({2, 1, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})});
    c.tensors.push_back({"fc.bias", Tensor::from({3}, {0.5f, -0.25f, 2.0f})});
    const std::string p = path("valid.sfm");
    save_checkpoint(p, c);
    return read_file(p);
  }

  // Expects load_checkpoint to throw BadInput whose message names the file and contains `word`.
  static void expect_bad(const std::string& p, const std::string& word) {
    try {
      load_checkpoint(p);
      ADD_FAILURE() << "expected load_checkpoint(" << p << ") to throw (" << word << ")";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      EXPECT_NE(msg.find(word), std::string::npos) << "wanted '" << word << "' in: " << msg;
    }
  }

  static constexpr std::string_view kArch = "model:\n  layers: [conv, fc]\n";
  fs::path dir_;
};

uint32_t crc_of(const std::string& bytes, size_t n) {
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(n)));
}

void put_u32_at(std::string& bytes, size_t pos, uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[pos + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

// Recomputes the trailing CRC so a test reaches the check it targets instead of the checksum check.
void fix_crc(std::string& bytes) { put_u32_at(bytes, bytes.size() - 4, crc_of(bytes, bytes.size() - 4)); }

TEST_F(CheckpointTest, RoundTripIsBitIdentical) {
  Checkpoint c;
  c.architecture = "model:\n  name: \"spïkeNet — σ\"\n  layers:\n    - conv: {out: 4}\n\n";
  Tensor t1 = Tensor::from({5}, {0.0f, -0.0f, 1e-38f, 3.14159265f, -1e30f});
  Tensor t2 = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor t4({2, 3, 1, 4});
  for (int64_t i = 0; i < t4.numel(); ++i) t4[i] = static_cast<float>(i) * 0.1f - 1.0f;
  Tensor empty({0, 7});
  c.tensors.push_back({"a.bias", t1});
  c.tensors.push_back({"fc.weight", t2});
  c.tensors.push_back({"conv1.weight", t4});
  c.tensors.push_back({"empty.state", empty});

  const std::string p = path("model.sfm");
  save_checkpoint(p, c);
  const Checkpoint back = load_checkpoint(p);

  EXPECT_EQ(back.architecture, c.architecture);
  ASSERT_EQ(back.tensors.size(), c.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    const auto& want = c.tensors[i];
    const auto& got = back.tensors[i];
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.tensor.shape(), want.tensor.shape()) << want.name;
    ASSERT_EQ(got.tensor.numel(), want.tensor.numel()) << want.name;
    if (want.tensor.numel() > 0) {
      EXPECT_EQ(std::memcmp(got.tensor.data(), want.tensor.data(), want.tensor.numel() * sizeof(float)), 0)
          << want.name;
    }
  }
  ASSERT_NE(back.find("fc.weight"), nullptr);
  EXPECT_EQ(back.find("fc.weight")->shape(), (Shape{2, 3}));
  EXPECT_EQ(back.find("nope"), nullptr);
}

TEST_F(CheckpointTest, SaveIsAtomicAndLeavesNoTempFile) {
  const std::string p = path("model.sfm");
  write_raw(p, "old contents");
  valid_bytes();  // writes valid.sfm
  Checkpoint c;
  c.architecture = "x";
  c.tensors.push_back({"w", Tensor::full({4}, 1.5f)});
  save_checkpoint(p, c);
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  EXPECT_EQ(load_checkpoint(p).tensors.at(0).tensor.to_vector(), std::vector<float>(4, 1.5f));
}

TEST_F(CheckpointTest, SaveRejectsDuplicateNames) {
  Checkpoint c;
  c.tensors.push_back({"w", Tensor::zeros({1})});
  c.tensors.push_back({"w", Tensor::zeros({1})});
  EXPECT_THROW(save_checkpoint(path("dup.sfm"), c), Error);
  EXPECT_FALSE(fs::exists(path("dup.sfm")));
}

TEST_F(CheckpointTest, MissingFile) { expect_bad(path("does_not_exist.sfm"), "cannot open"); }

TEST_F(CheckpointTest, EmptyFile) {
  const std::string p = path("empty.sfm");
  write_raw(p, "");
  expect_bad(p, "empty");
}

TEST_F(CheckpointTest, BadMagic) {
  const std::string p = path("bad.sfm");
  std::string bytes = valid_bytes();
  bytes[0] = 'X';
  write_raw(p, bytes);
  expect_bad(p, "bad magic");
  write_raw(p, "hello");  // shorter than the magic and not a prefix of it
  expect_bad(p, "bad magic");
}

TEST_F(CheckpointTest, TruncatedAtEveryCutPointThrows) {
  const std::string bytes = valid_bytes();
  const std::string p = path("cut.sfm");
  for (size_t cut = 1; cut < bytes.size(); cut += 7) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(bytes.size()));
    write_raw(p, bytes.substr(0, cut));
    expect_bad(p, "truncated");
  }
  // The last bytes (inside the CRC) are the edge most likely to be off by one.
  for (size_t cut = bytes.size() - 4; cut < bytes.size(); ++cut) {
    write_raw(p, bytes.substr(0, cut));
    expect_bad(p, "truncated");
  }
}

TEST_F(CheckpointTest, FlippedByteIsChecksumError) {
  std::string bytes = valid_bytes();
  // The last tensor's data sits just before the CRC, so this flips a float bit, not a length.
  bytes[bytes.size() - 8] ^= 0x40;
  const std::string p = path("flip.sfm");
  write_raw(p, bytes);
  expect_bad(p, "checksum mismatch");
}

TEST_F(CheckpointTest, NewerVersionIsRejectedByVersion) {
  std::string bytes = valid_bytes();
  put_u32_at(bytes, 8, 7);
  fix_crc(bytes);
  const std::string p = path("v7.sfm");
  write_raw(p, bytes);
  expect_bad(p, "version 7 is newer than this build supports (" + std::to_string(Checkpoint::kVersion) + ")");
}

TEST_F(CheckpointTest, TrailingGarbageIsRejected) {
  std::string bytes = valid_bytes() + "garbage";
  const std::string p = path("garbage.sfm");
  write_raw(p, bytes);
  expect_bad(p, "unexpected bytes");
}

TEST_F(CheckpointTest, HugeLengthsDoNotAllocate) {
  const std::string base = valid_bytes();
  const std::string p = path("huge.sfm");
  // Architecture length (u64 right after the version) claims ~2^63 bytes.
  std::string bytes = base;
  for (int i = 0; i < 8; ++i) bytes[12 + i] = static_cast<char>(i == 7 ? 0x7F : 0xFF);
  fix_crc(bytes);
  write_raw(p, bytes);
  expect_bad(p, "truncated");

  // Tensor count of 2^32-1.
  const size_t arch_len = kArch.size();
  const size_t count_pos = 8 + 4 + 8 + arch_len;
  bytes = base;
  put_u32_at(bytes, count_pos, 0xFFFFFFFFu);
  fix_crc(bytes);
  write_raw(p, bytes);
  expect_bad(p, "truncated");

  // First tensor: huge dims whose product overflows int64.
  const size_t rank_pos = count_pos + 4 + 4 + std::strlen("conv1.weight");
  bytes = base;
  for (int d = 0; d < 4; ++d)
    for (int i = 0; i < 8; ++i) bytes[rank_pos + 4 + 8 * d + i] = static_cast<char>(i == 7 ? 0x3F : 0xFF);
  fix_crc(bytes);
  write_raw(p, bytes);
  expect_bad(p, "overflows");

  // First dim 2^40: fits int64 but far exceeds the bytes in the file.
  bytes = base;
  for (int i = 0; i < 8; ++i) bytes[rank_pos + 4 + i] = static_cast<char>(i == 5 ? 0x01 : 0x00);
  fix_crc(bytes);
  write_raw(p, bytes);
  expect_bad(p, "truncated");

  // Rank 1000.
  bytes = base;
  put_u32_at(bytes, rank_pos, 1000);
  fix_crc(bytes);
  write_raw(p, bytes);
  expect_bad(p, "rank 1000");

  // Name length over the limit.
  bytes = base;
  put_u32_at(bytes, count_pos + 4, 1u << 20);
  fix_crc(bytes);
  write_raw(p, bytes);
  expect_bad(p, "name length");
}

// A NaN or Inf saved with a valid CRC used to load, and `evaluate` printed loss=nan with exit 0.
TEST_F(CheckpointTest, NonFiniteWeightIsRejectedNamingTensor) {
  const std::string base = valid_bytes();
  // conv1.weight's floats follow its name, rank (u32) and 4 dims (i64).
  const size_t data_pos = base.find("conv1.weight") + std::strlen("conv1.weight") + 4 + 4 * 8;
  const std::string p = path("nonfinite.sfm");
  for (const auto& [value, word] : {std::pair{std::numeric_limits<float>::quiet_NaN(), "NaN at element 5"},
                                    std::pair{std::numeric_limits<float>::infinity(), "+Inf at element 5"},
                                    std::pair{-std::numeric_limits<float>::infinity(), "-Inf at element 5"}}) {
    std::string bytes = base;
    std::memcpy(&bytes[data_pos + 5 * sizeof(float)], &value, sizeof(float));
    fix_crc(bytes);
    write_raw(p, bytes);
    expect_bad(p, std::string("tensor 'conv1.weight' holds ") + word);
  }
  // A damaged file still reports the checksum, not the value the damage produced.
  std::string bytes = base;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(&bytes[data_pos], &nan, sizeof(float));
  write_raw(p, bytes);
  expect_bad(p, "checksum");
}

TEST_F(CheckpointTest, SaveRefusesNonFiniteWeights) {
  Checkpoint c;
  c.tensors.push_back({"fc.bias", Tensor::from({3}, {0.5f, std::numeric_limits<float>::quiet_NaN(), 2.0f})});
  try {
    save_checkpoint(path("nan.sfm"), c);
    ADD_FAILURE() << "saved a NaN";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Numeric) << e.what();
    EXPECT_NE(std::string(e.what()).find("'fc.bias' holds NaN at element 1"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path("nan.sfm")));
}

TEST_F(CheckpointTest, DuplicateTensorNameInFileIsRejected) {
  std::string bytes = valid_bytes();
  // Build the file by hand: the valid header, then two records both named "w".
  const size_t arch_len = kArch.size();
  std::string f = bytes.substr(0, 8 + 4 + 8 + arch_len);
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) f.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  u32(2);
  for (int k = 0; k < 2; ++k) {
    u32(1);
    f += "w";
    u32(0);  // rank 0: a scalar
    const float x = 1.0f;
    f.append(reinterpret_cast<const char*>(&x), 4);
  }
  u32(0);
  fix_crc(f);
  const std::string p = path("dupfile.sfm");
  write_raw(p, f);
  expect_bad(p, "duplicate tensor 'w'");
}

}  // namespace
}  // namespace sf
