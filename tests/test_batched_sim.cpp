// The batched simulator (the GPU's, `convert --backend cuda`), checked here on the CPU device against the CPU
// simulator, and on a GPU against the same where there is one; plus its shared math: Philox, the input spikes
// and the neuron step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/batched/simulator.h"
#include "backends/batched/snn_math.h"
#include "backends/cpu/encoder.h"
#include "backends/cpu/neurons.h"
#include "backends/cpu/simulator.h"
#include "backends/snn/converter.h"
#include "core/philox.h"
#include "core/rng.h"
#include "models/zoo.h"
#include "tests/snn_data.h"
#include "tests/support.h"

namespace sf {
namespace {

using snn::NeuronModel;

TEST(PhiloxTest, MatchesRandom123KnownAnswers) {
  // Random123's kat_vectors: counter, key, then the output.
  struct Kat {
    Philox4x32 ctr;
    uint32_t k0, k1;
    Philox4x32 out;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u, {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const Philox4x32 r = philox4x32_10(k.ctr, k.k0, k.k1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], k.out.v[i]) << i;
  }
  EXPECT_EQ(philox_uniform(0), 0.0f);
  EXPECT_LT(philox_uniform(~0u), 1.0f);
}

TEST(BatchedSimMathTest, PoissonInputIsABernoulliTrialPerStep) {
  // 200 pixels × 1000 steps at p = 0.05 (pixel 0.5, 100 Hz, 1 ms): 10,000 spikes expected, σ ≈ 97.
  const batched::InputStep e{1, 0.1, 0x1234, 0x5678};
  int64_t spikes = 0, runs = 0;
  for (int64_t px = 0; px < 200; ++px) {
    float previous = 0;
    for (int t = 0; t < 1000; ++t) {
      const float s = batched::input_spike(e, 0.5f, 3, px, t);
      spikes += s > 0;
      runs += s > 0 && previous > 0;  // consecutive spikes: p² per step pair if the steps are independent
      previous = s;
    }
  }
  EXPECT_NEAR(spikes, 10000, 5 * 97);
  EXPECT_NEAR(runs, 200 * 999 * 0.0025, 5 * std::sqrt(200 * 999 * 0.0025));
  // Keyed on the image: another image draws other spikes; the same one the same.
  int differ = 0;
  for (int t = 0; t < 1000; ++t)
    differ += batched::input_spike(e, 0.5f, 3, 7, t) != batched::input_spike(e, 0.5f, 4, 7, t);
  EXPECT_GT(differ, 50);
  EXPECT_EQ(batched::input_spike(e, 0.0f, 3, 7, 5), 0.0f);
  EXPECT_EQ(batched::input_spike({1, 1.0, 1, 2}, 1.0f, 3, 7, 5), 1.0f);  // p = 1: every step
}

TEST(BatchedSimMathTest, RegularInputIsTheCpuPhaseAccumulator) {
  for (const double rate : {13.0, 100.0, 333.3, 500.0, 1000.0}) {
    snn::Encoder enc;
    enc.kind = snn::InputEncoding::regular;
    enc.max_rate_hz = rate;
    const float pixels[] = {1.0f, 0.7f, 0.31f, 0.0f, 0.999f};
    cpu::InputTrains trains;
    Rng rng(1);
    trains.generate(pixels, 5, enc, 1.0, 700, rng);
    const batched::InputStep e{0, rate / 1000.0, 0, 0};
    for (int t = 0; t < 700; ++t) {
      std::vector<float> expected(5, 0.0f);
      for (int32_t px : trains.at(t)) expected[px] = 1.0f;
      for (int px = 0; px < 5; ++px)
        ASSERT_EQ(batched::input_spike(e, pixels[px], 0, px, t), expected[px])
            << rate << " Hz, pixel " << px << " step " << t;
    }
  }
}

TEST(BatchedSimMathTest, NeuronStepIsTheCpuSimulatorsStep) {
  snn::Network net;
  snn::Layer layer;
  layer.threshold = 1.0;
  net.v_init = 0.5;
  for (NeuronModel model :
       {NeuronModel::if_reset_zero, NeuronModel::if_subtract, NeuronModel::if_signed, NeuronModel::lif}) {
    net.neuron = model;
    const cpu::NeuronConstants k(net, layer);
    const batched::NeuronStep bk = batched::neuron_step(net, layer);
    const int64_t n = 64;
    cpu::Population pop;
    pop.reset(n, k);
    std::vector<float> v(n, k.v_start), isyn(n, 0), ref(n, 0), count(n, 0), negative(n, 0), bias(n);
    const batched::PopulationState s{v.data(), isyn.data(), ref.data(), count.data(), negative.data(), n};
    Rng rng(static_cast<uint64_t>(model) + 9);
    for (int64_t j = 0; j < n; ++j) bias[j] = static_cast<float>(rng.uniform() * 0.2 - 0.1);
    const float in_scale = model == NeuronModel::lif ? 3.0f : 0.6f;
    for (int t = 0; t < 300; ++t) {
      std::vector<float> in(n);
      for (int64_t j = 0; j < n; ++j) in[j] = static_cast<float>(rng.uniform() * 2 - 0.8) * in_scale;
      pop.in = in;
      cpu::step_population(pop, k, bias.data());
      std::vector<float> sent(n, 0.0f);
      for (int32_t j : pop.spikes) sent[j] = 1.0f;
      for (int32_t j : pop.negative) sent[j] = -1.0f;
      for (int64_t j = 0; j < n; ++j) {
        ASSERT_EQ(batched::step_neuron(bk, s, j, in[j], bias[j]), sent[j]) << snn::to_string(model) << " t " << t;
        ASSERT_EQ(v[j], pop.v[j]) << snn::to_string(model) << " t " << t << " neuron " << j;
        ASSERT_EQ(count[j], static_cast<float>(pop.counts[j]));
      }
    }
  }
}

using test::random_images;

// A converted Liu net whose weights are rounded to multiples of 2^-7 (biases: of 2^-6) and whose images are
// multiples of 1/16: every synaptic sum is exact in float, so any summation order (oneDNN's, the CPU's
// scatter, cuDNN's) gives the same spikes.
snn::Network exact_net(const Dataset& data, NeuronModel neuron, snn::InputEncoding input) {
  snn::ConvertOptions o;
  o.neuron = neuron;
  o.norm_images = static_cast<int>(data.size());
  o.input.kind = input;
  o.input.max_rate_hz = 500;
  snn::Network net = snn::convert(build_model(ModelSpec{}, 5), data, o).net;
  for (snn::Layer& l : net.layers) {
    l.pool_weight = std::round(l.pool_weight * 128.0f) / 128.0f;
    // A bias per channel everywhere (the Liu convolutions have none), so that both simulators' bias paths run.
    l.bias = Tensor({l.out_shape[0]});
    for (int64_t c = 0; c < l.out_shape[0]; ++c) l.bias[c] = static_cast<float>(c % 5 - 2) / 64.0f;
    for (Tensor* t : {&l.weight, &l.bias})
      if (t->defined())
        for (int64_t i = 0; i < t->numel(); ++i) (*t)[i] = std::round((*t)[i] * 128.0f) / 128.0f;
  }
  return net;
}

Dataset sixteenths(Dataset d) {
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = std::round(d.images[i] * 16.0f) / 16.0f;
  return d;
}

// The batched simulator's options: the CPU simulator's, with a propagation kernel of the batched engine's.
SimOptions with(SimOptions so, Propagation p) {
  so.propagation = p;
  return so;
}
SimOptions dense(SimOptions so) { return with(so, Propagation::dense); }

void expect_same_run(const SimResult& a, const SimResult& b, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_EQ(a.predicted, b.predicted);
  EXPECT_EQ(a.output_counts, b.output_counts);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].neuron_spikes, b.layers[l].neuron_spikes) << l;
    EXPECT_EQ(a.layers[l].negative_spikes, b.layers[l].negative_spikes) << l;
    EXPECT_EQ(a.layers[l].presynaptic_spikes, b.layers[l].presynaptic_spikes) << l;
    EXPECT_DOUBLE_EQ(a.layers[l].fanout, b.layers[l].fanout) << l;
    EXPECT_EQ(a.layers[l].synaptic_events, b.layers[l].synaptic_events) << l;
  }
}

TEST(BatchedSimulatorTest, OnTheCpuItIsTheCpuSimulatorForDeterministicInput) {
  const Dataset data = sixteenths(random_images(11, 2));
  cpu::CpuSimulator reference;
  batched::BatchedSimulator batched_cpu("batched-cpu", Device::cpu);
  SimOptions so;
  so.steps = 90;
  so.batch = 4;  // an uneven last batch
  for (NeuronModel neuron :
       {NeuronModel::if_reset_zero, NeuronModel::if_subtract, NeuronModel::if_signed, NeuronModel::lif}) {
    for (snn::InputEncoding input : {snn::InputEncoding::regular, snn::InputEncoding::current}) {
      if (neuron == NeuronModel::lif && input == snn::InputEncoding::current) continue;  // scaled pixels: inexact
      const snn::Network net = exact_net(data, neuron, input);
      so.propagation = Propagation::event;
      const SimResult want = reference.simulate(net, data, so);
      int64_t spikes = 0;
      for (const LayerStats& l : want.layers) spikes += l.spikes;
      EXPECT_GT(spikes, 100) << snn::to_string(neuron);
      for (Propagation p : {Propagation::dense, Propagation::event})
        expect_same_run(batched_cpu.simulate(net, data, with(so, p)), want,
                        std::string(snn::to_string(neuron)) + ", " + snn::to_string(input) + ", " + to_string(p));
    }
  }
  // An image range, a delayed net and spike-norm's probe run.
  snn::Network net = exact_net(data, NeuronModel::if_subtract, snn::InputEncoding::regular);
  so.first_image = 3, so.images = 6;
  net.delay_steps = 1;
  snn::Network current = exact_net(data, NeuronModel::if_signed, snn::InputEncoding::current);
  current.delay_steps = 1;  // the CPU feeds the current after each step: none in the first
  for (Propagation p : {Propagation::dense, Propagation::event}) {
    SCOPED_TRACE(to_string(p));
    SimOptions run = with(so, p);
    expect_same_run(batched_cpu.simulate(net, data, run), reference.simulate(net, data, so), "delayed, images 3-8");
    expect_same_run(batched_cpu.simulate(current, data, run), reference.simulate(current, data, so), "delayed current");
    run.probe_layer = so.probe_layer = 2;
    EXPECT_EQ(batched_cpu.simulate(net, data, run).probe_max_input, reference.simulate(net, data, so).probe_max_input);
    so.probe_layer = -1;
  }
}

// Event propagation through a MobileNet's strided and depthwise convolutions, padding and pooling: spike for
// spike the CPU simulator's (event) and the batched engine's dense run, on a net whose sums are exact in float.
TEST(BatchedSimulatorTest, EventPropagationThroughAMobileNetIsTheCpuSimulators) {
  Dataset data;
  data.name = "random", data.num_classes = 10;
  data.images = Tensor({6, 3, 32, 32});
  Rng rng(8);
  for (int64_t i = 0; i < data.images.numel(); ++i) data.images[i] = static_cast<float>(rng.below(17)) / 16.0f;
  for (int64_t i = 0; i < 6; ++i) data.labels.push_back(static_cast<int32_t>(i));
  ModelSpec spec;
  spec.arch = "mobilenet_v1", spec.alpha = 0.25, spec.activation = "relu6", spec.input = {3, 32, 32};
  spec.classes = 10;
  snn::ConvertOptions o;
  o.neuron = NeuronModel::if_subtract;
  o.norm_images = 6;
  o.input.kind = snn::InputEncoding::regular;
  o.input.max_rate_hz = 500;
  snn::Network net = snn::convert(build_model(spec, 3), data, o).net;
  for (snn::Layer& l : net.layers) {
    l.pool_weight = std::round(l.pool_weight * 128.0f) / 128.0f;
    for (Tensor* t : {&l.weight, &l.bias})
      if (t->defined())
        for (int64_t i = 0; i < t->numel(); ++i) (*t)[i] = std::round((*t)[i] * 128.0f) / 128.0f;
  }
  SimOptions so;
  so.steps = 100;
  so.batch = 4;
  const SimResult want = cpu::CpuSimulator().simulate(net, data, so);
  // An untrained net's activity dies out after a few blocks; it must get through a strided depthwise layer.
  bool strided_depthwise_spikes = false;
  for (size_t l = 0; l < net.layers.size(); ++l)
    strided_depthwise_spikes = strided_depthwise_spikes || (net.layers[l].kind == snn::LayerKind::depthwise_conv &&
                                                            net.layers[l].stride == 2 && want.layers[l].spikes > 1000);
  EXPECT_TRUE(strided_depthwise_spikes);
  batched::BatchedSimulator batched_cpu("batched-cpu", Device::cpu);
  expect_same_run(batched_cpu.simulate(net, data, with(so, Propagation::event)), want, "event");
  expect_same_run(batched_cpu.simulate(net, data, dense(so)), want, "dense");
}

TEST(BatchedSimulatorTest, PoissonInputAgreesWithTheCpuSimulatorInDistribution) {
  // Other random streams (Philox per step against the CPU's geometric gaps): the same rates, not the same
  // spikes. 40 images × 300 steps: over seeds 1-5 a layer's spike total differed by at most 2.5 % and the
  // input's by 0.7 %; the bounds are 6 % and 2 %.
  const Dataset data = random_images(40, 3);
  snn::ConvertOptions o;
  o.neuron = NeuronModel::if_subtract;
  o.norm_images = 40;
  const snn::Network net = snn::convert(build_model(ModelSpec{}, 5), data, o).net;
  SimOptions so;
  so.steps = 300;
  so.batch = 16;
  const SimResult cpu_run = cpu::CpuSimulator().simulate(net, data, so);
  const SimResult gpu_math = batched::BatchedSimulator("batched-cpu", Device::cpu).simulate(net, data, dense(so));
  for (size_t l = 0; l < net.layers.size(); ++l) {
    const double a = static_cast<double>(cpu_run.layers[l].spikes), b = static_cast<double>(gpu_math.layers[l].spikes);
    EXPECT_GT(a, 1000) << l;
    EXPECT_NEAR(b / a, 1.0, 0.06) << "layer " << l << ": " << a << " vs " << b;
  }
  const double input_a = static_cast<double>(cpu_run.layers[0].presynaptic_spikes),
               input_b = static_cast<double>(gpu_math.layers[0].presynaptic_spikes);
  EXPECT_NEAR(input_b / input_a, 1.0, 0.02) << input_a << " vs " << input_b;
  EXPECT_NE(cpu_run.layers[0].neuron_spikes, gpu_math.layers[0].neuron_spikes) << "the streams should differ";
}

// cuDNN may run a convolution as Winograd or FFT, whose transforms round even where the plain sum is exact:
// on the GPU a neuron at exactly its threshold may flip (event propagation's atomic sums stay exact on these
// nets, in any order). So: the same output counts on nearly every image, the
// same spike totals within 1 %.
void expect_close_run(const SimResult& gpu, const SimResult& cpu, const std::string& what) {
  SCOPED_TRACE(what);
  const int64_t classes = static_cast<int64_t>(cpu.output_counts.size()) / cpu.images;
  int64_t same = 0;
  for (int64_t i = 0; i < cpu.images; ++i)
    same += std::equal(cpu.output_counts.begin() + i * classes, cpu.output_counts.begin() + (i + 1) * classes,
                       gpu.output_counts.begin() + i * classes);
  EXPECT_GE(same, cpu.images * 9 / 10);
  ASSERT_EQ(gpu.layers.size(), cpu.layers.size());
  for (size_t l = 0; l < cpu.layers.size(); ++l) {
    EXPECT_NEAR(gpu.layers[l].spikes, cpu.layers[l].spikes, 0.01 * cpu.layers[l].spikes + 2) << l;
    EXPECT_NEAR(gpu.layers[l].negative_spikes, cpu.layers[l].negative_spikes, 0.01 * cpu.layers[l].negative_spikes + 2);
    EXPECT_DOUBLE_EQ(gpu.layers[l].fanout, cpu.layers[l].fanout) << l;
  }
  EXPECT_NEAR(gpu.accuracy_at(gpu.steps), cpu.accuracy_at(cpu.steps), 0.06);
}

TEST(BatchedSimulatorCudaTest, RunsTheCpuSimulatorsNetwork) {
  SF_REQUIRE_GPU();
  const Dataset data = sixteenths(random_images(37, 4));
  SimOptions so;
  so.steps = 120;
  so.batch = 16;
  batched::BatchedSimulator gpu("cuda", Device::cuda);
  for (NeuronModel neuron : {NeuronModel::if_subtract, NeuronModel::if_signed, NeuronModel::lif}) {
    for (snn::InputEncoding input : {snn::InputEncoding::regular, snn::InputEncoding::current}) {
      if (neuron == NeuronModel::lif && input == snn::InputEncoding::current) continue;
      const snn::Network net = exact_net(data, neuron, input);
      const SimResult want = cpu::CpuSimulator().simulate(net, data, so);
      for (Propagation p : {Propagation::dense, Propagation::event})
        expect_close_run(gpu.simulate(net, data, with(so, p)), want,
                         std::string(snn::to_string(neuron)) + ", " + snn::to_string(input) + ", " + to_string(p));
    }
  }
}

TEST(BatchedSimulatorTest, RefusesWhatItCannotRun) {
  const Dataset data = random_images(2, 5);
  const snn::Network net = exact_net(data, NeuronModel::if_subtract, snn::InputEncoding::regular);
  batched::BatchedSimulator sim("batched-cpu", Device::cpu);
  SimOptions so = dense({});
  so.steps = 5;
  so.images = 3;
  EXPECT_NE(test::bad_input([&] { sim.simulate(net, data, so); }).find("--images"), std::string::npos);
  so.images = 1;
  so.record_input = true;
  EXPECT_NE(test::bad_input([&] { sim.simulate(net, data, so); }).find("--record-input"), std::string::npos);
  so.record_input = false;
  so.steps = (1 << 24) + 1;  // more than float spike counts hold exactly: refused before any work
  EXPECT_NE(test::bad_input([&] { sim.simulate(net, data, so); }).find("--steps"), std::string::npos);
  const Capabilities caps = sim.capabilities();
  EXPECT_EQ(caps.propagations, (std::vector<Propagation>{Propagation::dense, Propagation::event}));
}

// A batch whose populations do not fit names --batch, the layer and what to do.
TEST(BatchedSimulatorTest, ABatchThatDoesNotFitNamesTheBatchAndTheLayer) {
  const Dataset data = random_images(64, 5);
  const snn::Network net = exact_net(data, NeuronModel::if_subtract, snn::InputEncoding::regular);
  batched::BatchedSimulator sim("batched-cpu", Device::cpu);
  SimOptions so = dense({});
  so.steps = 3, so.batch = 64;
  std::string msg;
  {
    const test::BoundedAllocator bounded(64 * 1024);  // 64 images' spikes into conv1 take 196 KiB
    msg = test::bad_input([&] { sim.simulate(net, data, so); });
  }
  for (const char* part : {"--batch: out of host memory", "[64,1,28,28] (196 KiB) (layer 'conv1')",
                           "64 images at once (--batch) do not fit on cpu"})
    EXPECT_NE(msg.find(part), std::string::npos) << part << "\n" << msg;
  so.batch = 4;
  EXPECT_NO_THROW(sim.simulate(net, data, so));
}

}  // namespace
}  // namespace sf
