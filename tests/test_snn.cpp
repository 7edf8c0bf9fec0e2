// The SNN conversion path: neuron models against their closed-form responses, encoders, each normaliser on a
// hand-computed two-layer net, BN folding, the event and dense kernels against each other, and bad input.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "backends/conversion_run.h"
#include "backends/cpu/encoder.h"
#include "backends/cpu/neurons.h"
#include "backends/cpu/simulator.h"
#include "backends/snn/converter.h"
#include "core/error.h"
#include "datasets/channel_affine.h"
#include "models/zoo.h"
#include "tests/snn_data.h"
#include "tests/support.h"

namespace sf {
namespace {

using snn::NeuronModel;

// One population of `n` neurons driven by a constant per-neuron bias for `steps` steps; spike steps (1-based)
// of neuron 0.
std::vector<int> spike_steps(const snn::Network& net, float bias, int steps, int n = 1) {
  const cpu::NeuronConstants k(net, net.layers.at(0));
  cpu::Population p;
  p.reset(n, k);
  std::vector<float> b(n, bias);
  std::vector<int> out;
  for (int t = 1; t <= steps; ++t) {
    cpu::step_population(p, k, b.data());
    for (int32_t j : p.spikes)
      if (j == 0) out.push_back(t);
  }
  return out;
}

snn::Network one_layer(NeuronModel m, double threshold = 1.0) {
  snn::Network net;
  net.neuron = m;
  snn::Layer l;
  l.threshold = threshold;
  net.layers.push_back(l);
  return net;
}

TEST(SnnNeuronTest, IfResetToZeroFiresEveryCeilThetaOverInputSteps) {
  // v_n = n·c; a spike when v ≥ θ, then v = 0: period ⌈θ/c⌉ (the surplus is lost).
  const auto s = spike_steps(one_layer(NeuronModel::if_reset_zero, 1.0), 0.3f, 100);
  ASSERT_EQ(s.size(), 25u);  // period ⌈1/0.3⌉ = 4
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i], 4 * static_cast<int>(i + 1));
}

TEST(SnnNeuronTest, IfSubtractRateIsInputOverThreshold) {
  // Reset by subtraction keeps the surplus: exactly floor(T·c/θ) spikes when c/θ is exact in binary...
  const auto exact = spike_steps(one_layer(NeuronModel::if_subtract, 1.5), 0.375f, 100);
  ASSERT_EQ(exact.size(), 25u);
  for (size_t i = 0; i < exact.size(); ++i) EXPECT_EQ(exact[i], 4 * static_cast<int>(i + 1));
  // ...and within one spike of T·c/θ otherwise (the k-th spike at ⌈k·θ/c⌉, up to float rounding).
  const auto s = spike_steps(one_layer(NeuronModel::if_subtract, 1.0), 0.3f, 1000);
  EXPECT_NEAR(static_cast<double>(s.size()), 300.0, 1.0);
  EXPECT_EQ(s.at(0), 4);
  EXPECT_EQ(s.at(1), 7);  // v: 0.2 after the first spike, 1.1 at step 7
  EXPECT_EQ(s.at(2), 10);
}

TEST(SnnNeuronTest, IfSignedNetCountIsTheRoundedInputSumInAnyOrder) {
  // Input plus bias in (−θ, θ) per step, as multiples of 1/64 (sums exact in float), from v(0) = θ/2: the net
  // count after every step is max(0, floor(1/2 + Σ input)), whatever order the input came in. Reset by
  // subtraction alone cannot take a spike back: its count exceeds that wherever a neuron fired early on input
  // that later fell. 259 neurons: the vector loops and the scalar tail.
  snn::Network net = one_layer(NeuronModel::if_signed, 1.0);
  net.v_init = 0.5;
  constexpr int n = 259, steps = 64;
  std::mt19937 gen(3);
  std::uniform_int_distribution<int> step_input(-62, 62);
  std::vector<std::vector<float>> input(steps, std::vector<float>(n));
  for (auto& row : input)
    for (float& x : row) x = static_cast<float>(step_input(gen)) / 64.0f;
  std::vector<float> bias(n);
  for (int j = 0; j < n; ++j) bias[j] = static_cast<float>(j % 3 - 1) / 64.0f;
  auto run = [&](NeuronModel m, auto&& check) {
    net.neuron = m;
    const cpu::NeuronConstants k(net, net.layers[0]);
    cpu::Population p;
    p.reset(n, k);
    std::vector<double> sum(n, 0.0);
    int64_t negative = 0;
    for (int t = 0; t < steps; ++t) {
      for (int j = 0; j < n; ++j) p.in[j] = input[t][j], sum[j] += input[t][j] + bias[j];
      cpu::step_population(p, k, bias.data());
      negative += static_cast<int64_t>(p.negative.size());
      for (int j = 0; j < n; ++j) check(p.counts[j], std::max(0.0, std::floor(0.5 + sum[j])), t, j);
    }
    EXPECT_EQ(p.negative_total, negative);
    return negative;
  };
  EXPECT_GT(run(NeuronModel::if_signed, [](int count, double want, int t,
                                           int j) { ASSERT_EQ(count, want) << "neuron " << j << " step " << t; }),
            0);
  int over = 0;
  EXPECT_EQ(run(NeuronModel::if_subtract,
                [&](int count, double want, int t, int) {
                  EXPECT_GE(count, want);
                  over += t == steps - 1 && count > want;
                }),
            0);
  EXPECT_GT(over, n / 4);
}

TEST(SnnNeuronTest, LifConstantCurrentMatchesClosedForm) {
  // From rest, a constant current I gives v_n − v_rest = I·R·(1 − e^(−n·h/τm)), R = τm/cm; the first spike is
  // at n* = ⌈−τm/h · ln(1 − Δ/(I·R))⌉ with Δ = v_thresh − v_rest, and after each spike the neuron is held for
  // τ_ref/h steps and climbs again: spikes at n* + k·(n* + ref).
  snn::Network net = one_layer(NeuronModel::lif);
  net.lif.i_offset = 0.0;
  const snn::LifParams& p = net.lif;
  for (double I : {0.2, 0.3, 0.5, 1.0}) {
    const double R = p.tau_m / p.cm, delta = p.v_thresh - p.v_rest;
    const int first = static_cast<int>(std::ceil(-p.tau_m / net.dt_ms * std::log(1.0 - delta / (I * R))));
    const int ref = static_cast<int>(std::lround(p.tau_refrac / net.dt_ms));
    const auto s = spike_steps(net, static_cast<float>(I), 1000);
    ASSERT_FALSE(s.empty()) << I;
    for (size_t k = 0; k < s.size(); ++k) EXPECT_EQ(s[k], first + static_cast<int>(k) * (first + ref)) << I << " " << k;
    // Rate within one step's discretisation of the continuous formula 1 / (τ_ref + τm·ln(IR / (IR − Δ))).
    const double isi = p.tau_refrac + p.tau_m * std::log(I * R / (I * R - delta));
    const double rate = static_cast<double>(s.size()) / 1.0;  // spikes per second over 1000 ms
    EXPECT_NEAR(rate, 1000.0 / isi, 1000.0 / isi - 1000.0 / (isi + net.dt_ms) + 1.0) << I;
  }
  // Below rheobase (I·R < Δ) it never fires.
  EXPECT_TRUE(spike_steps(net, 0.18f, 1000).empty());
}

TEST(SnnNeuronTest, LifPostsynapticPotentialMatchesExactSolution) {
  // A weight w (nA) into i_syn at step 0 decays with τs; the membrane follows
  // v(t) − v_rest = w·τm·τs / (cm·(τs − τm)) · (e^(−t/τs) − e^(−t/τm)), t counted from the step after arrival.
  snn::Network net = one_layer(NeuronModel::lif);
  net.lif.i_offset = 0.0;
  const snn::LifParams& p = net.lif;
  const cpu::NeuronConstants k(net, net.layers[0]);
  cpu::Population pop;
  pop.reset(1, k);
  const float w = 0.5f;
  pop.in[0] = w;
  cpu::step_population(pop, k, nullptr);  // v unchanged, i_syn = w
  EXPECT_FLOAT_EQ(pop.v[0], static_cast<float>(p.v_rest));
  for (int t = 1; t <= 60; ++t) {
    cpu::step_population(pop, k, nullptr);
    const double expect =
        w * p.tau_m * p.tau_syn / (p.cm * (p.tau_syn - p.tau_m)) * (std::exp(-t / p.tau_syn) - std::exp(-t / p.tau_m));
    EXPECT_NEAR(pop.v[0] - p.v_rest, expect, 1e-4 + 1e-4 * std::fabs(expect)) << t;
  }
}

TEST(SnnEncoderTest, PoissonRateRegularTrainAndSeeding) {
  const std::vector<float> px = {0.0f, 0.5f, 1.0f};
  const int steps = 20000;
  auto count = [&](const cpu::InputTrains& tr, int32_t pixel) {
    int c = 0;
    for (int t = 0; t < steps; ++t)
      for (int32_t p : tr.at(t)) c += p == pixel;
    return c;
  };
  snn::Encoder enc;  // Poisson, 200 Hz: p = pixel · 0.2 per 1 ms step
  cpu::InputTrains a, b;
  Rng r1(7), r2(7);
  a.generate(px.data(), 3, enc, 1.0, steps, r1);
  b.generate(px.data(), 3, enc, 1.0, steps, r2);
  EXPECT_EQ(count(a, 0), 0);
  // Binomial(20000, 0.1): mean 2000, sd 42; Binomial(20000, 0.2): mean 4000, sd 57. 4 sd bounds.
  EXPECT_NEAR(count(a, 1), 2000, 170);
  EXPECT_NEAR(count(a, 2), 4000, 230);
  for (int t = 0; t < steps; ++t) {  // same seed → same trains; at most one spike per pixel and step
    ASSERT_EQ(std::vector<int32_t>(a.at(t).begin(), a.at(t).end()),
              std::vector<int32_t>(b.at(t).begin(), b.at(t).end()));
    ASSERT_LE(a.at(t).size(), 2u);
  }
  enc.kind = snn::InputEncoding::regular;
  cpu::InputTrains reg;
  reg.generate(px.data(), 3, enc, 1.0, 100, r1);
  std::vector<int> steps_of_1;
  for (int t = 0; t < 100; ++t)
    for (int32_t p : reg.at(t))
      if (p == 1) steps_of_1.push_back(t);
  ASSERT_EQ(steps_of_1.size(), 10u);  // p = 0.1: the k-th spike when (s + 1)·0.1 ≥ k, i.e. s = 10k − 1
  for (size_t k = 0; k < steps_of_1.size(); ++k) EXPECT_EQ(steps_of_1[k], 10 * static_cast<int>(k + 1) - 1);
}

// ---- normalisers on a hand-computed two-layer net -----------------------------------------------------------
// x (2 pixels) → dense1 W1 = [[1, 1], [1, −1]] → ReLU → dense2 W2 = [[0.5, 2]], b2 = 0.1.
// Data x_a = (1, 1), x_b = (1, 0), x_c = (0.2, 0.6):
//   h = ReLU(W1 x) = (2, 0), (1, 1), (0.8, 0)        max 2, positive values {2, 1, 1, 0.8}
//   y = W2 h + b2 = 1.1, 2.6, 0.5                     max 2.6
Model two_layer_net(const std::string& activation = "relu", Attrs act_attrs = {}) {
  Model m({1, 1, 2});
  m.add("flatten", "flatten");
  m.add("dense1", "dense", {}, {{"weight", {2, 2}}});
  m.add("act1", activation, std::move(act_attrs));
  m.add("dense2", "dense", {}, {{"weight", {1, 2}}, {"bias", {1}}});
  auto params = m.parameters();
  params[0]->value = Tensor::from({2, 2}, {1, 1, 1, -1});
  params[1]->value = Tensor::from({1, 2}, {0.5f, 2.0f});
  params[2]->value = Tensor::from({1}, {0.1f});
  return m;
}

Dataset two_layer_data() {
  Dataset d;
  d.name = "hand";
  d.images = Tensor::from({3, 1, 1, 2}, {1, 1, 1, 0, 0.2f, 0.6f});
  d.labels = {0, 0, 0};
  d.num_classes = 1;
  return d;
}

snn::ConvertOptions analog_if() {
  snn::ConvertOptions o;
  o.input.kind = snn::InputEncoding::current;  // IF + current input: the bias keeps its per-step value
  return o;
}

void expect_weights(const snn::Network& net, std::vector<float> w1, std::vector<float> w2, float b2) {
  ASSERT_EQ(net.layers.size(), 2u);
  EXPECT_EQ(net.layers[0].weight.to_vector(), w1);
  for (int i = 0; i < 2; ++i) EXPECT_FLOAT_EQ(net.layers[1].weight[i], w2[i]) << i;
  EXPECT_FLOAT_EQ(net.layers[1].bias[0], b2);
  EXPECT_EQ(net.layers[0].threshold, 1.0);
  EXPECT_EQ(net.layers[1].threshold, 1.0);
}

TEST(SnnConvertTest, DataNormIsDiehlMaxOfActivationAndWeight) {
  auto o = analog_if();
  const auto c = snn::convert(two_layer_net(), two_layer_data(), o);
  // λ1 = max(2, max w 1) = 2, λ2 = max(2.6, 2) = 2.6; w_l · λ_(l−1)/λ_l, b_l / λ_l.
  ASSERT_EQ(c.scales.size(), 2u);
  EXPECT_DOUBLE_EQ(c.scales[0].lambda, 2.0);
  EXPECT_NEAR(c.scales[1].lambda, 2.6, 1e-6);
  expect_weights(c.net, {0.5f, 0.5f, 0.5f, -0.5f}, {0.5f * 2 / 2.6f, 2.0f * 2 / 2.6f}, 0.1f / 2.6f);
  // When the largest weight exceeds every activation it sets λ (Diehl's model-based part): inputs × 0.1 give
  // h ≤ 0.2 < max w1 = 1, so λ1 = 1.
  Dataset small = two_layer_data();
  for (int64_t i = 0; i < small.images.numel(); ++i) small.images[i] *= 0.1f;
  const auto c2 = snn::convert(two_layer_net(), small, o);
  EXPECT_DOUBLE_EQ(c2.scales[0].lambda, 1.0);
  EXPECT_NEAR(c2.scales[0].max_activation, 0.2, 1e-6);
}

TEST(SnnConvertTest, ChannelNormGivesEachHiddenChannelItsOwnLambda) {
  // Robust at percentile 100 = each channel's largest activation: dense1's neurons peak at 2 and 1, so λ = (2, 1)
  // and row o of W1 is divided by λ_o; the readout keeps one λ (2.6) and reads input c at λ_c / 2.6.
  auto o = analog_if();
  o.norm = snn::Norm::robust;
  o.percentile = 100;
  o.channel_norm = true;
  const auto c = snn::convert(two_layer_net(), two_layer_data(), o);
  EXPECT_EQ(c.scales[0].channel_lambda, (std::vector<double>{2.0, 1.0}));
  EXPECT_TRUE(c.scales[1].channel_lambda.empty());
  EXPECT_NEAR(c.scales[1].lambda, 2.6, 1e-6);
  EXPECT_EQ(c.net.layers[0].weight.to_vector(), (std::vector<float>{0.5f, 0.5f, 1.0f, -1.0f}));
  EXPECT_FLOAT_EQ(c.net.layers[1].weight[0], 0.5f * 2 / 2.6f);
  EXPECT_FLOAT_EQ(c.net.layers[1].weight[1], 2.0f * 1 / 2.6f);
  EXPECT_FLOAT_EQ(c.net.layers[1].bias[0], 0.1f / 2.6f);
  // Another normalisation keeps one λ per layer, and says so.
  o.norm = snn::Norm::none;
  const auto none = snn::convert(two_layer_net(), two_layer_data(), o);
  EXPECT_TRUE(std::any_of(none.notes.begin(), none.notes.end(), [](const std::string& n) {
    return n.find("--channel-norm applies to data and robust normalisation, not --norm none") != std::string::npos;
  }));
}

// ---- the input normalisation folded into the first layer --------------------------------------------------
// The model reads (x − mean)/std per channel; the SNN reads x. Its first layer's input, W'·x + b', must be the
// ANN's pre-activation on the normalised image, border neurons of a padded convolution included.

Model first_layer_net(const std::string& kind) {
  Model m({2, 5, 5});
  if (kind == "dense") {
    m.add("flatten", "flatten");
    m.add("dense1", "dense", {}, {{"weight", {3, 50}}, {"bias", {3}}});
  } else {
    const bool dw = kind == "depthwise";
    const int64_t out = dw ? 2 : 3;
    m.add("conv", "conv2d", {{"stride", int64_t{dw ? 2 : 1}}, {"pad", int64_t{1}}, {"groups", int64_t{dw ? 2 : 1}}},
          {{"weight", {out, dw ? 1 : 2, 3, 3}}});
    m.add("conv_bn", "batchnorm", {{"eps", 1e-3}}, {{"gamma", {out}}, {"beta", {out}}});
    m.add_buffer("conv_bn", "running_mean", Tensor::zeros({out}));
    m.add_buffer("conv_bn", "running_var", Tensor::full({out}, 1.0f));
    m.add("flatten", "flatten");
  }
  m.add("act", "relu");
  m.add("readout", "dense", {}, {{"weight", {2, numel(m.output_shape())}}});
  Rng rng(11);
  for (Parameter* p : m.parameters())
    for (int64_t i = 0; i < p->value.numel(); ++i) p->value[i] = static_cast<float>(rng.uniform() * 2 - 1);
  for (Buffer* b : m.buffers()) b->value[0] = b->name == "running_var" ? 2.5f : 0.4f;
  return m;
}

TEST(SnnConvertTest, InputNormalisationFoldsExactlyIntoTheFirstLayer) {
  TransformSpec norm;
  norm.type = TransformType::normalize;
  norm.mean = {0.3, -0.2};
  norm.std = {0.5, 2.0};
  TransformSpec flip;
  flip.type = TransformType::hflip;
  const SplitTransforms split = split_channel_affine({norm, flip}, 2);
  ASSERT_EQ(split.pixels.size(), 1u);  // the flip commutes: it moves before the normalisation
  EXPECT_EQ(split.affine.scale, (std::vector<double>{2.0, 0.5}));
  EXPECT_NEAR(split.affine.shift[0], -0.6, 1e-12);
  EXPECT_NEAR(split.affine.shift[1], 0.1, 1e-12);
  Dataset data;
  data.name = "random";
  data.num_classes = 2;
  data.images = Tensor({3, 2, 5, 5});
  Rng rng(5);
  for (int64_t i = 0; i < data.images.numel(); ++i) data.images[i] = static_cast<float>(rng.uniform());
  data.labels = {0, 1, 0};
  for (const std::string kind : {"conv", "depthwise", "dense"}) {
    SCOPED_TRACE(kind);
    const Model m = first_layer_net(kind);
    snn::ConvertOptions o = analog_if();
    o.norm = snn::Norm::none;
    o.input_affine = split.affine;
    const snn::Conversion c = snn::convert(m, data, o);
    const snn::Layer& l = c.net.layers.at(0);
    EXPECT_EQ(l.per_neuron_bias(), kind == "conv" || kind == "depthwise") << "padding makes the border differ";
    const std::vector<float> ann =
        snn::layer_outputs(m, data, 3, {kind == "dense" ? "dense1" : "conv_bn"}, 0, split.affine)[0];
    const int64_t O = l.out_shape[0], OH = l.out_shape[1], OW = l.out_shape[2], per = O * OH * OW;
    ASSERT_EQ(static_cast<int64_t>(ann.size()), 3 * per);
    for (int64_t img = 0; img < 3; ++img)
      for (int64_t n = 0; n < per; ++n) {
        const int64_t o_ = n / (OH * OW), oy = n / OW % OH, ox = n % OW;
        const float* x = data.image(img);
        double u = l.bias_at(o_, oy * OW + ox);
        if (l.kind == snn::LayerKind::dense) {
          for (int64_t i = 0; i < 50; ++i) u += static_cast<double>(l.weight[o_ * 50 + i]) * x[i];
        } else {
          const bool dw = l.kind == snn::LayerKind::depthwise_conv;
          for (int64_t j = 0; j < (dw ? 1 : 2); ++j)
            for (int64_t ky = 0; ky < 3; ++ky)
              for (int64_t kx = 0; kx < 3; ++kx) {
                const int64_t c_ = dw ? o_ : j, iy = oy * l.stride + ky - 1, ix = ox * l.stride + kx - 1;
                if (iy < 0 || iy >= 5 || ix < 0 || ix >= 5) continue;
                u += static_cast<double>(l.weight[((o_ * (dw ? 1 : 2) + j) * 3 + ky) * 3 + kx]) *
                     x[(c_ * 5 + iy) * 5 + ix];
              }
        }
        EXPECT_NEAR(u, ann[static_cast<size_t>(img * per + n)], 1e-5) << "image " << img << " neuron " << n;
      }
    EXPECT_NE(c.notes.front().find("input normalisation folded"), std::string::npos);
  }
}

TEST(SnnConvertTest, InputNormalisationSplitsOnlyWhereItCommutes) {
  TransformSpec norm, pad, repeat, scale;
  norm.type = TransformType::normalize;
  norm.mean = {0.5};
  norm.std = {0.25};
  pad.type = TransformType::pad;
  pad.height = pad.width = 32;
  repeat.type = TransformType::repeat_channels;
  repeat.count = 3;
  scale.type = TransformType::scale;
  scale.low = -1, scale.high = 1;
  // pad, then normalize (the checkpoint's order): all of it commutes; a grey mean repeated with the channel.
  SplitTransforms s = split_channel_affine({pad, norm, repeat, scale}, 3);
  ASSERT_EQ(s.pixels.size(), 2u);
  EXPECT_EQ(s.pixels[1].type, TransformType::repeat_channels);
  EXPECT_EQ(s.affine.steps[0].mean, (std::vector<double>{0.5, 0.5, 0.5}));
  // y = 2·((x − 0.5)/0.25) − 1 = 8x − 5.
  EXPECT_EQ(s.affine.scale, (std::vector<double>{8, 8, 8}));
  EXPECT_EQ(s.affine.shift, (std::vector<double>{-5, -5, -5}));
  std::vector<float> px = {0.0f, 0.5f, 1.0f};
  s.affine.apply(px.data(), 1, {3, 1, 1}, px.data());
  EXPECT_EQ(px, (std::vector<float>{-5, -1, 3}));
  EXPECT_TRUE(split_channel_affine({pad}, 1).affine.identity());
  // Padding after normalising pads with normalised zeros: not a pixel the SNN can encode.
  TransformSpec crop;  // a crop larger than its input pads with zeros too
  crop.type = TransformType::center_crop;
  crop.height = crop.width = 24;
  EXPECT_NE(test::bad_input([&] {
              split_channel_affine({norm, crop}, 1);
            }).find("center_crop: comes after normalize"),
            std::string::npos);
  EXPECT_EQ(test::bad_input([&] {
              split_channel_affine({norm, pad}, 1);
            }),
            "dataset transforms: pad: comes after normalize, so the spiking network cannot read the pixels and fold "
            "the normalize into its first layer; put normalize last");
}

TEST(SnnConvertTest, RobustNormUsesPercentileOfPositiveActivations) {
  auto o = analog_if();
  o.norm = snn::Norm::robust;
  o.percentile = 50;  // nearest rank: layer 1 (0.8, 1, 1, 2) → 1; layer 2 (0.5, 1.1, 2.6) → 1.1
  const auto c = snn::convert(two_layer_net(), two_layer_data(), o);
  EXPECT_DOUBLE_EQ(c.scales[0].lambda, 1.0);
  EXPECT_NEAR(c.scales[1].lambda, 1.1, 1e-6);
  expect_weights(c.net, {1, 1, 1, -1}, {0.5f / 1.1f, 2.0f / 1.1f}, 0.1f / 1.1f);
  EXPECT_DOUBLE_EQ(snn::positive_percentile({0, -1, 3, 1, 2}, 100), 3.0);
  EXPECT_DOUBLE_EQ(snn::positive_percentile({0, -1}, 99.9), 0.0);
  EXPECT_THROW(snn::positive_percentile({1}, 0), Error);
}

TEST(SnnConvertTest, StreamingSummaryMatchesTheWholeArray) {
  // Activations fed in uneven batches must give positive_percentile's answer on all of them while holding
  // only about (1 − p/100) of them. All-positive values with the capacity exactly their count leave the kept
  // set no slack; small integers put ties on the answer; n·p/100 whole (1000 × 99.9, 2000 × 99.95) puts the
  // rank on a boundary.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(1, 40);
  for (int64_t n : {1, 7, 999, 1000, 1001, 2000, 20000}) {
    std::vector<float> values(n);
    for (auto& v : values) v = static_cast<float>(level(rng));
    for (double p : {0.1, 50.0, 75.0, 99.0, 99.9, 99.95, 100.0}) {
      snn::ActivationSummary s(p, n);
      for (int64_t i = 0, chunk = 1; i < n; i += chunk, chunk = chunk % 700 + 37)
        s.add(values.data() + i, std::min(chunk, n - i));
      EXPECT_EQ(s.percentile(), snn::positive_percentile(values, p)) << n << " " << p;
      EXPECT_LE(s.values_held(), 2 * static_cast<int64_t>((1 - p / 100) * n) + 4) << n << " " << p;
      EXPECT_EQ(s.max(), *std::max_element(values.begin(), values.end()));
    }
  }
  // Zeros and negatives count in the mean but are not positive.
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> mixed(5000);
  for (auto& v : mixed) v = normal(rng);
  for (size_t i = 0; i < mixed.size(); i += 97) mixed[i] = 0.0f;
  snn::ActivationSummary m(99.9, static_cast<int64_t>(mixed.size()));
  m.add(mixed.data(), static_cast<int64_t>(mixed.size()));
  EXPECT_EQ(m.percentile(), snn::positive_percentile(mixed, 99.9));
  double sum = 0;
  for (float v : mixed) sum += v;
  EXPECT_NEAR(m.mean(), sum / static_cast<double>(mixed.size()), 1e-9);
  snn::ActivationSummary none(99.9, 3);
  const float negatives[] = {-1.0f, 0.0f, -2.0f};
  none.add(negatives, 3);
  EXPECT_EQ(none.percentile(), 0.0);
  EXPECT_EQ(none.max(), 0.0);
  EXPECT_THROW(none.add(negatives, 1), Error);  // more values than announced
  EXPECT_THROW(snn::ActivationSummary(0.0, 10), Error);
}

TEST(SnnConvertTest, SummarisedLayerOutputsMatchTheStoredOnes) {
  // 1,234 images: two full evaluation batches of 500 and a tail of 234.
  const int64_t n = 1234;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  Dataset d;
  d.name = "random";
  d.images = Tensor::zeros({n, 1, 1, 2});
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = pixel(rng);
  d.labels.assign(static_cast<size_t>(n), 0);
  d.num_classes = 1;
  const Model model = two_layer_net("softplus");
  const std::vector<std::string> nodes = {"act1", "dense2"};
  const auto stored = snn::layer_outputs(model, d, n, nodes);
  for (double p : {50.0, 99.9}) {
    const auto summaries = snn::summarise_layer_outputs(model, d, n, nodes, p);
    ASSERT_EQ(summaries.size(), 2u);
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(summaries[k].count(), static_cast<int64_t>(stored[k].size())) << k;
      EXPECT_EQ(summaries[k].percentile(), snn::positive_percentile(stored[k], p)) << k << " " << p;
      EXPECT_EQ(summaries[k].max(), std::max(0.0f, *std::max_element(stored[k].begin(), stored[k].end()))) << k;
    }
  }
}

TEST(SnnConvertTest, SpikeNormSetsThresholdsFromSimulatedInputs) {
  // Layer 1 receives W1·x each step: largest 2 (x_a, neuron 0) → θ1 = 2. With W1/2 and reset to zero over
  // 20 steps, layer 1 fires 20 (x_a: 1 per step), 10 + 10 (x_b: 0.5 each, together every second step) and
  // 6 (x_c: 0.4 per step, every third step) spikes: ρ1 = 46 / (2 neurons · 3 images · 20 steps) per step,
  // against a mean ANN activation of 4.8 / 6 = 0.8, so the bias becomes 0.1 · ρ1 / 0.8. Layer 2's largest
  // synaptic input is 0.5 + 2 = 2.5 (x_b), so θ2 = 2.5 + that bias.
  auto o = analog_if();
  o.norm = snn::Norm::spike;
  o.spike_norm_steps = 20;
  cpu::CpuSimulator sim;
  const auto c = snn::convert(two_layer_net(), two_layer_data(), o, &sim);
  const double bias = 0.1 * (46.0 / 120.0) / 0.8, theta2 = 2.5 + bias;
  ASSERT_EQ(c.scales.size(), 2u);
  EXPECT_NEAR(c.scales[0].lambda, 2.0, 1e-6);
  EXPECT_NEAR(c.scales[1].lambda, theta2, 1e-6);
  expect_weights(c.net, {0.5f, 0.5f, 0.5f, -0.5f}, {static_cast<float>(0.5 / theta2), static_cast<float>(2 / theta2)},
                 static_cast<float>(bias / theta2));
}

TEST(SnnConvertTest, RateCodeAndLifUnits) {
  // Poisson input at 200 Hz, 1 ms: rates are 0.2 × activations, so biases are scaled by 0.2 too.
  snn::ConvertOptions o;
  auto c = snn::convert(two_layer_net(), two_layer_data(), o);
  EXPECT_FLOAT_EQ(c.net.layers[1].bias[0], 0.1f * 0.2f / 2.6f);
  EXPECT_EQ(c.net.delay_steps, 0);
  // LIF: unit weight → g nA such that unit-weight input at 200 Hz (0.2 per step) makes the neuron fire at
  // 200 Hz: steady current I = Δ / (R·(1 − e^(−(5 − τref)/τm))) = 15 / (80·(1 − e^(−0.2))) nA, reached by
  // g·0.2/(1 − P11). The bias becomes the direct current with the same per-step effect: b·g·P21/(P20·(1 − P11)).
  o.neuron = NeuronModel::lif;
  c = snn::convert(two_layer_net(), two_layer_data(), o);
  const double p11 = std::exp(-1.0 / 5), p22 = std::exp(-1.0 / 20);
  const double g = 15.0 / (80.0 * (1.0 - std::exp(-4.0 / 20))) * (1.0 - p11) / 0.2;
  const double p20 = 80.0 * (1.0 - p22), p21 = 20.0 * 5.0 / (0.25 * (5.0 - 20.0)) * (p11 - p22);
  EXPECT_NEAR(g, 0.937, 0.001);
  EXPECT_FLOAT_EQ(c.net.layers[0].weight[0], static_cast<float>(g * 0.5));
  EXPECT_FLOAT_EQ(c.net.layers[1].bias[0], static_cast<float>(0.1 * 0.2 / 2.6 * g * p21 / (p20 * (1.0 - p11))));
  EXPECT_EQ(c.net.delay_steps, 1);
  EXPECT_EQ(c.net.conversion, "data");
  // Liu's mapping (LIF, no normalisation): the trained weights are the nA.
  o.norm = snn::Norm::none;
  c = snn::convert(two_layer_net(), two_layer_data(), o);
  EXPECT_EQ(c.net.conversion, "liu");
  EXPECT_EQ(c.net.layers[1].weight.to_vector(), (std::vector<float>{0.5f, 2.0f}));
  EXPECT_FLOAT_EQ(c.net.layers[1].bias[0], 0.1f);
}

TEST(SnnConvertTest, SoftplusFamilyInputRaisedByItsValueAtZero) {
  // f(x) ≈ ReLU(x + f(0)): the bias-free dense1 gets a bias f(0) in its activation units, then the usual
  // rate-code scaling (× p_in = 0.2 at 200 Hz Poisson, × p for a PAF scale).
  snn::ConvertOptions o;
  o.norm = snn::Norm::none;
  o.input.kind = snn::InputEncoding::current;
  auto bias0 = [&](const Model& m) {
    const auto c = snn::convert(m, Dataset{}, o);
    return c.net.layers[0].bias.defined() ? c.net.layers[0].bias.to_vector() : std::vector<float>{};
  };
  const float ln2 = static_cast<float>(std::log(2.0));
  EXPECT_EQ(bias0(two_layer_net("softplus")), (std::vector<float>{ln2, ln2}));
  EXPECT_EQ(bias0(two_layer_net("relu")), std::vector<float>{});
  // Without attributes noisy_softplus is the op's default kσ = 0.17·1.
  const std::vector<float> nsp_default = bias0(two_layer_net("noisy_softplus"));
  ASSERT_EQ(nsp_default.size(), 2u);
  EXPECT_FLOAT_EQ(nsp_default[0], static_cast<float>(0.17 * std::log(2.0)));
  const std::vector<float> nsp = bias0(two_layer_net("noisy_softplus", {{"k", 0.2}, {"sigma", 0.5}, {"scale", 2.0}}));
  ASSERT_EQ(nsp.size(), 2u);
  EXPECT_FLOAT_EQ(nsp[0], static_cast<float>(2.0 * 0.1 * std::log(2.0)));  // p·kσ·ln 2
  // Liu's per-neuron-σ form leaves the smoothing to the SNN's own input noise.
  EXPECT_EQ(bias0(two_layer_net("noisy_softplus_liu", {{"k", 0.31}, {"scale", 1.0}})), std::vector<float>{});
  o.input.kind = snn::InputEncoding::poisson;  // 200 Hz at 1 ms: 0.2 spikes per step stand for activation 1
  const std::vector<float> poisson = bias0(two_layer_net("softplus"));
  ASSERT_EQ(poisson.size(), 2u);
  EXPECT_FLOAT_EQ(poisson[1], 0.2f * ln2);
  // Liu-style nets apply the activation after pooling too: the pool population gets the offset, scaled like
  // any bias — × p_in for IF, as nA (unscaled) under Liu's LIF mapping.
  ModelSpec spec;
  spec.activation = "softplus";
  spec.pool_activation = true;
  const Model liu_softplus = build_model(spec, 3);
  auto pool_bias = [&](const snn::ConvertOptions& opts) {
    const auto c = snn::convert(liu_softplus, Dataset{}, opts);
    EXPECT_EQ(c.net.layers.size(), 5u);
    const snn::Layer& pool1 = c.net.layers.at(1);
    EXPECT_EQ(pool1.kind, snn::LayerKind::avgpool);
    EXPECT_TRUE(pool1.bias.defined());
    return pool1.bias.defined() ? pool1.bias[5] : 0.0f;
  };
  EXPECT_FLOAT_EQ(pool_bias(o), 0.2f * ln2);
  snn::ConvertOptions liu = o;
  liu.neuron = NeuronModel::lif;
  EXPECT_FLOAT_EQ(pool_bias(liu), ln2);
  o.softplus_offset = false;
  EXPECT_EQ(bias0(two_layer_net("softplus")), std::vector<float>{});
  // Robust norm: λ1 comes from the softplus activations themselves, the raised bias is divided by it as well.
  o.softplus_offset = true;
  o.norm = snn::Norm::robust;
  o.percentile = 100;
  o.input.kind = snn::InputEncoding::current;
  const auto c = snn::convert(two_layer_net("softplus"), two_layer_data(), o);
  const double lambda1 = std::log1p(std::exp(2.0));  // softplus(W1·x_a)[0] = softplus(2), the largest
  EXPECT_NEAR(c.scales[0].lambda, lambda1, 1e-5);
  EXPECT_NEAR(c.net.layers[0].bias[0], std::log(2.0) / lambda1, 1e-6);
}

TEST(SnnConvertTest, LiuNetPoolingMergedForIfSpikingForLifAndPafFolded) {
  ModelSpec spec;
  spec.paf_scale = 2.0;
  const Model m = build_model(spec, 3);
  snn::ConvertOptions o;
  o.norm = snn::Norm::none;
  auto c = snn::convert(m, Dataset{}, o);
  ASSERT_EQ(c.net.layers.size(), 3u);  // conv1, conv2 (pool1 merged), dense (pool2 merged)
  EXPECT_EQ(c.net.layers[1].pool_in, 2);
  EXPECT_EQ(c.net.layers[2].pool_in, 2);
  EXPECT_EQ(c.net.layers[2].in_shape, (Shape{12, 8, 8}));
  // The activation scale p multiplies the weights feeding it (ReLU is positively homogeneous).
  EXPECT_FLOAT_EQ(c.net.layers[0].weight[0], 2.0f * m.layers()[0].params[0].value[0]);
  EXPECT_FLOAT_EQ(c.net.layers[2].weight[0], m.find("dense")->params[0].value[0]);  // no activation after dense
  o.neuron = NeuronModel::lif;
  c = snn::convert(m, Dataset{}, o);
  ASSERT_EQ(c.net.layers.size(), 5u);  // Liu: pools are populations with weight 1/4 (0.25 nA)
  EXPECT_EQ(c.net.layers[1].kind, snn::LayerKind::avgpool);
  EXPECT_FLOAT_EQ(c.net.layers[1].pool_weight, 0.25f);
  EXPECT_EQ(c.net.layers[1].out_shape, (Shape{6, 12, 12}));
  EXPECT_EQ(c.net.neurons(), 3456 + 864 + 768 + 192 + 10);
}

TEST(SnnConvertTest, BatchNormFolding) {
  // y = γ(x − μ)/√(var + ε) + β with x = w·a + b: w' = w·s, b' = (b − μ)·s + β, s = γ/√(var + ε).
  Tensor w = Tensor::from({2, 2}, {1, 2, 3, 4}), b;
  snn::fold_batchnorm(w, b, Tensor::from({2}, {2, 1}), Tensor::from({2}, {0.5f, -1}), Tensor::from({2}, {1, 0}),
                      Tensor::from({2}, {3, 0.25f}), 1.0);
  const std::vector<float> expect_w = {1, 2, static_cast<float>(3 / std::sqrt(1.25)),
                                       static_cast<float>(4 / std::sqrt(1.25))};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(w[i], expect_w[i]) << i;
  EXPECT_FLOAT_EQ(b[0], -1 + 0.5f);
  EXPECT_FLOAT_EQ(b[1], -1);
  // Folded through the converter: a batchnorm layer right after a dense one.
  Model m({1, 1, 2});
  m.add("flatten", "flatten");
  m.add("dense", "dense", {}, {{"weight", {2, 2}}});
  Layer bn;
  bn.name = "bn", bn.type = "batchnorm", bn.output_shape = {2};
  bn.attrs.set("eps", 1.0);
  for (auto [name, values] : std::vector<std::pair<std::string, std::vector<float>>>{
           {"gamma", {2, 1}}, {"beta", {0.5f, -1}}, {"mean", {1, 0}}, {"var", {3, 0.25f}}})
    bn.params.push_back({name, Tensor::from({2}, values), {}});
  m.layers().push_back(bn);
  m.parameters()[0]->value = Tensor::from({2, 2}, {1, 2, 3, 4});
  snn::ConvertOptions o;
  o.norm = snn::Norm::none;
  o.input.kind = snn::InputEncoding::current;
  const auto c = snn::convert(m, Dataset{}, o);
  EXPECT_EQ(c.net.layers[0].weight.to_vector(), w.to_vector());
  EXPECT_EQ(c.net.layers[0].bias.to_vector(), b.to_vector());
}

TEST(SnnConvertTest, UnsupportedLayersAndBadOptionsAreNamed) {
  Model m = build_model(ModelSpec{}, 1);
  m.layers()[2].type = "maxpool2d";  // pool1
  try {
    snn::ConvertOptions none;
    none.norm = snn::Norm::none;
    snn::convert(m, Dataset{}, none);
    FAIL() << "max pooling converted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("pool1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("avgpool2d"), std::string::npos) << e.what();
  }
  const Model ok = build_model(ModelSpec{}, 1);
  snn::ConvertOptions o;
  o.norm = snn::Norm::none;
  o.dt_ms = 0;
  EXPECT_THROW(snn::convert(ok, Dataset{}, o), Error);
  o.dt_ms = 1, o.percentile = 100.5;
  EXPECT_THROW(snn::convert(ok, Dataset{}, o), Error);
  o.percentile = 99.9, o.input.max_rate_hz = 2000;  // more than one spike per 1 ms step
  EXPECT_THROW(snn::convert(ok, Dataset{}, o), Error);
  o.input.max_rate_hz = 200, o.norm = snn::Norm::data;  // data norm without data
  EXPECT_THROW(snn::convert(ok, Dataset{}, o), Error);
  EXPECT_THROW(snn::parse_norm("max"), Error);
  EXPECT_THROW(snn::parse_neuron_model("izhikevich"), Error);
  EXPECT_THROW(snn::parse_input_encoding("rank"), Error);
}

// ---- the simulator ------------------------------------------------------------------------------------------

using test::random_images;

TEST(SnnSimulatorTest, EventAndDenseKernelsAgreeAndRunsAreDeterministic) {
  const Model m = build_model(ModelSpec{}, 5);
  const Dataset data = random_images(12, 2);
  cpu::CpuSimulator sim;
  for (NeuronModel neuron : {NeuronModel::if_reset_zero, NeuronModel::if_signed, NeuronModel::lif}) {
    snn::ConvertOptions o;
    o.neuron = neuron;
    o.norm_images = 12;
    const auto c = snn::convert(m, data, o);
    SimOptions so;
    so.steps = 120;
    so.batch = 5;  // uneven last batch
    const SimResult event = sim.simulate(c.net, data, so);
    so.propagation = Propagation::dense;
    const SimResult dense = sim.simulate(c.net, data, so);
    // Same spikes up to float summation order: identical output counts on (almost) every image.
    int same = 0;
    for (int64_t i = 0; i < 12; ++i)
      same += std::equal(event.output_counts.begin() + i * 10, event.output_counts.begin() + i * 10 + 10,
                         dense.output_counts.begin() + i * 10);
    EXPECT_GE(same, 11) << snn::to_string(neuron);
    int64_t spikes = 0, negative = 0;
    for (const auto& l : event.layers) spikes += l.spikes, negative += l.negative_spikes;
    EXPECT_GT(spikes, 0);
    if (neuron == NeuronModel::if_signed) {
      EXPECT_GT(negative, 0);
      for (size_t l = 0; l < event.layers.size(); ++l)
        EXPECT_NEAR(dense.layers[l].negative_spikes, event.layers[l].negative_spikes,
                    0.02 * event.layers[l].negative_spikes + 2)
            << l;
    } else {
      EXPECT_EQ(negative, 0);
    }
    // Same seed, other thread count → bit-identical; another seed → other input spikes.
    so.propagation = Propagation::event;
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const SimResult one = sim.simulate(c.net, data, so);
    omp_set_num_threads(threads);
    EXPECT_EQ(one.output_counts, event.output_counts);
    EXPECT_EQ(one.correct, event.correct);
    so.seed = 99;
    EXPECT_NE(sim.simulate(c.net, data, so).output_counts, event.output_counts);
  }
}

TEST(SnnSimulatorTest, AnImageRangeGivesThoseImagesSpikesOfAFullRun) {
  // Poisson streams are keyed on the dataset index: images 3..7 alone spike as they do in a run of all 8
  // (held-out ranges, sharded runs).
  const Model m = build_model(ModelSpec{}, 5);
  const Dataset data = random_images(8, 2);
  snn::ConvertOptions o;
  o.norm_images = 8;
  const auto c = snn::convert(m, data, o);
  cpu::CpuSimulator sim;
  SimOptions so;
  so.steps = 60;
  const SimResult all = sim.simulate(c.net, data, so);
  so.first_image = 3;
  so.images = 5;
  const SimResult part = sim.simulate(c.net, data, so);
  EXPECT_EQ(part.first_image, 3);
  ASSERT_EQ(part.images, 5);
  EXPECT_EQ(part.labels, std::vector<int32_t>(all.labels.begin() + 3, all.labels.end()));
  EXPECT_EQ(part.predicted, std::vector<int32_t>(all.predicted.begin() + 3, all.predicted.end()));
  EXPECT_EQ(part.output_counts, std::vector<int32_t>(all.output_counts.begin() + 30, all.output_counts.end()));
  so.images = 0;  // all from first_image on
  EXPECT_EQ(sim.simulate(c.net, data, so).images, 5);
  so.images = 6;
  EXPECT_TRUE(test::bad_input([&] { sim.simulate(c.net, data, so); }).find("--images") != std::string::npos);
  so.first_image = 8, so.images = 0;
  EXPECT_TRUE(test::bad_input([&] { sim.simulate(c.net, data, so); }).find("--first-image") != std::string::npos);

  // A slice holding images 3..7 (Dataset::first_index 3; what `convert` reads) spikes as the full set does.
  Dataset slice;
  slice.name = "slice";
  slice.num_classes = 10;
  slice.first_index = 3;
  slice.images = Tensor({5, 1, 28, 28});
  std::copy_n(data.image(3), slice.images.numel(), slice.images.data());
  slice.labels.assign(data.labels.begin() + 3, data.labels.end());
  so.first_image = 3, so.images = 5;
  const SimResult sliced = sim.simulate(c.net, slice, so);
  EXPECT_EQ(sliced.first_image, 3);
  EXPECT_EQ(sliced.labels, part.labels);
  EXPECT_EQ(sliced.output_counts, part.output_counts);
  so.first_image = 0;  // before the slice's first image
  EXPECT_NE(test::bad_input([&] { sim.simulate(c.net, slice, so); }).find("images [3, 8)"), std::string::npos);
}

TEST(SnnSimulatorTest, PerNeuronBiasDrivesEachNeuron) {
  // A 1-channel 2×2 conv population with zero weights and a bias per neuron (0.5, 0, 0.25, 0): IF-subtract at
  // θ = 1 fires 4 + 0 + 2 + 0 spikes in 8 steps, in both kernels.
  snn::Network net;
  net.input_shape = {1, 2, 2};
  net.neuron = NeuronModel::if_subtract;
  net.input.kind = snn::InputEncoding::poisson;
  snn::Layer conv;
  conv.name = "conv";
  conv.kind = snn::LayerKind::conv;
  conv.in_shape = {1, 2, 2};
  conv.out_shape = {1, 2, 2};
  conv.kernel = 1;
  conv.weight = Tensor::zeros({1, 1, 1, 1});
  conv.bias = Tensor::from({1, 2, 2}, {0.5f, 0.0f, 0.25f, 0.0f});
  snn::Layer dense;
  dense.name = "dense";
  dense.kind = snn::LayerKind::dense;
  dense.in_shape = {1, 2, 2};
  dense.out_shape = {2, 1, 1};
  dense.weight = Tensor::zeros({2, 4});
  net.layers = {conv, dense};
  EXPECT_TRUE(net.layers[0].per_neuron_bias());
  EXPECT_FLOAT_EQ(net.layers[0].bias_at(0, 2), 0.25f);
  Dataset data;
  data.name = "blank";
  data.images = Tensor::zeros({1, 1, 2, 2});
  data.labels = {0};
  data.num_classes = 2;
  cpu::CpuSimulator sim;
  SimOptions so;
  so.steps = 8;
  EXPECT_EQ(sim.simulate(net, data, so).layers[0].spikes, 6);
  so.propagation = Propagation::dense;
  EXPECT_EQ(sim.simulate(net, data, so).layers[0].spikes, 6);
  net.layers[0].bias = Tensor::zeros({3});  // neither per channel nor per neuron
  EXPECT_NE(test::bad_input([&] { snn::validate(net); }).find("one per neuron"), std::string::npos);
}

TEST(SnnSimulatorTest, ReportedWindowsIncludeTheLowLatencyPoints) {
  // Every 10 % of a 200-step run, the powers of two 4…128, and 100 ms; 400 and 1000 ms do not fit.
  EXPECT_EQ(report_steps(200, 1.0),
            (std::vector<int>{4, 8, 16, 20, 32, 40, 60, 64, 80, 100, 120, 128, 140, 160, 180, 200}));
}

TEST(SnnSimulatorTest, RecordsInputSpikesAndRejectsBadRuns) {
  const Model m = build_model(ModelSpec{}, 5);
  const Dataset data = random_images(3, 4);
  snn::ConvertOptions o;
  o.norm = snn::Norm::none;
  const auto c = snn::convert(m, data, o);
  cpu::CpuSimulator sim;
  SimOptions so;
  so.steps = 50;
  so.record_input = true;
  const SimResult r = sim.simulate(c.net, data, so);
  ASSERT_FALSE(r.input_spikes.empty());
  for (const auto& s : r.input_spikes) {
    ASSERT_GT(data.images[s.image * 784 + s.pixel], 0.0f);  // only lit pixels spike
    ASSERT_LT(s.step, 50);
  }
  EXPECT_EQ(r.correct.size(), 50u);
  so.steps = 0;
  EXPECT_THROW(sim.simulate(c.net, data, so), Error);
  so.steps = 10, so.images = 4;
  EXPECT_THROW(sim.simulate(c.net, data, so), Error);
  EXPECT_THROW(make_backend("loihi"), Error);
  if (!device_available(Device::cuda)) {  // no GPU here
    EXPECT_THROW(make_backend("cuda")->check_ready(), Error);
  }
  const auto exporter = make_backend("spinnaker");
  EXPECT_FALSE(exporter->capabilities().simulates);
  EXPECT_TRUE(exporter->capabilities().exports);
  so.images = 1;
  EXPECT_THROW(exporter->simulate(c.net, data, so), Error);
}

TEST(SnnSimulatorTest, ReadoutBreaksTiesByMembranePotential) {
  // A 1-step run where no output neuron fires: the class is the highest membrane potential, i.e. the
  // largest bias.
  snn::Network net;
  net.input_shape = {1, 1, 1};
  net.input.kind = snn::InputEncoding::current;
  snn::Layer l;
  l.name = "out";
  l.kind = snn::LayerKind::dense;
  l.in_shape = {1, 1, 1};
  l.out_shape = {3, 1, 1};
  l.weight = Tensor::zeros({3, 1});
  l.bias = Tensor::from({3}, {0.1f, 0.3f, 0.2f});
  net.layers.push_back(l);
  Dataset d;
  d.name = "one";
  d.images = Tensor::zeros({1, 1, 1, 1});
  d.labels = {1};
  d.num_classes = 3;
  SimOptions so;
  so.steps = 1;
  const SimResult r = cpu::CpuSimulator().simulate(net, d, so);
  EXPECT_EQ(r.predicted[0], 1);
  EXPECT_EQ(r.correct[0], 1);
}

// Hand-built nets for the layer kinds and geometries the Liu nets do not exercise.
snn::Layer conv_layer(std::string name, snn::LayerKind kind, Shape in, Shape out, Tensor w, int k, int stride,
                      int pad) {
  snn::Layer l;
  l.name = std::move(name);
  l.kind = kind;
  l.in_shape = std::move(in);
  l.out_shape = std::move(out);
  l.weight = std::move(w);
  l.kernel = k, l.stride = stride, l.padding = pad;
  return l;
}

Tensor ramp(Shape s, float scale) {
  Tensor t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = scale * static_cast<float>((i * 7) % 11 - 3);
  return t;
}

TEST(SnnSimulatorTest, DepthwiseRatesMatchHandComputedInput) {
  // Analog input into IF-subtract: a neuron with constant input c fires floor(T·c) times (θ = 1), within one
  // spike. Depthwise 3×3 over a [2, 3, 3] input: channel c's input is Σ_k w[c, k]·x[c, k].
  snn::Network net;
  net.input_shape = {2, 3, 3};
  net.neuron = NeuronModel::if_subtract;
  net.input.kind = snn::InputEncoding::current;
  net.layers.push_back(
      conv_layer("dw", snn::LayerKind::depthwise_conv, {2, 3, 3}, {2, 1, 1}, ramp({2, 1, 3, 3}, 0.02f), 3, 1, 0));
  Dataset d;
  d.name = "hand";
  d.images = Tensor({1, 2, 3, 3});
  for (int64_t i = 0; i < 18; ++i) d.images[i] = 0.1f + 0.05f * static_cast<float>(i % 5);
  d.labels = {0};
  d.num_classes = 2;
  SimOptions so;
  so.steps = 1000;
  const SimResult r = cpu::CpuSimulator().simulate(net, d, so);
  for (int c = 0; c < 2; ++c) {
    double in = 0;
    for (int k = 0; k < 9; ++k) in += net.layers[0].weight[c * 9 + k] * d.images[c * 9 + k];
    EXPECT_NEAR(r.output_counts[c], std::max(0.0, std::floor(1000 * in)), 1.0) << c << " input " << in;
  }
}

TEST(SnnSimulatorTest, StridedDepthwiseAgreesBetweenKernels) {
  // MobileNet's stride-2 depthwise 3×3 with padding 1 (3×8×8 → 3×4×4), then dense 48→4: the event kernel's
  // per-channel taps against oneDNN's grouped convolution in the dense kernel. Weights are multiples of 2^-7
  // (ramp(…, 1/128)), so every membrane sum is exact in float whatever the summation order: the same spikes.
  snn::Network net;
  net.input_shape = {3, 8, 8};
  net.layers.push_back(
      conv_layer("dw", snn::LayerKind::depthwise_conv, {3, 8, 8}, {3, 4, 4}, ramp({3, 1, 3, 3}, 0.0625f), 3, 2, 1));
  snn::Layer fc;
  fc.name = "fc", fc.kind = snn::LayerKind::dense, fc.in_shape = {3, 4, 4}, fc.out_shape = {4, 1, 1};
  fc.weight = ramp({4, 48}, 0.125f);
  net.layers.push_back(fc);
  Dataset d;
  d.name = "hand";
  d.images = Tensor({5, 3, 8, 8});
  Rng rng(3);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = static_cast<float>(rng.uniform());
  d.labels = {0, 1, 2, 3, 0};
  d.num_classes = 4;
  SimOptions so;
  so.steps = 300;
  so.batch = 3;
  const SimResult event = cpu::CpuSimulator().simulate(net, d, so);
  so.propagation = Propagation::dense;
  const SimResult dense = cpu::CpuSimulator().simulate(net, d, so);
  EXPECT_GT(event.layers[0].spikes, 0);
  EXPECT_EQ(event.layers[0].spikes, dense.layers[0].spikes);
  EXPECT_EQ(event.output_counts, dense.output_counts);
}

TEST(SnnSimulatorTest, StridedPaddedConvAgreesBetweenKernels) {
  // conv 2→3, 3×3, stride 2, padding 1 on 2×7×7 (→ 3×4×4), then dense 48→4: the event kernel's tap rows
  // against oneDNN's convolution in the dense kernel, same spikes.
  snn::Network net;
  net.input_shape = {2, 7, 7};
  net.layers.push_back(
      conv_layer("conv", snn::LayerKind::conv, {2, 7, 7}, {3, 4, 4}, ramp({3, 2, 3, 3}, 0.15f), 3, 2, 1));
  snn::Layer fc;
  fc.name = "fc", fc.kind = snn::LayerKind::dense, fc.in_shape = {3, 4, 4}, fc.out_shape = {4, 1, 1};
  // Readout weights and biases are multiples of 2^-7, so every membrane sum is exact in float whatever the
  // order oneDNN and the scatter add in. (With 0.1-multiples the order's rounding moved a near-threshold spike,
  // and reset-to-zero carried the shift on: 1-3 spikes apart, for most Poisson streams.)
  fc.weight = ramp({4, 48}, 0.125f);
  fc.bias = Tensor::from({4}, {0.0078125f, 0.0f, 0.015625f, 0.0f});
  net.layers.push_back(fc);
  Dataset d;
  d.name = "hand";
  d.images = Tensor({6, 2, 7, 7});
  Rng rng(9);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = static_cast<float>(rng.uniform());
  d.labels = {0, 1, 2, 3, 0, 1};
  d.num_classes = 4;
  SimOptions so;
  so.steps = 300;
  so.batch = 4;
  const SimResult event = cpu::CpuSimulator().simulate(net, d, so);
  so.propagation = Propagation::dense;
  const SimResult dense = cpu::CpuSimulator().simulate(net, d, so);
  EXPECT_EQ(event.layers[0].spikes, dense.layers[0].spikes);  // the conv geometry: exactly the same spikes
  EXPECT_EQ(event.output_counts, dense.output_counts);        // exact readout arithmetic: the same counts
  EXPECT_GT(event.layers[0].spikes, 0);
  EXPECT_GT(event.layers[1].spikes, 0);
}

}  // namespace
}  // namespace sf
