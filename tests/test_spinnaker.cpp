// The SpiNNaker backend: connection-list expansion against the layer formulas, the resource report's 16-bit
// weight analysis, the export-exact network, the exported project run on pyNN.brian2 against the CPU
// backend in export-exact mode, and run.py's template (embedded, compiled and linted).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "backends/cpu/simulator.h"
#include "backends/snn/converter.h"
#include "backends/spinnaker/exporter.h"
#include "backends/spinnaker/project_files.h"
#include "backends/spinnaker/run_template.h"
#include "core/error.h"
#include "models/zoo.h"

namespace sf {
namespace {

namespace fs = std::filesystem;
using spinnaker::Synapse;

// The layer as a dense [post, pre] matrix computed straight from the formulas (a pooled input averages its
// P×P block; conv out[o,y,x] reads in[c, y·S + ky − pad, x·S + kx − pad]).
std::vector<double> reference_matrix(const snn::Layer& l) {
  const int64_t pre = numel(l.in_shape), post = l.neurons();
  std::vector<double> m(pre * post, 0.0);
  const int64_t C = l.in_shape[0], H = l.in_shape[1], W = l.in_shape[2], P = std::max(l.pool_in, 1);
  const int64_t ph = H / P, pw = W / P, O = l.out_shape[0], OH = l.out_shape[1], OW = l.out_shape[2];
  auto pooled = [&](int64_t c, int64_t y, int64_t x, int64_t to, double w) {
    for (int64_t dy = 0; dy < P; ++dy)
      for (int64_t dx = 0; dx < P; ++dx) m[to * pre + (c * H + y * P + dy) * W + x * P + dx] += w / (P * P);
  };
  if (l.kind == snn::LayerKind::dense) {
    for (int64_t o = 0; o < O; ++o)
      for (int64_t j = 0; j < C * ph * pw; ++j) pooled(j / (ph * pw), j / pw % ph, j % pw, o, l.weight[o * C * ph * pw + j]);
    return m;
  }
  for (int64_t o = 0; o < O; ++o)
    for (int64_t y = 0; y < OH; ++y)
      for (int64_t x = 0; x < OW; ++x)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t ky = 0; ky < l.kernel; ++ky)
            for (int64_t kx = 0; kx < l.kernel; ++kx) {
              const int64_t iy = y * l.stride + ky - l.padding, ix = x * l.stride + kx - l.padding;
              if (iy >= 0 && ix >= 0 && iy < ph && ix < pw)
                pooled(c, iy, ix, (o * OH + y) * OW + x, l.weight[((o * C + c) * l.kernel + ky) * l.kernel + kx]);
            }
  return m;
}

std::vector<double> expanded_matrix(const snn::Layer& l, int64_t* duplicates) {
  const int64_t pre = numel(l.in_shape);
  std::vector<double> m(pre * l.neurons(), 0.0);
  std::map<std::pair<int32_t, int32_t>, int> seen;
  *duplicates = 0;
  for (const Synapse& s : spinnaker::expand_layer(l)) {
    m[s.post * pre + s.pre] += s.weight;
    *duplicates += seen[{s.pre, s.post}]++ > 0;
  }
  return m;
}

Tensor signed_ramp(Shape s) {
  Tensor t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = 0.05f * static_cast<float>((i * 5) % 13 - 6);  // includes zeros
  return t;
}

TEST(SpinnakerExportTest, ConnectionListsMatchTheLayerFormulas) {
  std::vector<snn::Layer> layers(3);
  layers[0].name = "conv", layers[0].kind = snn::LayerKind::conv, layers[0].in_shape = {2, 10, 10};
  layers[0].pool_in = 2, layers[0].kernel = 3, layers[0].stride = 2, layers[0].padding = 1;
  layers[0].out_shape = {3, 3, 3}, layers[0].weight = signed_ramp({3, 2, 3, 3});
  layers[1].name = "fc", layers[1].kind = snn::LayerKind::dense, layers[1].in_shape = {3, 4, 4};
  layers[1].pool_in = 2, layers[1].out_shape = {5, 1, 1}, layers[1].weight = signed_ramp({5, 12});
  layers[2].name = "pool", layers[2].kind = snn::LayerKind::avgpool, layers[2].in_shape = {2, 4, 4};
  layers[2].kernel = layers[2].stride = 2, layers[2].out_shape = {2, 2, 2}, layers[2].pool_weight = 0.25f;
  for (const auto& l : layers) {
    int64_t duplicates = 0;
    const auto got = expanded_matrix(l, &duplicates);
    const auto want = l.kind == snn::LayerKind::avgpool ? std::vector<double>() : reference_matrix(l);
    EXPECT_EQ(duplicates, 0) << l.name;
    if (l.kind == snn::LayerKind::avgpool) {
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t y = 0; y < 4; ++y)
          for (int64_t x = 0; x < 4; ++x)
            EXPECT_FLOAT_EQ(got[((c * 2 + y / 2) * 2 + x / 2) * 32 + (c * 4 + y) * 4 + x], 0.25);
      continue;
    }
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6) << l.name << " entry " << i;
  }
}

TEST(SpinnakerExportTest, ReportCountsChipsPerPopulationAndTheBoardsANetNeeds) {
  // 1 input → 300,000 dense neurons: 1,172 cores at 256 per core, more than a 48-chip board's 768.
  snn::Network net;
  net.input_shape = {1, 1, 1};
  snn::Layer l;
  l.name = "wide", l.kind = snn::LayerKind::dense, l.in_shape = {1, 1, 1}, l.out_shape = {300000, 1, 1};
  l.weight = Tensor::full({300000, 1}, 0.5f);
  net.layers.push_back(l);
  const spinnaker::Report r = spinnaker::analyse(net, 256);
  ASSERT_EQ(r.populations.size(), 2u);
  EXPECT_EQ(r.populations[1].cores, 1172);
  EXPECT_EQ(r.populations[1].chips, 74);  // 1,172 / 16 cores per chip
  // 4 B per synapse + a 12 B row header + 128 B of state per neuron.
  EXPECT_NEAR(r.populations[1].sdram_mb, (4.0 * 300000 + 12 + 128.0 * 300000) / (1024.0 * 1024.0), 1e-9);
  EXPECT_EQ(r.cores, 1173);
  EXPECT_EQ(r.boards, 2);
  ASSERT_EQ(r.board_limits.size(), 1u);
  EXPECT_EQ(r.board_limits[0], "cores: 1173 needed, a 48-chip board has 768 application cores");
  EXPECT_NE(r.text().find("needs 2 48-chip SpiNN-5 boards: cores: 1173 needed"), std::string::npos) << r.text();
  EXPECT_NE(r.json().find("\"boards\": 2"), std::string::npos);
  net.layers[0].out_shape = {1000, 1, 1};
  net.layers[0].weight = Tensor::full({1000, 1}, 0.5f);
  const spinnaker::Report small = spinnaker::analyse(net, 256);
  EXPECT_EQ(small.boards, 1);
  EXPECT_TRUE(small.board_limits.empty());
  EXPECT_NE(small.text().find("fits one 48-chip SpiNN-5 board"), std::string::npos);
}

TEST(SpinnakerExportTest, ReportQuantisesWeightsPerSynapseType) {
  // One dense layer 3 → 2: neuron 0 receives 1.0, 0.5 and a tiny 1e-6 (fan-in 3), neuron 1 an inhibitory −0.25.
  // sPyNNaker's bound M = max|w| × max fan-in: excitatory 3 → shift 2 → LSB 2^(2 − 15); inhibitory 0.25 →
  // shift 0 → LSB 2^−15.
  snn::Network net;
  net.input_shape = {3, 1, 1};
  snn::Layer l;
  l.name = "fc", l.kind = snn::LayerKind::dense, l.in_shape = {3, 1, 1}, l.out_shape = {2, 1, 1};
  l.weight = Tensor::from({2, 3}, {1.0f, 0.5f, 1e-6f, 0.0f, -0.25f, 0.0f});
  net.layers.push_back(l);
  const spinnaker::Report r = spinnaker::analyse(net, 256);
  ASSERT_EQ(r.projections.size(), 2u);
  const auto& exc = r.projections[0];
  EXPECT_EQ(exc.synapses, 3);
  EXPECT_EQ(exc.longest_row, 1);
  EXPECT_DOUBLE_EQ(exc.weight_lsb, std::ldexp(1.0, 2 - 15));
  EXPECT_EQ(exc.zero_weights, 1);  // 1e-6 < LSB / 2
  const auto& inh = r.projections[1];
  EXPECT_EQ(inh.synapses, 1);
  EXPECT_DOUBLE_EQ(inh.weight_lsb, std::ldexp(1.0, -15));
  // M exactly a power of two takes one more bit (a weight of 2^shift would not fit in 16 bits otherwise).
  snn::Network pow2 = net;
  pow2.layers[0].weight = Tensor::from({2, 3}, {2.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f});
  EXPECT_DOUBLE_EQ(spinnaker::analyse(pow2, 256).projections[0].weight_lsb, std::ldexp(1.0, 2 - 15));
  // Names become file names: they must be unique and safe.
  snn::Network twice = net;
  twice.layers[0].name = "../fc";
  EXPECT_THROW(spinnaker::analyse(twice, 256), Error);
  ASSERT_FALSE(r.warnings.empty());  // 1 of 3 excitatory weights lost: more than 1 %
  EXPECT_NE(r.warnings[0].find("fc_exc"), std::string::npos) << r.warnings[0];
  EXPECT_EQ(r.cores, 2);  // input and fc, one core each
  EXPECT_THROW(spinnaker::analyse(net, 0), Error);
  EXPECT_THROW(spinnaker::analyse(net, 257), Error);

  // Export-exact: weights on the LSB grid (the tiny one gone), reset by subtraction becomes reset to zero.
  net.neuron = snn::NeuronModel::if_subtract;
  const snn::Network exact = spinnaker::as_exported(net, true);
  EXPECT_EQ(exact.neuron, snn::NeuronModel::if_reset_zero);
  EXPECT_EQ(exact.layers[0].weight[2], 0.0f);
  EXPECT_EQ(exact.layers[0].weight[0], 1.0f);
  EXPECT_EQ(net.layers[0].weight[2], 1e-6f);  // the original is untouched
}

// ---- the exported project on pyNN.brian2 --------------------------------------------------------------------

bool pynn_brian2_available() { return std::system("/usr/bin/python3 -c 'import pyNN.brian2' >/dev/null 2>&1") == 0; }

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The exported project run on pyNN.brian2 against the CPU backend simulating the export exactly (same input
// spikes): classes that agree, and output spike totals.
struct Brian2Comparison {
  int images = 0, agree = 0;
  int64_t brian_total = 0, cpu_total = 0, worst = 0;
  std::string last_line, log;
};

Brian2Comparison compare_on_brian2(const snn::Network& net, const Dataset& data, int steps, const std::string& tag) {
  const fs::path dir = fs::temp_directory_path() / ("spikeforge_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  spinnaker::ExportOptions eo;
  eo.out_dir = dir.string();
  eo.images = data.size();
  eo.steps = steps;
  spinnaker::export_project(net, data, eo);
  EXPECT_THROW(spinnaker::export_project(net, data, eo), Error);  // not empty, no --force
  eo.force = true;
  spinnaker::export_project(net, data, eo);

  SimOptions so;
  so.steps = steps;
  const SimResult cpu = cpu::CpuSimulator().simulate(spinnaker::as_exported(net, true), data, so);

  Brian2Comparison c;
  const std::string log = (dir / "brian2.log").string();
  const std::string cmd = "cd " + dir.string() + " && /usr/bin/python3 run.py --simulator brian2 --images " +
                          std::to_string(data.size()) + " > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  c.log = read_all(log);
  EXPECT_EQ(rc, 0) << c.log;
  std::istringstream lines(c.log);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty()) c.last_line = line;
    int image, label, predicted;
    char spikes[512];
    if (std::sscanf(line.c_str(), "image=%d label=%d predicted=%d spikes=%511s", &image, &label, &predicted, spikes) != 4)
      continue;
    ++c.images;
    c.agree += predicted == cpu.predicted[image];
    std::istringstream counts(spikes);
    std::string n;
    for (int k = 0; std::getline(counts, n, ','); ++k) {
      const int64_t b = std::stoll(n), s = cpu.output_counts[image * 10 + k];
      c.brian_total += b, c.cpu_total += s;
      c.worst = std::max(c.worst, std::abs(b - s));
    }
  }
  std::printf("[ brian2 ] %s: agree=%d/%d output spikes brian2=%lld cpu=%lld largest per-neuron difference=%lld\n",
              tag.c_str(), c.agree, c.images, static_cast<long long>(c.brian_total),
              static_cast<long long>(c.cpu_total), static_cast<long long>(c.worst));
  fs::remove_all(dir);
  return c;
}

Dataset random_images(int64_t n, Shape image, uint64_t seed) {
  Dataset data;
  data.name = "random";
  data.images = Tensor({n, image[0], image[1], image[2]});
  Rng rng(seed);
  for (int64_t i = 0; i < data.images.numel(); ++i) data.images[i] = rng.uniform() < 0.25 ? static_cast<float>(rng.uniform()) : 0.0f;
  for (int64_t i = 0; i < n; ++i) data.labels.push_back(static_cast<int>(i % 10));
  data.num_classes = 10;
  return data;
}

// A Liu net with Glorot-random weights (no training needed: the point is that the export and the CPU
// backend in export-exact mode simulate the same network), LIF with Liu's mapping, 10 random images, 300 steps.
TEST(SpinnakerExportTest, ExportedProjectRunsOnBrian2AndAgreesWithCpuExportExact) {
  if (!pynn_brian2_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import pyNN.brian2 (scripts/setup.sh installs it)";
  ModelSpec spec;
  spec.dense_bias = false;
  const Model m = build_model(spec, 7);
  const Dataset data = random_images(10, {1, 28, 28}, 5);
  snn::ConvertOptions o;
  o.norm = snn::Norm::none;
  o.neuron = snn::NeuronModel::lif;
  snn::Network net = snn::convert(m, data, o).net;
  for (auto& l : net.layers)  // random weights are too weak for Liu's nA mapping: scale up so every layer fires
    if (l.weight.defined())
      for (int64_t i = 0; i < l.weight.numel(); ++i) l.weight[i] *= 3.0f;
  const Brian2Comparison c = compare_on_brian2(net, data, 300, "lif");
  EXPECT_EQ(c.images, 10) << c.log;
  EXPECT_EQ(c.last_line.rfind("accuracy=", 0), 0u) << c.last_line;
  EXPECT_GT(c.brian_total, 0);  // it spikes
  EXPECT_GE(c.agree, 9);
  // Same input spikes, same neuron semantics; what differs is float32 vs float64 and the 16-bit weights the
  // CPU side uses (Brian2 gets the exact values): a few spikes per neuron over 300 steps, a few % in total.
  EXPECT_NEAR(static_cast<double>(c.brian_total), static_cast<double>(c.cpu_total), 0.05 * c.cpu_total + 10);
}

// IF neurons take another path on Brian2 (IF_curr_exp with τsyn = dt/100 standing in for IF_curr_delta, whose
// Brian2 form wipes input arriving in a spike step): a small data-normalised IF net with merged pooling
// (1×12×12 → 4c5 → pool → dense 10; the Liu net's 400k IF synapses take minutes to build in pyNN.brian2).
TEST(SpinnakerExportTest, ExportedIfProjectRunsOnBrian2AndAgreesWithCpuExportExact) {
  if (!pynn_brian2_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import pyNN.brian2 (scripts/setup.sh installs it)";
  const Dataset data = random_images(10, {1, 12, 12}, 9);
  snn::Network net;
  net.input_shape = {1, 12, 12};
  net.neuron = snn::NeuronModel::if_reset_zero;
  net.input = {snn::InputEncoding::poisson, 500.0};
  net.delay_steps = 1;
  Rng rng(11);
  auto random_weights = [&](Shape s, float lo, float hi) {
    Tensor t(s);
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = lo + (hi - lo) * static_cast<float>(rng.uniform());
    return t;
  };
  net.layers.resize(2);
  snn::Layer& conv = net.layers[0];
  conv.name = "conv", conv.in_shape = {1, 12, 12}, conv.out_shape = {4, 8, 8}, conv.kernel = 5;
  conv.weight = random_weights({4, 1, 5, 5}, -0.1f, 0.25f);
  snn::Layer& fc = net.layers[1];
  fc.name = "fc", fc.kind = snn::LayerKind::dense, fc.in_shape = {4, 8, 8}, fc.pool_in = 2, fc.out_shape = {10, 1, 1};
  fc.weight = random_weights({10, 64}, -0.2f, 0.25f);
  fc.bias = random_weights({10}, -0.02f, 0.02f);
  const Brian2Comparison c = compare_on_brian2(net, data, 200, "if");
  EXPECT_EQ(c.images, 10) << c.log;
  EXPECT_GT(c.brian_total, 0);
  EXPECT_GE(c.agree, 9);
  EXPECT_NEAR(static_cast<double>(c.brian_total), static_cast<double>(c.cpu_total), 0.05 * c.cpu_total + 10);
}

// ---- --conv-connector convolution ---------------------------------------------------------------------------

TEST(SpinnakerExportTest, ConvolutionConnectorTakesOnlyLayersSpynnakerComputesExactly) {
  snn::Layer l;
  l.name = "c", l.kind = snn::LayerKind::conv, l.in_shape = {2, 8, 8}, l.out_shape = {3, 8, 8};
  l.kernel = 3, l.padding = 1;
  EXPECT_EQ(spinnaker::convolution_unsupported(l), "");
  l.padding = 0, l.out_shape = {3, 6, 6};
  EXPECT_EQ(spinnaker::convolution_unsupported(l), "");
  l.kind = snn::LayerKind::depthwise_conv;
  EXPECT_EQ(spinnaker::convolution_unsupported(l), "");
  auto refused = [](snn::Layer x, const char* why) {
    EXPECT_NE(spinnaker::convolution_unsupported(x).find(why), std::string::npos) << spinnaker::convolution_unsupported(x);
  };
  snn::Layer s = l;
  s.stride = 2;
  refused(s, "stride 2");
  snn::Layer e = l;
  e.kernel = 2;
  refused(e, "even kernel");
  snn::Layer p = l;
  p.kernel = 5, p.padding = 1;
  refused(p, "padding 1");
  p.padding = 2, p.out_shape = {3, 8, 8};
  EXPECT_EQ(spinnaker::convolution_unsupported(p), "");
  snn::Layer q = l;
  q.pool_in = 3;
  refused(q, "pooling");
  snn::Layer d = l;
  d.kind = snn::LayerKind::dense;
  refused(d, "not a convolution");
}

bool pynn_available() { return std::system("/usr/bin/python3 -c 'import pyNN.space, numpy' >/dev/null 2>&1") == 0; }

// Exports NET with --conv-connector convolution and runs tests/spinnaker_convolution_check.py on it: run.py's
// sPyNNaker network (per-channel Grid2D populations, one ConvolutionConnector per kernel, lists elsewhere),
// expanded with sPyNNaker 7's convolution semantics, must be exactly the synapses of the connection lists.
spinnaker::Report check_convolution_export(const snn::Network& net, const std::string& tag) {
  const Dataset data = random_images(2, net.input_shape, 3);
  const fs::path dir = fs::temp_directory_path() / ("spikeforge_conv_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  spinnaker::ExportOptions eo;
  eo.out_dir = dir.string();
  eo.images = 2;
  eo.steps = 20;
  eo.neurons_per_core = 64;
  eo.conv_connector = spinnaker::ConvConnector::convolution;
  const spinnaker::Report report = spinnaker::export_project(net, data, eo);
  const std::string log = (dir / "check.log").string();
  const std::string cmd = "/usr/bin/python3 " SPIKEFORGE_SOURCE_DIR "/tests/spinnaker_convolution_check.py " +
                          dir.string() + " > " + log + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << read_all(log);
  EXPECT_NE(read_all(log).find("convolution_check ok"), std::string::npos) << read_all(log);
  fs::remove_all(dir);
  return report;
}

// Same padding (5×5: padding 2, which sPyNNaker only reads from a number), a depthwise layer, a spiking pooling layer between per-channel populations, and a stride-2
// convolution that sPyNNaker 7 would get wrong, so it stays a list (split over the per-channel populations).
TEST(SpinnakerExportTest, ConvolutionExportBuildsTheListsSynapsesOnSpynnaker) {
  if (!pynn_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import pyNN (scripts/setup.sh installs it)";
  snn::Network net;
  net.input_shape = {2, 8, 8};
  net.neuron = snn::NeuronModel::if_reset_zero;
  net.input = {snn::InputEncoding::poisson, 500.0};
  net.delay_steps = 1;
  std::vector<snn::Layer>& ls = net.layers;
  ls.resize(5);
  ls[0].name = "same", ls[0].in_shape = {2, 8, 8}, ls[0].out_shape = {3, 8, 8}, ls[0].kernel = 5, ls[0].padding = 2;
  ls[0].weight = signed_ramp({3, 2, 5, 5});
  ls[0].bias = signed_ramp({3});
  ls[1].name = "dw", ls[1].kind = snn::LayerKind::depthwise_conv, ls[1].in_shape = {3, 8, 8};
  ls[1].out_shape = {3, 6, 6}, ls[1].kernel = 3, ls[1].weight = signed_ramp({3, 1, 3, 3});
  ls[1].bias = signed_ramp({3});
  ls[2].name = "pool", ls[2].kind = snn::LayerKind::avgpool, ls[2].in_shape = {3, 6, 6}, ls[2].out_shape = {3, 3, 3};
  ls[2].kernel = ls[2].stride = 2, ls[2].pool_weight = 0.25f;
  ls[3].name = "strided", ls[3].in_shape = {3, 3, 3}, ls[3].out_shape = {4, 2, 2}, ls[3].kernel = 3;
  ls[3].stride = 2, ls[3].padding = 1, ls[3].weight = signed_ramp({4, 3, 3, 3});
  ls[4].name = "fc", ls[4].kind = snn::LayerKind::dense, ls[4].in_shape = {4, 2, 2}, ls[4].out_shape = {10, 1, 1};
  ls[4].weight = signed_ramp({10, 16});
  const spinnaker::Report r = check_convolution_export(net, "mixed");
  EXPECT_EQ(r.convolution_layers, (std::vector<std::string>{"same", "dw"}));
  // Per-channel populations: input (read by "same"), "same", "dw" (a convolution) and "pool" (feeding none).
  ASSERT_EQ(r.populations.size(), 6u);
  for (size_t i = 0; i < r.populations.size(); ++i) EXPECT_EQ(r.populations[i].channels > 0, i <= 2) << i;
  EXPECT_EQ(r.populations[1].tile_w, 8);  // 8×8 maps at 64 neurons per core: one tile each
  EXPECT_EQ(r.populations[1].cores, 3);
  bool warned = false;
  for (const auto& w : r.warnings) warned |= w.find("strided") != std::string::npos && w.find("stride 2") != std::string::npos;
  EXPECT_TRUE(warned) << r.text();
}

// The Liu net as tensor_genn converts it: IF neurons, both pooling layers merged into the next layer (the
// connector's pool_shape / pool_stride), so conv2's kernels read the 24×24 conv1 maps through a 2×2 average.
TEST(SpinnakerExportTest, ConvolutionExportOfTheLiuNetWithMergedPooling) {
  if (!pynn_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import pyNN (scripts/setup.sh installs it)";
  const Model m = build_model(ModelSpec{}, 7);
  const Dataset data = random_images(4, {1, 28, 28}, 5);
  snn::ConvertOptions o;
  o.norm = snn::Norm::data;
  o.neuron = snn::NeuronModel::if_reset_zero;
  const snn::Network net = snn::convert(m, data, o).net;
  ASSERT_EQ(net.layers.size(), 3u) << "pooling merged";
  EXPECT_EQ(net.layers[1].pool_in, 2);
  const spinnaker::Report r = check_convolution_export(net, "liu");
  EXPECT_EQ(r.convolution_layers, (std::vector<std::string>{"conv1", "conv2"}));
  // conv1's 24×24 maps at 64 neurons per core: 24×2 tiles, 12 cores per channel.
  EXPECT_EQ(r.populations[1].tile_w, 24);
  EXPECT_EQ(r.populations[1].tile_h, 2);
  EXPECT_EQ(r.populations[1].cores, 6 * 12);
}


// ---- run.py: a real Python file (backends/spinnaker/run_template.py), embedded at build time, linted --------

const fs::path kRunTemplate = fs::path(SPIKEFORGE_SOURCE_DIR) / "backends/spinnaker/run_template.py";

// The template, and the run.py an export writes from it (its constants set), in a fresh folder.
fs::path write_run_py_files() {
  const fs::path dir = fs::temp_directory_path() / ("spikeforge_runpy_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "run.py") << spinnaker::run_py(123, 64);
  return dir;
}

// Runs `command` through the shell; its output in *log.
int run_logged(const std::string& command, const fs::path& dir, std::string* log) {
  const std::string out = (dir / "command.log").string();
  const int rc = std::system((command + " > " + out + " 2>&1").c_str());
  *log = read_all(out);
  return rc;
}

TEST(SpinnakerRunPyTest, IsTheTemplateWithTheExportsConstants) {
  std::string expected = read_all(kRunTemplate.string());
  ASSERT_FALSE(expected.empty()) << kRunTemplate;
  EXPECT_EQ(std::string(spinnaker::run_template()), expected) << "the embedded text is not the file";
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"\nSTEPS = 1000\n", "\nSTEPS = 123\n"},
                                 {"\nNEURONS_PER_CORE = 256\n", "\nNEURONS_PER_CORE = 64\n"}}) {
    const size_t p = expected.find(from);
    ASSERT_NE(p, std::string::npos) << from;
    expected.replace(p, from.size(), to);
  }
  EXPECT_EQ(spinnaker::run_py(123, 64), expected);
}

TEST(SpinnakerRunPyTest, CompilesWithPyCompile) {
  if (std::system("/usr/bin/python3 -c pass >/dev/null 2>&1") != 0) GTEST_SKIP() << "no /usr/bin/python3";
  const fs::path dir = write_run_py_files();
  for (const fs::path& file : {kRunTemplate, dir / "run.py"}) {
    std::string log;
    // The byte code goes to the temp folder, not next to the template.
    const int rc = run_logged("PYTHONPYCACHEPREFIX=" + (dir / "pycache").string() + " /usr/bin/python3 -m py_compile " +
                                  file.string(),
                              dir, &log);
    EXPECT_EQ(rc, 0) << file << "\n" << log;
  }
  fs::remove_all(dir);
}

TEST(SpinnakerRunPyTest, IsPyflakesClean) {
  if (std::system("/usr/bin/python3 -m pyflakes --version >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "pyflakes is not installed for /usr/bin/python3 (Debian: apt install python3-pyflakes)";
  const fs::path dir = write_run_py_files();
  for (const fs::path& file : {kRunTemplate, dir / "run.py"}) {
    std::string log;
    EXPECT_EQ(run_logged("/usr/bin/python3 -m pyflakes " + file.string(), dir, &log), 0) << file << "\n" << log;
    EXPECT_EQ(log, "") << file;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sf
