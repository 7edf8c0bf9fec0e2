#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "train/trainer.h"
#include "models/zoo.h"
#include "optim/optimizer.h"

namespace sf {
namespace {

// n random 28×28 images with labels 0..9 cycling.
Dataset noise_images(int64_t n, uint64_t seed) {
  Dataset d;
  d.name = "tiny";
  d.num_classes = 10;
  d.images = Tensor::zeros({n, 1, 28, 28});
  Rng rng(seed);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = static_cast<float>(rng.uniform());
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 10));
  return d;
}

// One parameter of two elements with a fixed gradient, stepped three times.
struct OneParam {
  Parameter p{"w", Tensor::from({2}, {1.0f, -2.0f}), Tensor::from({2}, {0.5f, -1.0f})};
  std::vector<Parameter*> ps{&p};
};

// Keras SGD: lr_t = lr / (1 + decay·t); v = μ v − lr_t g; w += v (Nesterov: w += μ v − lr_t g).
TEST(OptimTest, SgdMatchesKerasUpdateRule) {
  for (bool nesterov : {false, true}) {
    OptimizerSpec spec;
    spec.lr = 0.1, spec.momentum = 0.9, spec.decay = 0.5, spec.nesterov = nesterov;
    auto sgd = make_optimizer(spec);
    OneParam x;
    double w0 = 1.0, v = 0.0;
    for (int t = 0; t < 3; ++t) {
      const double lr = 0.1 / (1 + 0.5 * t), g = 0.5;
      EXPECT_NEAR(sgd->current_lr(), lr, 1e-12);
      sgd->step(x.ps);
      v = 0.9 * v - lr * g;
      w0 += nesterov ? 0.9 * v - lr * g : v;
      EXPECT_NEAR(x.p.value[0], w0, 1e-6) << "step " << t << " nesterov " << nesterov;
    }
    EXPECT_EQ(sgd->iterations(), 3);
  }
}

TEST(OptimTest, AdamMatchesKerasUpdateRule) {
  OptimizerSpec spec;
  spec.type = "adam", spec.lr = 0.01, spec.decay = 0.1;
  auto adam = make_optimizer(spec);
  OneParam x;
  double w = -2.0, m = 0, v = 0;
  for (int t = 0; t < 4; ++t) {
    const double g = -1.0, lr = 0.01 / (1 + 0.1 * t);
    const double lr_t = lr * std::sqrt(1 - std::pow(0.999, t + 1)) / (1 - std::pow(0.9, t + 1));
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    w -= lr_t * m / (std::sqrt(v) + 1e-7);
    adam->step(x.ps);
    EXPECT_NEAR(x.p.value[1], w, 1e-6) << "step " << t;
  }
}

TEST(OptimTest, AdadeltaMatchesKerasUpdateRule) {
  OptimizerSpec spec;
  spec.type = "adadelta", spec.lr = 1.0;
  auto ada = make_optimizer(spec);
  OneParam x;
  double w = 1.0, a = 0, d = 0;
  for (int t = 0; t < 4; ++t) {
    const double g = 0.5;
    a = 0.95 * a + 0.05 * g * g;
    const double u = g * std::sqrt(d + 1e-7) / std::sqrt(a + 1e-7);
    w -= u;
    d = 0.95 * d + 0.05 * u * u;
    ada->step(x.ps);
    EXPECT_NEAR(x.p.value[0], w, 1e-6) << "step " << t;
  }
}

TEST(OptimTest, NoisySgdIsSeededAndAnnealed) {
  OptimizerSpec spec;
  spec.momentum = 0, spec.noise_std = 0.1, spec.noise_anneal = 0.55;
  auto run = [&](uint64_t seed) {
    auto sgd = make_optimizer(spec, seed);
    OneParam x;
    for (int t = 0; t < 5; ++t) sgd->step(x.ps);
    return x.p.value.to_vector();
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
  OptimizerSpec clean = spec;
  clean.noise_std = 0;
  OneParam x;
  auto sgd = make_optimizer(clean);
  for (int t = 0; t < 5; ++t) sgd->step(x.ps);
  // Without noise: w = 1 − 5·0.1·0.5; the noisy run stays within a few σ of it.
  EXPECT_NEAR(x.p.value[0], 0.75f, 1e-6);
  EXPECT_NEAR(run(1)[0], 0.75f, 5 * 0.1 * 0.1 * std::sqrt(5.0));
  EXPECT_NE(run(1)[0], 0.75f);
}

// export_state/import_state carry an optimiser over exactly: 3 steps, export, 4 more in a fresh optimiser
// equal 7 steps in one, for every type (momentum / Adam moments / Adadelta accumulators, the iteration count
// behind Keras decay and Adam's bias correction, and SGD's gradient-noise stream).
TEST(OptimTest, ExportedStateContinuesBitExactly) {
  for (const char* type : {"sgd", "adam", "adadelta"}) {
    OptimizerSpec spec;
    spec.type = type, spec.decay = 0.1, spec.noise_std = std::string(type) == "sgd" ? 0.1 : 0.0;
    OneParam whole, split;
    auto a = make_optimizer(spec, 3);
    for (int t = 0; t < 7; ++t) a->step(whole.ps);
    auto b = make_optimizer(spec, 3);
    for (int t = 0; t < 3; ++t) b->step(split.ps);
    const OptimizerState saved = b->export_state();
    EXPECT_EQ(saved.iterations, 3) << type;
    EXPECT_EQ(static_cast<int>(saved.slots.size()), b->slot_count()) << type;
    auto c = make_optimizer(spec, 99);  // another seed: the noise stream must come from the state
    c->import_state(saved, split.ps, "test");
    EXPECT_EQ(c->current_lr(), b->current_lr()) << type;
    for (int t = 0; t < 4; ++t) c->step(split.ps);
    EXPECT_EQ(split.p.value.to_vector(), whole.p.value.to_vector()) << type;
  }
  // Shapes and types are checked.
  OptimizerSpec spec;
  auto sgd = make_optimizer(spec);
  OneParam x;
  sgd->step(x.ps);
  OptimizerState s = sgd->export_state();
  Parameter other{"w", Tensor::zeros({3}), Tensor::zeros({3})};
  std::vector<Parameter*> ps{&other};
  EXPECT_THROW(make_optimizer(spec)->import_state(s, ps, "test"), Error);
  OptimizerSpec adam;
  adam.type = "adam";
  EXPECT_THROW(make_optimizer(adam)->import_state(s, x.ps, "test"), Error);
}

TEST(OptimTest, OptimizerKeysAreCheckedPerType) {
  const auto dir = std::filesystem::temp_directory_path() / "spikeforge_optim_test";
  std::filesystem::create_directories(dir);
  const std::string f = (dir / "o.yaml").string();
  std::ofstream(f) << "name: o\n";
  const Experiment adam = load_experiment(f, {"train.optimizer.type=adam"});
  EXPECT_DOUBLE_EQ(adam.train.optimizer.lr, 0.001);  // Keras default for Adam
  EXPECT_DOUBLE_EQ(load_experiment(f, {"train.optimizer.type=adadelta"}).train.optimizer.lr, 1.0);
  // momentum belongs to SGD only: with Adam it is an unknown key, not silently ignored.
  EXPECT_THROW(load_experiment(f, {"train.optimizer.type=adam", "train.optimizer.momentum=0.5"}), Error);
  EXPECT_THROW(load_experiment(f, {"train.optimizer.type=adam", "train.optimizer.beta2=1"}), Error);
  EXPECT_THROW(load_experiment(f, {"train.optimizer.type=rmsprop"}), Error);
  EXPECT_THROW(load_experiment(f, {"train.l2=-1"}), Error);
  const Experiment e =
      load_experiment(f, {"train.optimizer.type=adadelta", "train.optimizer.rho=0.9", "train.l2=0.01"});
  EXPECT_DOUBLE_EQ(e.train.optimizer.rho, 0.9);
  EXPECT_DOUBLE_EQ(e.train.l2, 0.01);
}

// The regularised loss (Keras: loss + l1·Σ|w| + l2·Σw² over weights) through the trainer's evaluation,
// and its gradient through one SGD step.
TEST(OptimTest, WeightPenaltiesAddToLossAndGradient) {
  const Dataset d = noise_images(8, 4);
  TrainSpec spec;
  spec.eval_batch = 8;
  spec.l1 = 0.003, spec.l2 = 0.02;
  Model m = build_model(ModelSpec{}, 7);
  Trainer t(m, spec, Device::cpu, 7);
  TrainSpec plain = spec;
  plain.l1 = plain.l2 = 0;
  Trainer t0(m, plain, Device::cpu, 7);
  double penalty = 0;
  for (const auto& l : m.layers())
    for (const auto& p : l.params)
      if (p.name == "weight")
        for (float w : p.value.to_vector()) penalty += 0.003 * std::fabs(w) + 0.02 * double(w) * w;
  EXPECT_NEAR(t.evaluate(d).loss, t0.evaluate(d).loss + penalty, 1e-5);
  EXPECT_THROW(Trainer(m, spec, Device::cpu, 7).evaluate(Dataset{}), Error);

  // One plain-SGD step from the same weights with and without penalties: the weights differ by exactly
  // −lr·(l1·sign(w) + 2·l2·w); biases are not regularised.
  auto step = [&](double l1, double l2) {
    Model mm = build_model(ModelSpec{}, 7);
    TrainSpec s = spec;
    s.epochs = 1, s.batch = 8, s.shuffle = false, s.l1 = l1, s.l2 = l2;
    s.optimizer.momentum = 0, s.optimizer.lr = 0.1;
    Trainer tr(mm, s, Device::cpu, 7);
    tr.fit(d, nullptr);
    return mm;
  };
  const Model with = step(0.003, 0.02), without = step(0, 0);
  const Tensor& w0 = m.find("conv2")->params[0].value;
  const Tensor& w1 = with.find("conv2")->params[0].value;
  const Tensor& w2 = without.find("conv2")->params[0].value;
  for (int64_t i = 0; i < w0.numel(); i += 37) {
    const double g = 0.003 * ((w0[i] > 0) - (w0[i] < 0)) + 2 * 0.02 * w0[i];
    EXPECT_NEAR(w1[i] - w2[i], -0.1 * g, 1e-6) << i;
  }
  EXPECT_EQ(with.find("dense")->params[1].value.to_vector(), without.find("dense")->params[1].value.to_vector());
}

// Liu's recipe options: per-layer rates, step decay, weight clipping, no biases, activation after pooling.
TEST(OptimTest, LiuRecipeOptions) {
  const Dataset d = noise_images(20, 5);

  ModelSpec ms;
  ms.dense_bias = false, ms.pool_activation = true;
  Model m = build_model(ms, 3);
  EXPECT_EQ(m.parameter_count(), 3870);
  EXPECT_NE(m.find("pool1_act"), nullptr);
  EXPECT_EQ(m.find("pool2_act")->type, "relu");

  TrainSpec spec;
  spec.epochs = 4, spec.batch = 10, spec.clip_conv_weights = 0.05;
  spec.schedule.factor = 0.5, spec.schedule.every = 2;
  spec.lr_multipliers = {{"conv2", 10.0}, {"dense", 0.0}};
  const std::vector<float> dense_before = m.find("dense")->params[0].value.to_vector();
  Trainer t(m, spec, Device::cpu, 3);
  t.fit(d, nullptr);
  for (const char* conv : {"conv1", "conv2"})
    for (float w : m.find(conv)->params[0].value.to_vector()) EXPECT_LE(std::fabs(w), 0.05f) << conv;
  EXPECT_EQ(m.find("dense")->params[0].value.to_vector(), dense_before) << "multiplier 0 freezes the layer";
  // Epochs 3–4 run at lr · 0.5 (factor^⌊(epoch−1)/2⌋).
  EXPECT_NEAR(t.optimizer().current_lr(), 0.1 * 0.5, 1e-12);

  spec.lr_multipliers = {{"conv3", 2.0}};
  try {
    Trainer bad(m, spec, Device::cpu, 3);
    FAIL() << "expected an unknown-layer error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("conv1, conv2, dense"), std::string::npos) << e.what();
  }
}

TEST(ScheduleTest, WarmupThenStepOrCosine) {
  ScheduleSpec s;
  s.warmup_epochs = 1;  // 4 steps of warmup at 4 steps per epoch
  EXPECT_DOUBLE_EQ(schedule_factor(s, 0, 0, 4, 10), 0.25);
  EXPECT_DOUBLE_EQ(schedule_factor(s, 0, 3, 4, 10), 1.0);
  s.factor = 0.5, s.every = 3;
  EXPECT_DOUBLE_EQ(schedule_factor(s, 2, 1, 4, 10), 1.0);
  EXPECT_DOUBLE_EQ(schedule_factor(s, 3, 0, 4, 10), 0.5);
  EXPECT_DOUBLE_EQ(schedule_factor(s, 9, 3, 4, 10), 0.125);
  s.type = ScheduleType::cosine, s.min_factor = 0.1;
  // After the warmup, t runs over the remaining 36 steps: half way (t = 18) is the midpoint of [0.1, 1].
  EXPECT_DOUBLE_EQ(schedule_factor(s, 1, 0, 4, 10), 1.0);
  EXPECT_NEAR(schedule_factor(s, 5, 2, 4, 10), 0.55, 1e-12);
  EXPECT_NEAR(schedule_factor(s, 9, 3, 4, 10), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 35 / 36)), 1e-12);
  s.warmup_epochs = 0;
  EXPECT_DOUBLE_EQ(schedule_factor(s, 0, 0, 4, 10), 1.0) << "no warmup: the first step runs at the full rate";
}

TEST(ScheduleTest, CosineAndSmoothingKeysParseAndRoundTrip) {
  const auto dir = std::filesystem::temp_directory_path() / "spikeforge_schedule_test";
  std::filesystem::create_directories(dir);
  const std::string f = (dir / "cos.yaml").string();
  std::ofstream(f) << "name: cos\ntrain:\n  epochs: 4\n  schedule: cosine\n  warmup_epochs: 0.5\n"
                      "  label_smoothing: 0.1\n";
  const Experiment e = load_experiment(f);
  EXPECT_EQ(e.train.schedule.type, ScheduleType::cosine);
  EXPECT_DOUBLE_EQ(e.train.schedule.warmup_epochs, 0.5);
  EXPECT_DOUBLE_EQ(e.train.label_smoothing, 0.1);
  EXPECT_THROW(load_experiment(f, {"train.schedule=linear"}), Error);
  EXPECT_THROW(load_experiment(f, {"train.warmup_epochs=5"}), Error) << "more warmup than epochs";
  EXPECT_THROW(load_experiment(f, {"train.label_smoothing=1"}), Error);
  const std::string resolved = (dir / "cos_resolved.yaml").string();
  std::ofstream(resolved) << to_yaml(e);
  const Experiment again = load_experiment(resolved);
  EXPECT_EQ(again.train.schedule.type, ScheduleType::cosine);
  EXPECT_DOUBLE_EQ(again.train.label_smoothing, 0.1);
}

TEST(OptimTest, LiuRecipeKeysAreValidated) {
  const auto dir = std::filesystem::temp_directory_path() / "spikeforge_optim_test";
  std::filesystem::create_directories(dir);
  const std::string f = (dir / "liu.yaml").string();
  std::ofstream(f) << "name: liu\ntrain:\n  lr_multipliers: {conv1: 0.5}\n  step_decay: {factor: 0.9, every: 2}\n";
  try {
    load_experiment(f, {"train.lr_multipliers.nope=2"});
    ADD_FAILURE() << "an unknown layer must be rejected when the file is read";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("train.lr_multipliers.nope"), std::string::npos) << err.what();
  }
  const Experiment e = load_experiment(f);
  EXPECT_DOUBLE_EQ(e.train.lr_multipliers.at("conv1"), 0.5);
  EXPECT_EQ(e.train.schedule.every, 2);
  EXPECT_THROW(load_experiment(f, {"train.step_decay.factor=1.5"}), Error);
  EXPECT_THROW(load_experiment(f, {"train.step_decay.every=0"}), Error);
  EXPECT_THROW(load_experiment(f, {"train.lr_multipliers.conv1=-1"}), Error);
  EXPECT_THROW(load_experiment(f, {"train.clip_conv_weights=-0.2"}), Error);
  const Experiment again = load_experiment(f, {"model.pool_activation=true", "model.dense_bias=false"});
  EXPECT_TRUE(again.model.pool_activation);
  // The resolved config round-trips the new keys.
  const std::string resolved = (dir / "liu_resolved.yaml").string();
  std::ofstream(resolved) << to_yaml(again);
  EXPECT_EQ(to_yaml(load_experiment(resolved)), to_yaml(again));
}

}  // namespace
}  // namespace sf
