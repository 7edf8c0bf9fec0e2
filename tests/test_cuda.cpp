// The CUDA device: its primitives against the CPU's on the same data, and what a build or machine without a
// GPU says. The CUDA op kernels are checked against the reference in tests/test_ops.cpp (CudaOpsTest). Every
// test here that needs a GPU skips with the reason when there is none.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/primitives.h"
#include "core/rng.h"
#include "ops/registry.h"
#include "optim/kernels.h"
#include "tests/support.h"

namespace sf {
namespace {

Tensor random_tensor(int64_t n, uint64_t seed) {
  Tensor t({n});
  Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) t[i] = static_cast<float>(4.0 * rng.uniform() - 2.0);
  return t;
}

// got within a few float ulps of the terms' magnitude (|y0[i]| + |want[i]| + `terms`): nvcc contracts y + a·x
// into one FMA, g++ in ISO mode does not.
void expect_ulps(const Tensor& got, const Tensor& want, const Tensor& y0, double terms, const char* what) {
  ASSERT_EQ(got.numel(), want.numel());
  const double eps = std::numeric_limits<float>::epsilon();
  for (int64_t i = 0; i < want.numel(); ++i)
    ASSERT_NEAR(got[i], want[i], 4 * eps * (std::fabs(y0[i]) + std::fabs(want[i]) + terms)) << what << " " << i;
}

TEST(CudaTest, ThisBuildAndMachine) {
#if SPIKEFORGE_CUDA
  std::cout << "[ CUDA ] build with CUDA; " << (test::gpu_missing().empty() ? "GPU found" : test::gpu_missing())
            << "\n";
  EXPECT_FALSE(OpRegistry::instance().implementations("dense", Device::cuda).empty());
#else
  EXPECT_TRUE(OpRegistry::instance().implementations("dense", Device::cuda).empty());
#endif
  SF_REQUIRE_GPU();
  EXPECT_TRUE(device_available(Device::cuda));
}

// Sizes around one block, one grid (65,535 blocks × 256 threads = 16.8 M: the last size makes the grid-stride
// loops go round) and odd tails.
class CudaPrimitiveTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(CudaPrimitiveTest, MatchTheCpuPrimitives) {
  SF_REQUIRE_GPU();
  const int64_t n = GetParam();
  const Tensor x = random_tensor(n, 1), y0 = random_tensor(n, 2);
  const Tensor gx = x.to(Device::cuda);
  EXPECT_EQ(gx.to_vector(), x.to_vector()) << "round trip";

  Tensor y = y0.clone(), gy = y0.to(Device::cuda);
  axpy(0.375f, x, y);
  axpy(0.375f, gx, gy);
  expect_ulps(gy.to(Device::cpu), y, y0, 0.75, "axpy");  // |a·x| ≤ 0.75
  Tensor s = x.clone(), gs = gx.clone();
  scale(s, -1.5f);
  scale(gs, -1.5f);
  EXPECT_EQ(gs.to_vector(), s.to_vector());
  Tensor c = x.clone(), gc = gx.clone();
  clamp(c, -0.5f, 0.25f);
  clamp(gc, -0.5f, 0.25f);
  EXPECT_EQ(gc.to_vector(), c.to_vector());
  Tensor f({n}, Device::cuda);
  f.fill(3.25f);
  EXPECT_EQ(f.to_vector(), std::vector<float>(n, 3.25f));

  EXPECT_NEAR(sum(gx), sum(x), 1e-9 * (1 + n));
  EXPECT_EQ(sum(gx), sum(gx.clone())) << "the GPU sum's order is fixed";

  const double l1 = 1e-3, l2 = 5e-4;
  Tensor g = y0.clone(), gg = y0.to(Device::cuda);
  const double want = weight_penalty(x, &g, l1, l2);
  EXPECT_NEAR(weight_penalty(gx, &gg, l1, l2), want, 1e-12 * (1 + n));
  expect_ulps(gg.to(Device::cpu), g, y0, 0.01, "weight penalty gradient");  // l1 + 2·l2·|w| ≤ 0.003
  EXPECT_NEAR(weight_penalty(gx, nullptr, l1, l2), want, 1e-12 * (1 + n));

  EXPECT_EQ(first_non_finite(gx), -1);
  if (n == 0) return;
  Tensor bad = x.clone();
  bad[n - 1] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(first_non_finite(bad.to(Device::cuda)), n - 1);
  bad[n / 2] = std::nanf("");
  EXPECT_EQ(first_non_finite(bad.to(Device::cuda)), n / 2);
}

INSTANTIATE_TEST_SUITE_P(Sizes, CudaPrimitiveTest, ::testing::Values(0, 1, 257, 100003, (1 << 24) + 5));

TEST(CudaPrimitiveTest, CountTopKGatherRowsAndClampMatchTheCpu) {
  SF_REQUIRE_GPU();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor logits = Tensor::from(
      {5, 5}, {1, 2, 0, 3, 4, /**/ 1, 3, 4, 5, 0, /**/ 0, 1, 2, 3, 9, /**/ 2, 2, 5, 6, 0, /**/ 0, nan, 0, 0, 0});
  std::vector<float> t(25, 0.0f);
  for (const auto& [row, cls] : {std::pair{0, 3}, {1, 0}, {2, 4}, {3, 1}, {4, 1}}) t[row * 5 + cls] = 1.0f;
  const Tensor targets = Tensor::from({5, 5}, t);
  const Tensor gl = logits.to(Device::cuda), gt = targets.to(Device::cuda);
  for (int64_t top : {1, 2, 4, 5}) EXPECT_EQ(count_top_k(gl, gt, 5, top), count_top_k(logits, targets, 5, top)) << top;

  Tensor clamped = Tensor::from({3}, {nan, -5.0f, 5.0f}).to(Device::cuda);
  clamp(clamped, -1.0f, 1.0f);
  const std::vector<float> c = clamped.to_vector();
  EXPECT_TRUE(std::isnan(c[0])) << "NaN survives clipping, as on the CPU";
  EXPECT_EQ(c[1], -1.0f);
  EXPECT_EQ(c[2], 1.0f);

  const Tensor src = random_tensor(35, 6), gsrc = src.to(Device::cuda);
  Tensor dst({3, 7}), gdst({3, 7}, Device::cuda);
  const int64_t index[] = {4, 0, 4};
  primitives(Device::cpu).gather_rows(dst.raw(), src.raw(), index, 3, 7);
  primitives(Device::cuda).gather_rows(gdst.raw(), gsrc.raw(), index, 3, 7);
  EXPECT_EQ(gdst.to_vector(), dst.to_vector());
}

// Each fused update against the CPU loop on the same state, three steps.
TEST(CudaOptimTest, UpdatesMatchTheCpuLoops) {
  SF_REQUIRE_GPU();
  const int64_t n = 100003;
  const OptimKernels &cpu = optim_kernels(Device::cpu), &gpu = optim_kernels(Device::cuda);
  for (int rule = 0; rule < 4; ++rule) {
    SCOPED_TRACE("rule " + std::to_string(rule));
    Tensor w = random_tensor(n, 10), a = random_tensor(n, 11), b = random_tensor(n, 12);
    for (int64_t i = 0; i < n; ++i) b[i] = std::fabs(b[i]), a[i] = rule >= 2 ? std::fabs(a[i]) : a[i];
    Tensor gw = w.to(Device::cuda), ga = a.to(Device::cuda), gb = b.to(Device::cuda);
    for (int step = 0; step < 3; ++step) {
      const Tensor g = random_tensor(n, 20 + step), gg = g.to(Device::cuda);
      auto run = [&](const OptimKernels& k, Tensor& w_, const Tensor& g_, Tensor& a_, Tensor& b_) {
        switch (rule) {
          case 0:
            return k.sgd(w_.raw(), g_.raw(), a_.raw(), n, 0.9f, 0.05f, false);
          case 1:
            return k.sgd(w_.raw(), g_.raw(), a_.raw(), n, 0.9f, 0.05f, true);
          case 2:
            return k.adam(w_.raw(), g_.raw(), a_.raw(), b_.raw(), n, 0.9f, 0.999f, 1e-7f, 1e-3f);
          default:
            return k.adadelta(w_.raw(), g_.raw(), a_.raw(), b_.raw(), n, 0.95f, 1e-7f, 1.0f);
        }
      };
      run(cpu, w, g, a, b);
      run(gpu, gw, gg, ga, gb);
    }
    // FMA contraction on the GPU: a few ulps per step of the values involved.
    const std::vector<float> want = w.to_vector(), got = gw.to_vector();
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i]))) << i;
  }
}

TEST(CudaTest, AnOpWithoutACudaKernelIsRefusedNamingIt) {
  SF_REQUIRE_GPU();
  const std::string msg = test::error_message([] {
    const Shape x = {2, 3, 8, 8}, w = {4, 3, 3, 3};
    const std::vector<Shape> shapes = {x, w};
    make_op("to_nhwc", {}, Device::cuda, shapes);
  });
  EXPECT_NE(msg.find("to_nhwc"), std::string::npos) << msg;
}

}  // namespace
}  // namespace sf
