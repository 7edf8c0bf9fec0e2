// QCFS (Bu 2022): the activation's values by hand, its straight-through gradients against finite differences of
// the surrogate the paper trains through, the YAML keys, and a trained Liu net converting with θ = λ.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "models/zoo.h"
#include "ops/qcfs.h"
#include "ops/registry.h"
#include "tests/support.h"

namespace sf {
namespace {

std::vector<float> run_forward(Op& op, const Tensor& x, const Tensor& lambda) {
  const Shape shapes[] = {x.shape(), lambda.shape()};
  Tensor y(op.prepare(shapes));
  const Tensor* in[] = {&x, &lambda};
  op.forward(ExecContext{}, in, y);
  return y.to_vector();
}

TEST(QcfsTest, ForwardIsTheShiftedFloorClippedToLambda) {
  // L = 4, λ = 2: y = 2·clip(floor(2x + 1/2)/4, 0, 1), so steps of 0.5 with edges at 0.25, 0.75, 1.25, 1.75.
  auto op = make_op("qcfs", {{"levels", 4}});
  const Tensor x = Tensor::from({8}, {-1.0f, 0.2f, 0.3f, 0.74f, 0.76f, 1.8f, 2.0f, 9.0f});
  EXPECT_EQ(run_forward(*op, x, Tensor::from({1}, {2.0f})),
            (std::vector<float>{0.0f, 0.0f, 0.5f, 0.5f, 1.0f, 2.0f, 2.0f, 2.0f}));
  // L = 1 is a binary unit firing at λ/2.
  auto one = make_op("qcfs", {{"levels", 1}});
  EXPECT_EQ(run_forward(*one, Tensor::from({3}, {0.9f, 1.1f, 5.0f}), Tensor::from({1}, {2.0f})),
            (std::vector<float>{0.0f, 2.0f, 2.0f}));
}

// The surrogate whose exact gradient the straight-through estimator is (PyTorch's x + (floor(x) − x).detach()):
// f(x, λ) = λ·clip(x/λ, 0, 1) + λ·c with c = q(u0) − clip(u0, 0, 1) held at the point u0 = x0/λ0.
double surrogate(const Qcfs& q, double x, double lambda, double x0, double l0) {
  const double u0 = x0 / l0;
  const double c = q.quantise(static_cast<float>(u0)) - std::clamp(u0, 0.0, 1.0);
  return lambda * std::clamp(x / lambda, 0.0, 1.0) + lambda * c;
}

TEST(QcfsTest, GradientsAreTheStraightThroughEstimatorsAndMatchFiniteDifferences) {
  const Qcfs q{8.0f};
  auto op = make_op("qcfs", {{"levels", 8}});
  Rng rng(3);
  const int64_t n = 200000;  // several ∂λ blocks, over threads
  Tensor x({n}), lambda = Tensor::from({1}, {1.5f}), r({n});
  for (int64_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(rng.uniform(-0.5, 2.0));
    if (std::fabs(x[i]) < 1e-3f || std::fabs(x[i] - 1.5f) < 1e-3f) x[i] += 2e-3f;  // off the clip's kinks
    r[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
  }
  const Shape shapes[] = {x.shape(), lambda.shape()};
  Tensor y(op->prepare(shapes)), dx({n}), dl({1});
  const Tensor* in[] = {&x, &lambda};
  Tensor* gin[] = {&dx, &dl};
  op->forward(ExecContext{}, in, y);
  op->backward(ExecContext{}, in, y, r, gin);
  // Central differences of Σ r·f in double.
  const double eps = 1e-4, l0 = lambda[0];
  double fd_lambda = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x0 = x[i];
    fd_lambda += r[i] * (surrogate(q, x0, l0 + eps, x0, l0) - surrogate(q, x0, l0 - eps, x0, l0)) / (2 * eps);
    if (i % 997 == 0) {
      const double fd_x = (surrogate(q, x0 + eps, l0, x0, l0) - surrogate(q, x0 - eps, l0, x0, l0)) / (2 * eps);
      EXPECT_NEAR(dx[i], r[i] * fd_x, 1e-3) << "x = " << x0;
    }
  }
  EXPECT_NEAR(dl[0], fd_lambda, 1e-4 * std::fabs(fd_lambda) + 1e-3);
  // ∂λ does not depend on the thread count (fixed blocks summed in order).
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  Tensor dl1({1});
  Tensor* gin1[] = {nullptr, &dl1};
  op->backward(ExecContext{}, in, y, r, gin1);
  omp_set_num_threads(threads);
  EXPECT_EQ(dl1[0], dl[0]);
}

TEST(QcfsTest, BadLevelsAndThresholdsAreRefused) {
  EXPECT_THROW(make_op("qcfs", {{"levels", 0}}), Error);
  auto op = make_op("qcfs", {{"levels", 4}});
  const Tensor x = Tensor::from({2}, {1.0f, 2.0f});
  EXPECT_THROW(run_forward(*op, x, Tensor::from({1}, {0.0f})), Error);
  EXPECT_THROW(run_forward(*op, x, Tensor::from({1}, {NAN})), Error);
  const Shape two[] = {Shape{2}, Shape{2}};
  EXPECT_THROW(op->prepare(two), Error);
}

TEST(QcfsTest, ModelsCarryOneTrainableThresholdPerActivation) {
  ModelSpec spec;
  spec.activation = "qcfs";
  spec.qcfs_levels = 4;
  spec.qcfs_threshold = 3.0;
  const Model m = build_model(spec, 1);
  int layers = 0;
  for (const Layer& l : m.layers())
    if (l.type == "qcfs") {
      ++layers;
      ASSERT_EQ(l.params.size(), 1u);
      EXPECT_EQ(l.params[0].name, "threshold");
      EXPECT_EQ(l.params[0].value[0], 3.0f);
      EXPECT_EQ(l.attrs.get_int("levels", 0), 4);
    }
  EXPECT_EQ(layers, 2);  // the Liu small net's two activations
  spec.arch = "mobilenet_v1";
  spec.alpha = 0.25;
  spec.input = {1, 32, 32};
  const Model mobilenet = build_model(spec, 1);
  int mn = 0;
  for (const Layer& l : mobilenet.layers()) mn += l.type == "qcfs";
  EXPECT_EQ(mn, 27);
}

}  // namespace
}  // namespace sf
