// Helpers the test files share: a per-test temporary folder and the expected-error checks.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <string>

#include "core/device.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "datasets/dataset.h"

namespace sf::test {

// A fresh folder per test (named after the test and the process) so parallel ctest runs and reruns never see
// each other's files; removed when the test ends.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() / (prefix + "_" + std::string(info->test_suite_name()) + "_" +
                                                      info->name() + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // The path of `name` inside the folder, its parent folders created.
  std::string file(const std::string& name) const {
    const std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    return p.string();
  }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// For a scope, the CPU allocator refuses any block above `bytes`, as a full device would (OutOfMemory).
struct BoundedAllocator final : Allocator {
  Allocator* inner = registered_allocator(Device::cpu);
  size_t limit;
  explicit BoundedAllocator(size_t bytes) : limit(bytes) { register_allocator(Device::cpu, this); }
  ~BoundedAllocator() override { register_allocator(Device::cpu, inner); }
  BoundedAllocator(const BoundedAllocator&) = delete;
  BoundedAllocator& operator=(const BoundedAllocator&) = delete;
  void* allocate(size_t bytes, size_t slack) override {
    if (bytes > limit) throw OutOfMemory("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return inner->allocate(bytes, slack);
  }
  void deallocate(void* p) override { inner->deallocate(p); }
};

// Expects f to throw a BadInput error and returns its message.
template <class F>
std::string bad_input(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected sf::Error(BadInput)";
  return "";
}

// The message of the sf::Error f throws, or a text no expectation matches when it throws something else or
// nothing.
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return "NO EXCEPTION";
}

// Why a test that needs a GPU cannot run here ("" when it can): a build without CUDA, or a machine without a
// usable GPU, in the runtime's words.
// n images of `shape` ({C, H, W}) with pixels uniform in [0, 1) from Rng(seed), image i labelled i mod classes:
// a dataset for tests that train a net without caring what it learns.
inline Dataset random_images(int64_t n, const Shape& shape, int classes, uint64_t seed) {
  Dataset data;
  data.name = "random", data.num_classes = classes;
  Shape all = shape;
  all.insert(all.begin(), n);
  data.images = Tensor(all);
  Rng rng(seed);
  for (int64_t i = 0; i < data.images.numel(); ++i) data.images[i] = static_cast<float>(rng.uniform());
  for (int64_t i = 0; i < n; ++i) data.labels.push_back(static_cast<int32_t>(i % classes));
  return data;
}

inline std::string gpu_missing() { return device_unavailable_reason(Device::cuda); }

}  // namespace sf::test

// Skips the current test, with the one-line reason, when there is no GPU to run it on.
#define SF_REQUIRE_GPU()                                                                         \
  do {                                                                                           \
    if (const std::string why_ = ::sf::test::gpu_missing(); !why_.empty()) GTEST_SKIP() << why_; \
  } while (0)
