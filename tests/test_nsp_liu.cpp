#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "models/zoo.h"
#include "ops/noisy_softplus_liu.h"
#include "ops/registry.h"
#include "train/trainer.h"

namespace sf {
namespace {

// Ops called directly (outside a graph) run in eval mode on the CPU.
const sf::ExecContext kCtx;

// f = p·kσ·softplus(x/(kσ)), the closed form the tests compare against.
double nsp(double x, double sigma2, double k, double p) {
  const double ks = k * std::sqrt(sigma2), z = x / ks;
  return p * ks * (std::max(z, 0.0) + std::log1p(std::exp(-std::fabs(z))));
}

struct Outputs {
  Tensor y, dx, da, dw;
};

Outputs run(const std::string& impl, const Attrs& a, const Tensor& x, const Tensor& in, const Tensor* w) {
  auto op = make_op("noisy_softplus_liu", a, Device::cpu, impl);
  std::vector<Shape> shapes{x.shape(), in.shape()};
  if (w) shapes.push_back(w->shape());
  EXPECT_EQ(op->prepare(shapes), x.shape());
  Outputs r{Tensor(x.shape()), Tensor::full(x.shape(), NAN), Tensor::full(in.shape(), NAN), Tensor()};
  std::vector<const Tensor*> ins{&x, &in};
  std::vector<Tensor*> gin{&r.dx, &r.da};
  if (w) {
    r.dw = Tensor::full(w->shape(), NAN);
    ins.push_back(w);
    gin.push_back(&r.dw);
  }
  op->forward(kCtx, ins, r.y);
  op->backward(kCtx, ins, r.y, Tensor::full(x.shape(), 1.0f), gin);
  return r;
}

TEST(NspLiuTest, DenseSourceHandComputed) {
  // σ² = ½(1²·|1| + 2²·|−2|) = 4.5 for the one neuron fed by a = [1, −2] through w = [1, 2].
  const Tensor x = Tensor::from({1, 1}, {0.5f}), a = Tensor::from({1, 2}, {1.0f, -2.0f});
  const Tensor w = Tensor::from({1, 2}, {1.0f, 2.0f});
  const Attrs attrs{{"k", 0.31}, {"scale", 1.085}, {"source", "dense"}};
  for (const std::string impl : {"reference", "openmp"}) {
    const Outputs r = run(impl, attrs, x, a, &w);
    EXPECT_NEAR(r.y[0], nsp(0.5, 4.5, 0.31, 1.085), 1e-5) << impl;
    const double ks = 0.31 * std::sqrt(4.5);
    EXPECT_NEAR(r.dx[0], 1.085 / (1 + std::exp(-0.5 / ks)), 1e-5) << impl;
    EXPECT_EQ(r.da.to_vector(), std::vector<float>(2, 0.0f)) << "σ is constant in backward";
    EXPECT_EQ(r.dw.to_vector(), std::vector<float>(2, 0.0f));
  }
}

TEST(NspLiuTest, PoolSourceHandComputed) {
  // A 2×2 average pool has weights ¼: σ² = ½·Σ (¼)²·|a| = ½·10/16.
  const Tensor x = Tensor::from({1, 1, 1, 1}, {-0.2f}), a = Tensor::from({1, 1, 2, 2}, {1, -2, 3, 4});
  const Outputs r = run("openmp", {{"k", 0.31}, {"scale", 1.0}, {"source", "avgpool2d"}, {"kernel", 2}}, x, a, nullptr);
  EXPECT_NEAR(r.y[0], nsp(-0.2, 0.3125, 0.31, 1.0), 1e-6);
}

TEST(NspLiuTest, ConvSourceMatchesReferenceAndFiniteDifferences) {
  Rng rng(6);
  auto random = [&](Shape s, double scale) {
    Tensor t(std::move(s));
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(scale * rng.uniform(-1, 1));
    return t;
  };
  const Tensor a = random({3, 6, 12, 12}, 1.0), w = random({12, 6, 5, 5}, 0.2), x = random({3, 12, 8, 8}, 2.0);
  const Attrs attrs{{"k", 0.31}, {"scale", 1.085}, {"source", "conv2d"}};
  const Outputs ref = run("reference", attrs, x, a, &w), cpu = run("openmp", attrs, x, a, &w);
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_NEAR(cpu.y[i], ref.y[i], 1e-4 * (1 + std::fabs(ref.y[i]))) << i;
    ASSERT_NEAR(cpu.dx[i], ref.dx[i], 1e-4) << i;
  }
  // d f / d x by central differences, σ fixed by a and w.
  auto op = make_op("noisy_softplus_liu", attrs, Device::cpu, "reference");
  std::vector<Shape> shapes{x.shape(), a.shape(), w.shape()};
  op->prepare(shapes);
  Tensor xp = x.clone(), y(x.shape());
  for (int64_t i = 0; i < x.numel(); i += 97) {
    const float h = 1e-2f;
    xp[i] = x[i] + h;
    op->forward(kCtx, std::vector<const Tensor*>{&xp, &a, &w}, y);
    const double up = y[i];
    xp[i] = x[i] - h;
    op->forward(kCtx, std::vector<const Tensor*>{&xp, &a, &w}, y);
    const double down = y[i];
    xp[i] = x[i];
    EXPECT_NEAR((up - down) / (2 * h), ref.dx[i], 2e-3) << i;
  }
}

TEST(NspLiuTest, ModelWiresSourceLayersAndTrains) {
  ModelSpec spec;
  spec.activation = "noisy_softplus", spec.nsp_per_neuron = true, spec.nsp_k = 0.31, spec.paf_scale = 1.085;
  spec.pool_activation = true;  // σ of pool1_act / pool2_act comes from the pooling layers
  Model m = build_model(spec, 4);
  EXPECT_EQ(m.find("act1")->attrs.get_string("source", ""), "conv2d");
  EXPECT_EQ(m.find("pool1_act")->attrs.get_string("source", ""), "avgpool2d");
  EXPECT_EQ(m.parameter_count(), 3880);

  Dataset d;
  d.name = "toy";
  d.num_classes = 10;
  d.images = Tensor::zeros({60, 1, 28, 28});
  for (int64_t i = 0; i < 60; ++i) {
    d.labels.push_back(static_cast<int32_t>(i % 10));
    for (int r = 2 + (i % 10) * 2; r < 8 + (i % 10) * 2; ++r)
      for (int c = 4; c < 20; ++c) d.images[i * 784 + r * 28 + c] = 1.0f;
  }
  TrainSpec t;
  t.epochs = 6, t.batch = 10, t.optimizer.lr = 0.2;
  Trainer tr(m, t, Device::cpu, 4);
  const auto h = tr.fit(d, nullptr);
  EXPECT_LT(h.back().loss, 0.8 * h.front().loss);

  Model bad({1, 28, 28});
  EXPECT_THROW(bad.add("act0", "noisy_softplus_liu", {{"k", 0.31}}), Error) << "no source layer before it";
}

// Liu's parametric-activation scale p multiplies every activation and its derivative.
TEST(NspLiuTest, PafScaleOnEveryActivation) {
  const Tensor x = Tensor::from({1, 6}, {-3.0f, -0.4f, 0.0f, 0.2f, 1.5f, 30.0f});
  const Tensor dy = Tensor::full({1, 6}, 1.0f);
  for (const char* type : {"relu", "softplus", "noisy_softplus"}) {
    std::vector<float> base_y, base_d;
    for (double p : {1.0, 1.085})
      for (const std::string impl : {"reference", "openmp"}) {
        auto op = make_op(type, {{"scale", p}}, Device::cpu, impl);
        std::vector<Shape> shapes{x.shape()};
        op->prepare(shapes);
        Tensor y(x.shape()), dx(x.shape());
        const Tensor* in[1] = {&x};
        Tensor* gin[1] = {&dx};
        op->forward(kCtx, in, y);
        op->backward(kCtx, in, y, dy, gin);
        if (p == 1.0 && impl == "reference") {
          base_y = y.to_vector(), base_d = dx.to_vector();
          continue;
        }
        for (int i = 0; i < 6; ++i) {
          EXPECT_NEAR(y[i], p * base_y[i], 1e-5 * (1 + std::fabs(y[i]))) << type << " " << impl << " " << i;
          EXPECT_NEAR(dx[i], p * base_d[i], 1e-5) << type << " " << impl << " " << i;
        }
      }
  }
  std::vector<Shape> shapes{x.shape()};
  EXPECT_THROW(make_op("relu", {{"scale", 1.085}}, Device::cpu, "onednn")->prepare(shapes), Error)
      << "oneDNN's eltwise has no output scale: it must refuse rather than ignore it";
  EXPECT_THROW(make_op("relu", {{"scale", 0.0}}), Error);
}

TEST(NspLiuTest, ConfigSigmaFixedOrPerNeuron) {
  const auto dir = std::filesystem::temp_directory_path() / "spikeforge_nsp_test";
  std::filesystem::create_directories(dir);
  const std::string f = (dir / "nsp.yaml").string();
  std::ofstream(f) << "name: nsp\nmodel:\n  activation: noisy_softplus\n  noisy_softplus: {sigma: per_neuron}\n";
  const Experiment e = load_experiment(f);
  EXPECT_TRUE(e.model.nsp_per_neuron);
  EXPECT_DOUBLE_EQ(e.model.nsp_k, 0.31);
  EXPECT_DOUBLE_EQ(e.model.paf_scale, 1.085);
  const std::string resolved = (dir / "nsp_resolved.yaml").string();
  std::ofstream(resolved) << to_yaml(e);
  EXPECT_EQ(to_yaml(load_experiment(resolved)), to_yaml(e));
  EXPECT_THROW(load_experiment(f, {"model.noisy_softplus.sigma=per_layer"}), Error);
  EXPECT_THROW(load_experiment(f, {"model.paf_scale=0"}), Error);
  // Fixed σ: p defaults to 1, and any activation takes an explicit p.
  EXPECT_DOUBLE_EQ(load_experiment(f, {"model.noisy_softplus.sigma=1"}).model.paf_scale, 1.0);
  EXPECT_DOUBLE_EQ(load_experiment(f, {"model.activation=relu", "model.paf_scale=1.085"}).model.paf_scale, 1.085);
}

}  // namespace
}  // namespace sf
