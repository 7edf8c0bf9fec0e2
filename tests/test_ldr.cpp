#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "models/zoo.h"
#include "ops/log_quantize.h"
#include "ops/registry.h"
#include "train/run.h"
#include "train/trainer.h"

namespace sf {
namespace {

// Ops called directly (outside a graph) run in eval mode on the CPU.
const sf::ExecContext kCtx;

// q(x) = 0 if x = 0 else sign(x)·2^Clip(round(log2|x|), FSR − 2^bits, FSR), Clip as in the paper:
// exponents ≤ FSR − 2^bits give 0, ≥ FSR give FSR − 1.
TEST(LdrTest, QuantiserEdgeCases) {
  const LogQuantizer q3(3, 0);  // zero and exponents −7 … −1: 2^3 codes
  EXPECT_EQ(q3(0.0f), 0.0f);
  EXPECT_EQ(q3(0.3f), 0.25f);    // log2 0.3 = −1.74 → −2
  EXPECT_EQ(q3(-0.3f), -0.25f);  // sign kept
  EXPECT_EQ(q3(0.36f), 0.5f);    // log2 0.36 = −1.47 → −1
  EXPECT_EQ(q3(5.0f), 0.5f);     // beyond FSR saturates at 2^(FSR − 1)
  EXPECT_EQ(q3(-1e9f), -0.5f);
  EXPECT_EQ(q3(0.009f), std::ldexp(1.0f, -7));  // log2 = −6.8 → −7, the smallest level
  EXPECT_EQ(q3(0.005f), 0.0f);                  // log2 = −7.6 → −8 ≤ FSR − 2^bits: underflows to zero
  EXPECT_EQ(q3(1e-6f), 0.0f);
  EXPECT_TRUE(std::signbit(q3(-1e-6f))) << "the sign of an underflow is kept";
  EXPECT_TRUE(std::isnan(q3(NAN)));
  EXPECT_EQ(q3(INFINITY), INFINITY) << "divergence must stay visible";
  const LogQuantizer q1(1, 2);  // bits = 1: zero and the single exponent 1
  EXPECT_EQ(q1(0.01f), 0.0f);
  EXPECT_EQ(q1(1.0f), 0.0f);  // exponent 0 = FSR − 2^1 → zero
  EXPECT_EQ(q1(3.0f), 2.0f);
  EXPECT_EQ(q1(100.0f), 2.0f);
  EXPECT_EQ(q1(-2.0f), -2.0f);
  for (float x : {0.7f, 1.9f, 0.02f, 0.006f}) EXPECT_EQ(q3(q3(x)), q3(x)) << "idempotent at " << x;
  // Exactly 2^bits distinct magnitudes (zero included) over a wide sweep.
  for (int bits : {1, 3, 5}) {
    const LogQuantizer q(bits, 2);
    std::set<float> levels;
    for (double x = 1e-12; x < 1e6; x *= 1.1) levels.insert(q(static_cast<float>(x)));
    EXPECT_EQ(levels.size(), size_t{1} << bits) << bits << " bits";
  }
}

TEST(LdrTest, OpForwardQuantisesBackwardIsStraightThrough) {
  auto op = make_op("log_quantize", {{"bits", 4}, {"fsr", 1}});
  std::vector<Shape> shapes{{2, 3}};
  ASSERT_EQ(op->prepare(shapes), (Shape{2, 3}));
  const Tensor x = Tensor::from({2, 3}, {0.0f, 0.3f, -3.0f, 7.0f, 1e-9f, -0.06f});
  Tensor y({2, 3}), dy = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}), dx({2, 3});
  const Tensor* in[1] = {&x};
  Tensor* gin[1] = {&dx};
  op->forward(kCtx, in, y);
  const LogQuantizer q(4, 1);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], q(x[i]));
  op->backward(kCtx, in, y, dy, gin);
  EXPECT_EQ(dx.to_vector(), dy.to_vector());
  EXPECT_THROW(make_op("log_quantize", {{"bits", 0}, {"fsr", 0}}), Error);
  EXPECT_THROW(make_op("log_quantize", {{"bits", 3}}), Error) << "fsr is required";
}

TEST(LdrTest, ModelQuantisesWeightsAndActivationsAndTrains) {
  ModelSpec spec;
  spec.weight_quant = {4, 0};
  spec.act_quant = {4, 3};
  Model m = build_model(spec, 2);
  ASSERT_NE(m.find("act1_q"), nullptr);
  EXPECT_EQ(m.find("act2_q")->type, "log_quantize");
  EXPECT_EQ(m.parameter_count(), 3880) << "quantisers add no parameters";

  // The graph's conv1 sees quantised weights: compare with a float model whose weights were quantised.
  Graph g;
  const NodeId x = g.input("x", {2, 1, 28, 28});
  Rng rng(3);
  for (int64_t i = 0; i < g.value(x).numel(); ++i) g.value(x)[i] = static_cast<float>(rng.uniform());
  m.build(g, x, false);
  g.forward();
  ModelSpec plain;
  plain.act_quant = spec.act_quant;
  Model f = build_model(plain, 2);
  const LogQuantizer q(4, 0);
  for (auto& l : f.layers())
    for (auto& p : l.params)
      if (p.name == "weight")
        for (int64_t i = 0; i < p.value.numel(); ++i) p.value[i] = q(p.value[i]);
  Graph g2;
  const NodeId x2 = g2.input("x", {2, 1, 28, 28});
  g2.value(x2).copy_from(g.value(x));
  const NodeId out2 = f.build(g2, x2, false);
  g2.forward();
  EXPECT_EQ(g.value(g.size() - 1).to_vector(), g2.value(out2).to_vector());
}

// The checkpoint's architecture text rebuilds LDR and Liu-recipe models, and carries the penalties the
// reported loss includes, so `spikeforge evaluate` reproduces the run's numbers.
TEST(LdrTest, CheckpointRebuildsQuantisedModel) {
  const auto dir = std::filesystem::temp_directory_path() / "spikeforge_ldr_test";
  std::filesystem::create_directories(dir);
  const std::string f = (dir / "ck.yaml").string();
  std::ofstream(f) << "name: ck\nmodel:\n  dense_bias: false\n  pool_activation: true\n  ldr:\n"
                      "    weights: {bits: 3, fsr: 0}\n    activations: {bits: 4, fsr: 3}\ntrain: {l2: 0.01}\n";
  const Experiment e = load_experiment(f);
  Model m = build_model(e.model, 5);
  const std::string path = (dir / "ck.sfm").string();
  save_checkpoint(path, {checkpoint_architecture(e), m.state()});
  const LoadedModel back = load_model(path);
  EXPECT_EQ(to_yaml(back.spec), to_yaml(e.model));
  EXPECT_DOUBLE_EQ(back.l2, 0.01);
  EXPECT_EQ(back.model.summary(), m.summary());
  EXPECT_EQ(back.model.find("conv1")->attrs, m.find("conv1")->attrs);
}

TEST(LdrTest, ConfigRejectsBadSettings) {
  const auto dir = std::filesystem::temp_directory_path() / "spikeforge_ldr_test";
  std::filesystem::create_directories(dir);
  const std::string f = (dir / "ldr.yaml").string();
  std::ofstream(f) << "name: ldr\nmodel:\n  ldr:\n    weights: {bits: 4, fsr: 0}\n";
  const Experiment e = load_experiment(f);
  EXPECT_EQ(e.model.weight_quant.bits, 4);
  EXPECT_FALSE(e.model.act_quant.enabled());
  auto message = [&](std::vector<std::string> sets) {
    try {
      load_experiment(f, sets);
    } catch (const Error& err) {
      return std::string(err.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({"model.ldr.weights.bits=0"}).find("model.ldr.weights.bits"), std::string::npos);
  EXPECT_NE(message({"model.ldr.activations.bits=3"}).find("model.ldr.activations.fsr"), std::string::npos)
      << "FSR absent with LDR on";
  EXPECT_NE(message({"model.ldr.weights.fsr=1.5"}).find("integer"), std::string::npos);
}

}  // namespace
}  // namespace sf
