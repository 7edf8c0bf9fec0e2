// The ops MobileNet v1 adds, beyond the kernel-vs-reference and finite-difference case tables of
// tests/test_ops.cpp: their semantics checked by hand and against each other.
//   ConvGroupsTest    grouped / depthwise conv by hand, NHWC as the transposed NCHW (values and gradients),
//                     the error naming op and numbers
//   BatchNormTest     train-mode normalisation, the running-statistics update (momentum, unbiased variance,
//                     update_state, eval mode), eval mode by hand, frozen backward, state binding errors,
//                     NHWC as the transposed NCHW
//   DropoutTest       keep rate and scale, masks independent of how a batch is split, keyed by the random key
//                     and the stream attribute, backward reusing the forward's mask, identity in eval and at 0
//   LayoutOpsTest     global_avgpool and to_nhwc by hand, relu6's values and derivative on every kernel
//   MobileNetBlockTest a to_nhwc → conv/bn/relu6 → depthwise/pointwise → global pool → dropout → dense net in
//                     train mode: default kernels against the reference ones and finite differences
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/graph.h"
#include "core/rng.h"
#include "ops/op_schema.h"
#include "ops/registry.h"
#include "tests/support.h"

namespace {

using sf::test::error_message;

using sf::Attrs;
using sf::Device;
using sf::ExecContext;
using sf::NodeId;
using sf::Rng;
using sf::Shape;
using sf::Tensor;

std::vector<std::string> impls_of(const std::string& type) {
  return sf::OpRegistry::instance().implementations(type, Device::cpu);
}

Tensor random_tensor(const Shape& s, Rng& rng, double scale = 1.0) {
  Tensor t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.normal() * scale);
  return t;
}

ExecContext train_ctx(uint64_t key = 1, int64_t first = 0) {
  ExecContext ctx;
  ctx.mode = sf::Mode::train;
  ctx.random_key = key;
  ctx.first_sample = first;
  return ctx;
}

// Runs a prepared op forward; returns the output.
Tensor run(sf::Op& op, const ExecContext& ctx, const std::vector<const Tensor*>& in, const Shape& out_shape) {
  Tensor y(out_shape);
  op.forward(ctx, in, y);
  return y;
}

// [N,C,H,W] → [N,H,W,C] by hand.
Tensor nhwc_of(const Tensor& x) {
  const int64_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
  Tensor y({n, x.dim(2), x.dim(3), c});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t s = 0; s < hw; ++s) y[(i * hw + s) * c + k] = x[(i * c + k) * hw + s];
  return y;
}

void expect_near_all(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  int bad = 0;
  for (int64_t i = 0; i < want.numel(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= tol * (1.0 + std::fabs(want[i]))) && ++bad <= 5)
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
  EXPECT_EQ(bad, 0) << what;
}

// ---------------------------------------------------------------------------------------------------------
// conv2d groups and layout

TEST(ConvGroupsTest, DepthwiseAndMultiplierByHand) {
  // x channel c is the constant c + 1; 1×1 depthwise weights w[o] = o + 1; multiplier 2: output o reads input
  // channel o / 2.
  Tensor x({1, 3, 2, 2});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t s = 0; s < 4; ++s) x[c * 4 + s] = static_cast<float>(c + 1);
  Tensor w({6, 1, 1, 1});
  for (int64_t o = 0; o < 6; ++o) w[o] = static_cast<float>(o + 1);
  for (const std::string& impl : impls_of("conv2d")) {
    SCOPED_TRACE(impl);
    const std::vector<Shape> shapes{{1, 3, 2, 2}, {6, 1, 1, 1}};
    if (!sf::OpRegistry::instance().supports("conv2d", Device::cpu, impl, {{"groups", 3}}, shapes)) continue;
    auto op = sf::make_op("conv2d", {{"groups", 3}}, Device::cpu, impl);
    ASSERT_EQ(op->prepare(shapes), (Shape{1, 6, 2, 2}));
    const Tensor y = run(*op, {}, {&x, &w}, {1, 6, 2, 2});
    for (int64_t o = 0; o < 6; ++o)
      for (int64_t s = 0; s < 4; ++s) EXPECT_EQ(y[o * 4 + s], static_cast<float>((o / 2 + 1) * (o + 1))) << o;
  }
}

// The NHWC convolution of to_nhwc(x) is to_nhwc of the NCHW one, and so are its gradients (the weight and
// bias gradients equal): one kernel checked against another layout, independently of the reference.
TEST(ConvGroupsTest, NhwcIsTheTransposedNchw) {
  struct Geo {
    Shape x, w;
    int64_t stride, pad, groups;
  };
  for (const Geo& geo : {Geo{{2, 6, 9, 7}, {6, 1, 3, 3}, 2, 1, 6}, Geo{{2, 6, 5, 5}, {9, 2, 3, 3}, 1, 1, 3},
                         Geo{{1, 8, 4, 4}, {16, 8, 1, 1}, 1, 0, 1}}) {
    Rng rng(3);
    const Tensor x = random_tensor(geo.x, rng), w = random_tensor(geo.w, rng, 0.3), b = random_tensor({geo.w[0]}, rng);
    const Tensor xt = nhwc_of(x);
    for (const std::string impl : {"reference", "onednn"}) {
      SCOPED_TRACE(impl + (" groups " + std::to_string(geo.groups)));
      Attrs a{{"stride", geo.stride}, {"pad", geo.pad}, {"groups", geo.groups}};
      auto nchw = sf::make_op("conv2d", a, Device::cpu, impl);
      auto nhwc = sf::make_op("conv2d", a.set("layout", "nhwc"), Device::cpu, impl);
      const Shape ys = nchw->prepare(std::vector<Shape>{geo.x, geo.w, {geo.w[0]}});
      const Shape yts = nhwc->prepare(std::vector<Shape>{xt.shape(), geo.w, {geo.w[0]}});
      EXPECT_EQ(yts, (Shape{ys[0], ys[2], ys[3], ys[1]}));
      const Tensor y = run(*nchw, {}, {&x, &w, &b}, ys), yt = run(*nhwc, {}, {&xt, &w, &b}, yts);
      expect_near_all(yt, nhwc_of(y), 1e-5, "forward");
      const Tensor dy = random_tensor(ys, rng), dyt = nhwc_of(dy);
      Tensor dx(geo.x), dw(geo.w), db({geo.w[0]}), dxt(xt.shape()), dwt(geo.w), dbt({geo.w[0]});
      nchw->backward({}, std::vector<const Tensor*>{&x, &w, &b}, y, dy, std::vector<Tensor*>{&dx, &dw, &db});
      nhwc->backward({}, std::vector<const Tensor*>{&xt, &w, &b}, yt, dyt, std::vector<Tensor*>{&dxt, &dwt, &dbt});
      expect_near_all(dxt, nhwc_of(dx), 1e-5, "dx");
      expect_near_all(dwt, dw, 1e-4, "dw");
      expect_near_all(dbt, db, 1e-4, "db");
    }
  }
}

TEST(ConvGroupsTest, ErrorsNameOpAndNumbers) {
  for (const std::string impl : {"reference", "onednn"}) {
    auto op = sf::make_op("conv2d", {{"groups", 4}}, Device::cpu, impl);
    const std::string msg = error_message([&] { op->prepare(std::vector<Shape>{{1, 30, 8, 8}, {8, 7, 3, 3}}); });
    EXPECT_NE(msg.find("conv2d: channels 30 not divisible by groups 4"), std::string::npos) << msg;
    auto op2 = sf::make_op("conv2d", {{"groups", 4}}, Device::cpu, impl);
    const std::string msg2 = error_message([&] { op2->prepare(std::vector<Shape>{{1, 32, 8, 8}, {8, 4, 3, 3}}); });
    EXPECT_NE(msg2.find("weight dim 1 must be 8"), std::string::npos) << msg2;
  }
  // The micro-GEMM takes neither groups nor NHWC, even at the Liu shapes it was tuned on.
  const std::vector<Shape> liu2{{50, 6, 12, 12}, {12, 6, 5, 5}};
  EXPECT_TRUE(sf::OpRegistry::instance().supports("conv2d", Device::cpu, "gemm", {}, liu2));
  EXPECT_FALSE(sf::OpRegistry::instance().supports("conv2d", Device::cpu, "gemm", {{"groups", 2}},
                                                   std::vector<Shape>{{50, 6, 12, 12}, {12, 3, 5, 5}}));
  EXPECT_FALSE(sf::OpRegistry::instance().supports("conv2d", Device::cpu, "gemm", {{"layout", "nhwc"}},
                                                   std::vector<Shape>{{50, 12, 12, 6}, {12, 6, 5, 5}}));
}

// ---------------------------------------------------------------------------------------------------------
// batchnorm (maps of at least 16 floats, so that every kernel takes them)

struct Bn {
  sf::OpPtr op;
  std::vector<Tensor> state;  // running_mean, running_var
};

Bn make_bn(const std::string& impl, const Attrs& a, const Shape& x, float mean0, float var0) {
  const int64_t c = x.size() == 2 ? x[1] : a.get_string("layout", "nchw") == "nhwc" ? x[3] : x[1];
  Bn bn{sf::make_op("batchnorm", a, Device::cpu, impl), {Tensor::full({c}, mean0), Tensor::full({c}, var0)}};
  bn.op->bind_state(bn.state);
  bn.op->prepare(std::vector<Shape>{x, {c}, {c}});
  return bn;
}

TEST(BatchNormTest, DefaultsAreKeras) {
  const sf::OpSchema* s = sf::find_schema("batchnorm");
  ASSERT_NE(s, nullptr);
  EXPECT_DOUBLE_EQ(s->get_float({}, "momentum"), 0.99);
  EXPECT_DOUBLE_EQ(s->get_float({}, "eps"), 1e-3);
  EXPECT_EQ(s->get_string({}, "layout"), "nchw");
}

TEST(BatchNormTest, TrainModeNormalisesEachChannelWithTheBatchStatistics) {
  for (const std::string& impl : impls_of("batchnorm"))
    for (const char* layout : {"nchw", "nhwc"}) {
      SCOPED_TRACE(impl + " " + layout);
      const bool nhwc = std::string(layout) == "nhwc";
      const Shape xs = nhwc ? Shape{4, 3, 5, 2} : Shape{4, 2, 4, 5};
      Bn bn = make_bn(impl, {{"layout", layout}, {"eps", 1e-6}}, xs, 0, 1);
      Rng rng(5);
      Tensor x = random_tensor(xs, rng, 3.0);
      for (int64_t i = 0; i < x.numel(); ++i) x[i] += 7.0f;  // far from the running mean: must not matter
      const Tensor gamma = Tensor::from({2}, {2.0f, 0.5f}), beta = Tensor::from({2}, {-1.0f, 3.0f});
      const Tensor y = run(*bn.op, train_ctx(), {&x, &gamma, &beta}, xs);
      for (int64_t c = 0; c < 2; ++c) {
        double sum = 0, sq = 0;
        int64_t m = 0;
        for (int64_t i = 0; i < y.numel(); ++i)
          if ((nhwc ? i % 2 : (i / 20) % 2) == c) sum += y[i], sq += y[i] * y[i], ++m;
        const double mean = sum / m, var = sq / m - mean * mean;
        EXPECT_NEAR(mean, beta[c], 1e-4) << c;
        EXPECT_NEAR(std::sqrt(var), std::fabs(gamma[c]), 1e-3) << c;
      }
    }
}

TEST(BatchNormTest, RunningStatisticsMoveWithMomentumAndTheUnbiasedVariance) {
  // One channel of x [2,1] = {1, 3}: batch mean 2, biased variance 1, unbiased 2.
  const Tensor x = Tensor::from({2, 1}, {1.0f, 3.0f}), gamma = Tensor::from({1}, {1.0f}), beta = Tensor::zeros({1});
  for (const std::string& impl : impls_of("batchnorm")) {
    SCOPED_TRACE(impl);
    Bn bn = make_bn(impl, {{"momentum", 0.9}}, {2, 1}, 0.5f, 4.0f);
    run(*bn.op, train_ctx(), {&x, &gamma, &beta}, {2, 1});
    EXPECT_NEAR(bn.state[0][0], 0.9 * 0.5 + 0.1 * 2.0, 1e-6);
    EXPECT_NEAR(bn.state[1][0], 0.9 * 4.0 + 0.1 * 2.0, 1e-6);
    // A replica that may not update (update_state false) and eval mode leave them alone.
    ExecContext replica = train_ctx();
    replica.update_state = false;
    run(*bn.op, replica, {&x, &gamma, &beta}, {2, 1});
    run(*bn.op, ExecContext{}, {&x, &gamma, &beta}, {2, 1});
    EXPECT_NEAR(bn.state[0][0], 0.65, 1e-6);
    EXPECT_NEAR(bn.state[1][0], 3.8, 1e-6);
    // Keras's default momentum: 1 % of the way per step.
    Bn keras = make_bn(impl, {}, {2, 1}, 0.0f, 1.0f);
    run(*keras.op, train_ctx(), {&x, &gamma, &beta}, {2, 1});
    EXPECT_NEAR(keras.state[0][0], 0.02, 1e-6);
    EXPECT_NEAR(keras.state[1][0], 0.99 + 0.02, 1e-6);
  }
}

TEST(BatchNormTest, EvalModeIsTheAffineMapOfTheRunningStatistics) {
  const Shape xs{3, 2, 4, 4};
  Rng rng(6);
  const Tensor x = random_tensor(xs, rng), dy = random_tensor(xs, rng);
  const Tensor gamma = Tensor::from({2}, {1.5f, -0.5f}), beta = Tensor::from({2}, {0.25f, 1.0f});
  for (const std::string& impl : impls_of("batchnorm")) {
    SCOPED_TRACE(impl);
    Bn bn = make_bn(impl, {}, xs, 0.0f, 1.0f);
    bn.state[0][0] = 0.5f, bn.state[0][1] = -1.0f, bn.state[1][0] = 4.0f, bn.state[1][1] = 0.25f;
    const Tensor y = run(*bn.op, ExecContext{}, {&x, &gamma, &beta}, xs);
    Tensor dx(xs), dgamma({2}), dbeta({2});
    bn.op->backward({}, std::vector<const Tensor*>{&x, &gamma, &beta}, y, dy,
                    std::vector<Tensor*>{&dx, &dgamma, &dbeta});
    double dg[2] = {0, 0}, dbt[2] = {0, 0};
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = (i / 16) % 2;
      const double inv = 1.0 / std::sqrt(bn.state[1][c] + 1e-3), xhat = (x[i] - bn.state[0][c]) * inv;
      EXPECT_NEAR(y[i], gamma[c] * xhat + beta[c], 1e-5) << i;
      EXPECT_NEAR(dx[i], gamma[c] * inv * dy[i], 1e-5) << i;  // frozen: the statistics are constants
      dg[c] += dy[i] * xhat, dbt[c] += dy[i];
    }
    for (int64_t c = 0; c < 2; ++c) {
      EXPECT_NEAR(dgamma[c], dg[c], 1e-4);
      EXPECT_NEAR(dbeta[c], dbt[c], 1e-4);
    }
    EXPECT_EQ(bn.state[0][0], 0.5f) << "eval mode must not update the running statistics";
  }
}

TEST(BatchNormTest, StateBindingIsCheckedAndEvalNeedsIt) {
  for (const std::string& impl : impls_of("batchnorm")) {
    SCOPED_TRACE(impl);
    for (size_t n : {0, 1, 3}) {
      auto op = sf::make_op("batchnorm", {}, Device::cpu, impl);
      const std::vector<Tensor> state(n, Tensor::zeros({3}));
      const std::string msg = error_message([&] { op->bind_state(state); });
      EXPECT_NE(msg.find("batchnorm"), std::string::npos) << msg;
      EXPECT_NE(msg.find("running_mean, running_var"), std::string::npos) << msg;
    }
    // Buffers of the wrong size: prepare() says so.
    auto op = sf::make_op("batchnorm", {}, Device::cpu, impl);
    const std::vector<Tensor> state{Tensor::zeros({4}), Tensor::full({4}, 1.0f)};
    op->bind_state(state);
    const std::string msg = error_message([&] { op->prepare(std::vector<Shape>{{2, 3}, {3}, {3}}); });
    EXPECT_NE(msg.find("running_mean and running_var must be [3]"), std::string::npos) << msg;
    // No state: train mode works (nothing to update), eval mode cannot.
    auto bare = sf::make_op("batchnorm", {}, Device::cpu, impl);
    bare->prepare(std::vector<Shape>{{2, 3}, {3}, {3}});
    const Tensor x = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}), g = Tensor::full({3}, 1.0f), b = Tensor::zeros({3});
    EXPECT_NO_THROW(run(*bare, train_ctx(), {&x, &g, &b}, {2, 3}));
    const std::string eval = error_message([&] { run(*bare, ExecContext{}, {&x, &g, &b}, {2, 3}); });
    EXPECT_NE(eval.find("batchnorm"), std::string::npos) << eval;
    EXPECT_NE(eval.find("running statistics"), std::string::npos) << eval;
  }
}

// A train-mode backward uses its forward's batch statistics, even with an eval-mode pass in between (a
// validation batch through the same graph).
TEST(BatchNormTest, TrainBackwardKeepsItsForwardsStatistics) {
  for (const char* layout : {"nchw", "nhwc"})
    for (const std::string& impl : impls_of("batchnorm")) {
      SCOPED_TRACE(impl + " " + layout);
      const Shape xs{4, 4, 4, 4};
      Rng rng(14);
      const Tensor x = random_tensor(xs, rng, 2.0), other = random_tensor(xs, rng), dy = random_tensor(xs, rng);
      const Tensor gamma = random_tensor({4}, rng), beta = random_tensor({4}, rng);
      std::vector<float> want;
      for (bool eval_between : {false, true}) {
        Bn bn = make_bn(impl, {{"layout", layout}}, xs, 0.0f, 1.0f);
        const Tensor y = run(*bn.op, train_ctx(), {&x, &gamma, &beta}, xs);
        if (eval_between) run(*bn.op, ExecContext{}, {&other, &gamma, &beta}, xs);
        Tensor dx(xs);
        bn.op->backward(train_ctx(), std::vector<const Tensor*>{&x, &gamma, &beta}, y, dy,
                        std::vector<Tensor*>{&dx, nullptr, nullptr});
        if (!eval_between)
          want = dx.to_vector();
        else
          EXPECT_EQ(dx.to_vector(), want);
      }
    }
}

TEST(BatchNormTest, NhwcIsTheTransposedNchwInBothModes) {
  const Shape xs{3, 4, 4, 5};
  Rng rng(8);
  const Tensor x = random_tensor(xs, rng, 2.0), dy = random_tensor(xs, rng);
  const Tensor gamma = random_tensor({4}, rng), beta = random_tensor({4}, rng);
  const Tensor xt = nhwc_of(x), dyt = nhwc_of(dy);
  for (const std::string& impl : impls_of("batchnorm"))
    for (bool train : {true, false}) {
      SCOPED_TRACE(impl + (train ? " train" : " eval"));
      const ExecContext ctx = train ? train_ctx() : ExecContext{};
      Bn a = make_bn(impl, {}, xs, 0.1f, 2.0f), b = make_bn(impl, {{"layout", "nhwc"}}, xt.shape(), 0.1f, 2.0f);
      const Tensor y = run(*a.op, ctx, {&x, &gamma, &beta}, xs), yt = run(*b.op, ctx, {&xt, &gamma, &beta}, xt.shape());
      expect_near_all(yt, nhwc_of(y), 1e-5, "forward");
      expect_near_all(b.state[0], a.state[0], 1e-6, "running_mean");
      expect_near_all(b.state[1], a.state[1], 1e-6, "running_var");
      Tensor dx(xs), dg({4}), db({4}), dxt(xt.shape()), dgt({4}), dbt({4});
      a.op->backward(ctx, std::vector<const Tensor*>{&x, &gamma, &beta}, y, dy, std::vector<Tensor*>{&dx, &dg, &db});
      b.op->backward(ctx, std::vector<const Tensor*>{&xt, &gamma, &beta}, yt, dyt,
                     std::vector<Tensor*>{&dxt, &dgt, &dbt});
      expect_near_all(dxt, nhwc_of(dx), 1e-4, "dx");
      expect_near_all(dgt, dg, 1e-4, "dgamma");
      expect_near_all(dbt, db, 1e-4, "dbeta");
    }
}

// ---------------------------------------------------------------------------------------------------------
// dropout

Tensor dropout_fwd(const Attrs& a, const ExecContext& ctx, const Tensor& x) {
  auto op = sf::make_op("dropout", a);
  op->prepare(std::vector<Shape>{x.shape()});
  return run(*op, ctx, {&x}, x.shape());
}

TEST(DropoutTest, KeepsOneMinusRateAndScalesWhatItKeeps) {
  Rng rng(9);
  Tensor x = random_tensor({64, 1024}, rng);
  for (int64_t i = 0; i < x.numel(); ++i)
    if (x[i] == 0.0f) x[i] = 1.0f;
  for (double rate : {0.001, 0.3, 0.5, 0.9}) {
    SCOPED_TRACE(rate);
    const Tensor y = dropout_fwd({{"rate", rate}}, train_ctx(), x);
    int64_t dropped = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (y[i] == 0.0f)
        ++dropped;
      else
        ASSERT_FLOAT_EQ(y[i], x[i] * static_cast<float>(1.0 / (1.0 - rate))) << i;
    }
    // Binomial(65536, rate): 5 standard deviations.
    const double n = static_cast<double>(x.numel()), sd = std::sqrt(n * rate * (1 - rate));
    EXPECT_NEAR(static_cast<double>(dropped), n * rate, 5 * sd + 1);
  }
}

TEST(DropoutTest, MasksDoNotDependOnHowTheBatchIsSplit) {
  Rng rng(10);
  const Tensor x = random_tensor({8, 3, 4, 4}, rng);
  const Attrs a{{"rate", 0.5}};
  const Tensor whole = dropout_fwd(a, train_ctx(42, 0), x);
  // Two shards of 4 samples with their first-sample offsets, as data-parallel replicas run them.
  const int64_t half = x.numel() / 2;
  Tensor lo({4, 3, 4, 4}), hi({4, 3, 4, 4});
  for (int64_t i = 0; i < half; ++i) lo[i] = x[i], hi[i] = x[half + i];
  const Tensor ylo = dropout_fwd(a, train_ctx(42, 0), lo), yhi = dropout_fwd(a, train_ctx(42, 4), hi);
  for (int64_t i = 0; i < half; ++i) {
    ASSERT_EQ(ylo[i], whole[i]) << i;
    ASSERT_EQ(yhi[i], whole[half + i]) << i;
  }
  // And whatever the thread count.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Tensor one_thread = dropout_fwd(a, train_ctx(42, 0), x);
  omp_set_num_threads(threads);
  EXPECT_EQ(one_thread.to_vector(), whole.to_vector());
}

TEST(DropoutTest, KeyAndStreamChooseTheMask) {
  const Tensor x = Tensor::full({4, 256}, 1.0f);
  const Attrs a{{"rate", 0.5}};
  const auto same = dropout_fwd(a, train_ctx(7), x).to_vector();
  EXPECT_EQ(dropout_fwd(a, train_ctx(7), x).to_vector(), same);
  EXPECT_NE(dropout_fwd(a, train_ctx(8), x).to_vector(), same);
  EXPECT_NE(dropout_fwd({{"rate", 0.5}, {"stream", 1}}, train_ctx(7), x).to_vector(), same);
  // Each sample gets its own mask: rows differ.
  const std::vector<float> row0(same.begin(), same.begin() + 256), row1(same.begin() + 256, same.begin() + 512);
  EXPECT_NE(row0, row1);
}

TEST(DropoutTest, BackwardAppliesTheForwardMask) {
  Rng rng(11);
  const Tensor x = random_tensor({6, 50}, rng), dy = random_tensor({6, 50}, rng);
  auto op = sf::make_op("dropout", {{"rate", 0.4}});
  op->prepare(std::vector<Shape>{x.shape()});
  const ExecContext ctx = train_ctx(99, 12);
  const Tensor y = run(*op, ctx, {&x}, x.shape());
  Tensor dx = Tensor::full(x.shape(), std::numeric_limits<float>::quiet_NaN());
  op->backward(ctx, std::vector<const Tensor*>{&x}, y, dy, std::vector<Tensor*>{&dx});
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_FLOAT_EQ(dx[i], y[i] == 0.0f ? 0.0f : dy[i] * (y[i] / x[i])) << i;
}

TEST(DropoutTest, IdentityInEvalModeAndAtRateZero) {
  Rng rng(12);
  const Tensor x = random_tensor({5, 7}, rng);
  EXPECT_EQ(dropout_fwd({{"rate", 0.5}}, ExecContext{}, x).to_vector(), x.to_vector());
  EXPECT_EQ(dropout_fwd({{"rate", 0.0}}, train_ctx(), x).to_vector(), x.to_vector());
  EXPECT_EQ(dropout_fwd({}, ExecContext{}, x).to_vector(), x.to_vector());
}

// ---------------------------------------------------------------------------------------------------------
// global_avgpool, to_nhwc, relu6

TEST(LayoutOpsTest, GlobalAvgPoolByHandInBothLayouts) {
  // x[n,c,s] = 100n + 10c + s over a 2×3 map: mean 100n + 10c + 2.5.
  Tensor x({2, 3, 2, 3});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(100 * (i / 18) + 10 * (i / 6 % 3) + i % 6);
  const Tensor xt = nhwc_of(x);
  for (const std::string& impl : impls_of("global_avgpool"))
    for (const char* layout : {"nchw", "nhwc"}) {
      SCOPED_TRACE(impl + " " + layout);
      const bool nhwc = std::string(layout) == "nhwc";
      auto op = sf::make_op("global_avgpool", {{"layout", layout}}, Device::cpu, impl);
      ASSERT_EQ(op->prepare(std::vector<Shape>{nhwc ? xt.shape() : x.shape()}), (Shape{2, 3}));
      const Tensor y = run(*op, {}, {nhwc ? &xt : &x}, {2, 3});
      for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(y[n * 3 + c], 100.0f * n + 10.0f * c + 2.5f);
      const Tensor dy = Tensor::from({2, 3}, {6, 12, 18, 24, 30, 36});
      Tensor dx(nhwc ? xt.shape() : x.shape());
      op->backward({}, std::vector<const Tensor*>{nhwc ? &xt : &x}, y, dy, std::vector<Tensor*>{&dx});
      for (int64_t i = 0; i < dx.numel(); ++i) {
        const int64_t n = i / 18, c = nhwc ? i % 3 : i / 6 % 3;
        EXPECT_FLOAT_EQ(dx[i], dy[n * 3 + c] / 6.0f) << i;
      }
    }
}

TEST(LayoutOpsTest, ToNhwcMovesChannelsLast) {
  Rng rng(13);
  const Tensor x = random_tensor({2, 3, 4, 5}, rng), dy = random_tensor({2, 4, 5, 3}, rng);
  for (const std::string& impl : impls_of("to_nhwc")) {
    SCOPED_TRACE(impl);
    auto op = sf::make_op("to_nhwc", {}, Device::cpu, impl);
    ASSERT_EQ(op->prepare(std::vector<Shape>{x.shape()}), (Shape{2, 4, 5, 3}));
    const Tensor y = run(*op, {}, {&x}, {2, 4, 5, 3});
    EXPECT_EQ(y.to_vector(), nhwc_of(x).to_vector());
    Tensor dx(x.shape());
    op->backward({}, std::vector<const Tensor*>{&x}, y, dy, std::vector<Tensor*>{&dx});
    EXPECT_EQ(nhwc_of(dx).to_vector(), dy.to_vector());  // backward is the inverse transpose
  }
}

TEST(LayoutOpsTest, Relu6ClipsAtZeroAndSix) {
  const Tensor x = Tensor::from({1, 8}, {-2.0f, 0.0f, 1e-3f, 3.0f, 5.999f, 6.0f, 6.001f, 40.0f});
  const std::vector<float> f = {0, 0, 1e-3f, 3, 5.999f, 6, 6, 6}, df = {0, 0, 1, 1, 1, 0, 0, 0};
  const Tensor dy = Tensor::full({1, 8}, 2.0f);
  for (const std::string& impl : impls_of("relu6"))
    for (double scale : {1.0, 1.085}) {
      SCOPED_TRACE(impl + " scale " + std::to_string(scale));
      const Attrs a{{"scale", scale}};
      if (!sf::OpRegistry::instance().supports("relu6", Device::cpu, impl, a, std::vector<Shape>{{1, 8}})) continue;
      auto op = sf::make_op("relu6", a, Device::cpu, impl);
      op->prepare(std::vector<Shape>{{1, 8}});
      const Tensor y = run(*op, {}, {&x}, {1, 8});
      Tensor dx({1, 8});
      op->backward({}, std::vector<const Tensor*>{&x}, y, dy, std::vector<Tensor*>{&dx});
      for (int i = 0; i < 8; ++i) {
        EXPECT_FLOAT_EQ(y[i], static_cast<float>(scale) * f[i]) << i;
        EXPECT_FLOAT_EQ(dx[i], static_cast<float>(scale) * 2.0f * df[i]) << i;
      }
    }
}

// ---------------------------------------------------------------------------------------------------------
// A MobileNet-shaped net in train mode: to_nhwc → conv 3×3/2 (no bias) → bn → relu6 → depthwise 3×3 → bn →
// relu6 → pointwise 1×1 → bn → relu6 → global_avgpool → dropout → dense → softmax cross-entropy, NHWC
// throughout. Default kernels against the reference ones (loss, every gradient, the running statistics),
// then a finite-difference spot check of each parameter.

struct BlockNet {
  sf::Graph g;
  NodeId x = -1, t = -1, loss = -1;
  std::vector<NodeId> params;
  std::vector<Tensor> grads;
  std::vector<Tensor> state;  // three batch norms' running mean and variance
};

void build_block(BlockNet& net, const std::string& impl, const std::vector<Tensor>& values) {
  auto& g = net.g;
  g.context().mode = sf::Mode::train;
  g.context().random_key = 1234;
  auto op = [&](const char* type, Attrs a = {}) { return sf::make_op(type, a, Device::cpu, impl); };
  const Attrs nhwc{{"layout", "nhwc"}};
  net.x = g.input("x", {4, 3, 9, 9});
  net.t = g.input("t", {4, 5});
  for (size_t i = 0; i < values.size(); ++i) {
    net.grads.emplace_back(values[i].shape());
    net.params.push_back(g.parameter("p" + std::to_string(i), values[i], net.grads.back()));
  }
  const auto& p = net.params;
  size_t k = 0;
  auto bn = [&](const std::string& name, NodeId in, int64_t c) {
    net.state.push_back(Tensor::zeros({c}));
    net.state.push_back(Tensor::full({c}, 1.0f));
    auto b = op("batchnorm", Attrs(nhwc).set("momentum", 0.9));
    b->bind_state(std::vector<Tensor>(net.state.end() - 2, net.state.end()));
    const NodeId out = g.apply(name, std::move(b), {in, p[k], p[k + 1]});
    k += 2;
    return out;
  };
  NodeId h = g.apply("nhwc", op("to_nhwc"), {net.x});
  h = g.apply("conv1", op("conv2d", Attrs(nhwc).set("stride", 2).set("pad", 1)), {h, p[k++]});
  h = g.apply("act1", op("relu6"), {bn("bn1", h, 8)});
  h = g.apply("dw", op("conv2d", Attrs(nhwc).set("groups", 8).set("pad", 1)), {h, p[k++]});
  h = g.apply("act2", op("relu6"), {bn("bn2", h, 8)});
  h = g.apply("pw", op("conv2d", nhwc), {h, p[k++]});
  h = g.apply("act3", op("relu6"), {bn("bn3", h, 16)});
  h = g.apply("pool", op("global_avgpool", nhwc), {h});
  h = g.apply("drop", op("dropout", {{"rate", 0.25}}), {h});
  h = g.apply("fc", op("dense"), {h, p[k], p[k + 1]});
  net.loss = g.apply("loss", op("softmax_cross_entropy"), {h, net.t});
}

TEST(MobileNetBlockTest, DefaultKernelsMatchReferenceAndFiniteDifferences) {
  Rng rng(21);
  std::vector<Tensor> values;
  values.push_back(random_tensor({8, 3, 3, 3}, rng, 0.4));  // conv1
  // γ near 1 spreads each channel over relu6's range: with γ ≈ 0 a channel would sit at its kink at 0,
  // where finite differences of β and γ see the kink rather than the derivative.
  values.push_back(random_tensor({8}, rng, 0.2));  // bn1 gamma
  for (int64_t c = 0; c < 8; ++c) values.back()[c] += 1.0f;
  values.push_back(random_tensor({8}, rng, 0.2));            // bn1 beta
  values.push_back(random_tensor({8, 1, 3, 3}, rng, 0.4));   // depthwise
  values.push_back(Tensor::full({8}, 1.2f));                 // bn2 gamma
  values.push_back(random_tensor({8}, rng, 0.2));            // bn2 beta
  values.push_back(random_tensor({16, 8, 1, 1}, rng, 0.4));  // pointwise
  values.push_back(Tensor::full({16}, 0.9f));                // bn3 gamma
  values.push_back(random_tensor({16}, rng, 0.2));           // bn3 beta
  values.push_back(random_tensor({5, 16}, rng, 0.5));        // dense
  values.push_back(random_tensor({5}, rng, 0.1));
  const Tensor image = random_tensor({4, 3, 9, 9}, rng);
  Tensor target = Tensor::zeros({4, 5});
  for (int64_t n = 0; n < 4; ++n) target[n * 5 + n] = 1.0f;

  BlockNet fast, ref;
  build_block(fast, "", values);
  build_block(ref, "reference", values);
  for (NodeId i = 0; i < fast.g.size(); ++i)
    if (fast.g.name(i) == "dw" || fast.g.name(i) == "pw") {
      EXPECT_STREQ(fast.g.op(i)->impl(), "onednn");
    }
  for (BlockNet* net : {&fast, &ref}) {
    net->g.value(net->x).copy_from(image);
    net->g.value(net->t).copy_from(target);
    net->g.forward();
    net->g.backward(net->loss);
  }
  EXPECT_NEAR(fast.g.value(fast.loss)[0], ref.g.value(ref.loss)[0], 1e-4 * std::fabs(ref.g.value(ref.loss)[0]));
  for (size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE("param " + std::to_string(i));
    double scale = 1e-6;
    for (int64_t j = 0; j < ref.grads[i].numel(); ++j) scale = std::max(scale, std::fabs(double(ref.grads[i][j])));
    for (int64_t j = 0; j < ref.grads[i].numel(); ++j)
      EXPECT_NEAR(fast.grads[i][j], ref.grads[i][j], 2e-4 * scale) << j;
  }
  for (size_t i = 0; i < fast.state.size(); ++i) expect_near_all(fast.state[i], ref.state[i], 1e-5, "state");

  // Central differences of the default-kernel net (train mode: batch statistics, the same dropout mask). A small
  // step, so that none of the 1,000 relu6 inputs crosses a kink within it (at 1e-2 a depthwise weight's
  // difference was half its derivative; it converges from 5e-4 down); the float loss's rounding (≈ 1e-7)
  // over the step stays below the tolerance.
  for (size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE("fd param " + std::to_string(i));
    Tensor& v = values[i];
    const int64_t step = std::max<int64_t>(1, v.numel() / 6);
    for (int64_t j = 0; j < v.numel(); j += step) {
      const float orig = v[j], eps = 5e-4f;
      v[j] = orig + eps;
      fast.g.forward();
      const double lp = fast.g.value(fast.loss)[0];
      v[j] = orig - eps;
      fast.g.forward();
      const double lm = fast.g.value(fast.loss)[0];
      v[j] = orig;
      const double fd = (lp - lm) / (2.0 * eps);
      EXPECT_NEAR(fast.grads[i][j], fd, 3e-3 + 3e-2 * std::fabs(fd)) << j;
    }
  }
}

}  // namespace
