// NIR export and import (backends/nir): the file checked by h5py against the schema (tests/nir_check.py), the
// round trip export → import → simulate against the original network, a graph laid out as other tools write
// it (tests/nir_foreign.py) against a numpy simulation of it, and the bad inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "backends/cpu/simulator.h"
#include "backends/nir/nir_export.h"
#include "backends/nir/nir_graph.h"
#include "backends/nir/nir_import.h"
#include "core/io.h"
#include "core/rng.h"
#include "interchange/import_run.h"
#include "tests/support.h"

namespace sf {
namespace {

using snn::LayerKind;
using test::bad_input;
using test::TempDir;

// Multiples of 1/16 (weights) and 1/8 (biases, pixels): every sum is exact in float32, so two simulators that
// add in different orders still agree spike for spike.
Tensor sixteenths(const Shape& s, Rng& rng, int lo, int hi) {
  Tensor t(s);
  for (int64_t i = 0; i < t.numel(); ++i)
    t[i] = static_cast<float>(lo + static_cast<int>(rng.uniform() * (hi - lo + 1))) / 16;
  return t;
}

// conv 4@3x3 (bias) → depthwise 3x3 stride 2 → spiking 2x2 pooling → [merged 2x2 pooling] conv 6@1x1 → dense 3
// (bias): every layer kind, merged pooling and both kinds of pooling.
// pool_weight: 1/k² exports an AvgPool2d, anything else a SumPool2d + Scale (both followed by more layers).
// merged = false drops the merged pooling, so the layer after the pooling population has no pooling at all.
snn::Network every_kind(snn::NeuronModel neuron, float pool_weight = 0.25f, bool merged = true) {
  Rng rng(11);
  snn::Network net;
  net.input_shape = {1, 8, 8};
  net.neuron = neuron;
  net.source = "every_kind";
  net.conversion = "robust";
  net.lif.tau_refrac = 0;  // NIR's CubaLIF has none
  auto add = [&](snn::Layer l) { net.layers.push_back(std::move(l)); };
  snn::Layer c;
  c.name = "conv";
  c.kind = LayerKind::conv;
  c.in_shape = {1, 8, 8}, c.out_shape = {4, 8, 8};
  c.kernel = 3, c.padding = 1;
  c.weight = sixteenths({4, 1, 3, 3}, rng, -4, 8);
  c.bias = sixteenths({4}, rng, 0, 2);
  add(c);
  snn::Layer d;
  d.name = "dw";
  d.kind = LayerKind::depthwise_conv;
  d.in_shape = {4, 8, 8}, d.out_shape = {4, 4, 4};
  d.kernel = 3, d.stride = 2, d.padding = 1;
  d.weight = sixteenths({4, 1, 3, 3}, rng, -2, 10);
  d.threshold = 0.75;
  add(d);
  snn::Layer p;
  p.name = "pool";
  p.kind = LayerKind::avgpool;
  p.in_shape = {4, 4, 4}, p.out_shape = {4, 2, 2};
  p.kernel = 2;
  p.pool_weight = pool_weight;
  p.threshold = 0.5;
  add(p);
  snn::Layer pw;
  pw.name = "pw";
  pw.kind = LayerKind::conv;
  pw.in_shape = {4, 2, 2}, pw.out_shape = {6, merged ? 1 : 2, merged ? 1 : 2};
  pw.pool_in = merged ? 2 : 0;
  pw.kernel = 1;
  pw.weight = sixteenths({6, 4, 1, 1}, rng, -4, 12);
  add(pw);
  snn::Layer fc;
  fc.name = "fc";
  fc.kind = LayerKind::dense;
  fc.in_shape = pw.out_shape, fc.out_shape = {3, 1, 1};
  fc.weight = sixteenths({3, numel(pw.out_shape)}, rng, -6, 10);
  fc.bias = sixteenths({3}, rng, -1, 1);
  add(fc);
  if (neuron == snn::NeuronModel::lif)  // nA-scale weights for IF_curr_exp
    for (auto& l : net.layers)
      if (l.weight.defined())
        for (int64_t i = 0; i < l.weight.numel(); ++i) l.weight[i] *= 4;
  snn::validate(net);
  return net;
}

Dataset eighths(int64_t n, const Shape& sample, uint64_t seed) {
  Rng rng(seed);
  Dataset d;
  d.name = "eighths";
  d.num_classes = 3;
  Shape s = sample;
  s.insert(s.begin(), n);
  d.images = Tensor(s);
  for (int64_t i = 0; i < d.images.numel(); ++i)
    d.images[i] = static_cast<float>(static_cast<int>(rng.uniform() * 9)) / 8;
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 3));
  return d;
}

SimResult simulate(const snn::Network& net, const Dataset& d, int steps) {
  cpu::CpuSimulator sim;
  SimOptions o;
  o.steps = steps;
  return sim.simulate(net, d, o);
}

std::string export_file(const snn::Network& net, const TempDir& dir, const std::string& name = "network.nir") {
  const std::string path = dir.file(name);
  nir::write_graph(path, nir::to_nir(net).graph);
  return path;
}

bool h5py_available() { return std::system("/usr/bin/python3 -c 'import h5py, numpy' >/dev/null 2>&1") == 0; }

int run_python(const std::string& args, const TempDir& dir, std::string* log) {
  const std::string out = dir.file("python.log");
  const int rc = std::system(("/usr/bin/python3 " + args + " >" + out + " 2>&1").c_str());
  *log = read_file(out);
  return rc;
}

TEST(NirExport, H5pyReadsTheSchemaNodesShapesAndEdges) {
  if (!h5py_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import h5py (scripts/setup.sh installs python3-h5py)";
  for (auto neuron : {snn::NeuronModel::if_subtract, snn::NeuronModel::lif}) {
    SCOPED_TRACE(snn::to_string(neuron));
    TempDir dir("nir");
    const std::string path = export_file(every_kind(neuron), dir);
    std::string log;
    ASSERT_EQ(run_python(SPIKEFORGE_SOURCE_DIR "/tests/nir_check.py " + path, dir, &log), 0) << log;
    EXPECT_NE(log.find("nir_check: ok"), std::string::npos) << log;
    // The chain as h5py walked it: a merged pooling before its conv, the spiking pooling as a pool population.
    const bool lif = neuron == snn::NeuronModel::lif;
    // i_offset is a bias current: LIF's pooling population is a depthwise Conv2d, which can hold it.
    for (const char* want : {"pw_pool AvgPool2d [4, 1, 1]", "fc_flatten Flatten [6]", "fc Affine [3]",
                             lif ? "pool Conv2d [4, 2, 2]" : "pool AvgPool2d [4, 2, 2]",
                             lif ? "conv_lif CubaLIF [4, 8, 8]" : "conv_if IF [4, 8, 8]"})
      EXPECT_NE(log.find(want), std::string::npos) << want << "\n" << log;
  }
}

TEST(NirExport, ExportExactIsWhatReadersRun) {
  snn::Network net = every_kind(snn::NeuronModel::if_subtract);
  net.v_init = 0.5, net.delay_steps = 1, net.lif.tau_refrac = 2;
  const snn::Network r = nir::as_nir_exported(net);
  EXPECT_EQ(r.neuron, snn::NeuronModel::if_reset_zero);
  EXPECT_EQ(r.v_init, 0);
  EXPECT_EQ(r.delay_steps, 0);
  EXPECT_EQ(r.lif.tau_refrac, 0) << "CubaLIF has no refractory period";
}

TEST(NirExport, ResetBySubtractionIsWarnedAbout) {
  const nir::Export e = nir::to_nir(every_kind(snn::NeuronModel::if_subtract));
  ASSERT_FALSE(e.notes.empty());
  EXPECT_NE(e.notes[0].find("reset by subtraction"), std::string::npos);
  EXPECT_NE(e.notes[0].find("--export-exact nir"), std::string::npos);
  EXPECT_TRUE(nir::to_nir(every_kind(snn::NeuronModel::if_reset_zero)).notes.empty());
}

// Export, import and simulate: the same spikes as the network exported.
void expect_round_trip(snn::NeuronModel neuron, snn::InputEncoding input, float pool_weight = 0.25f,
                       bool merged = true) {
  TempDir dir("nir");
  snn::Network net = every_kind(neuron, pool_weight, merged);
  net.input.kind = input;
  const std::string path = export_file(net, dir);
  nir::Import back = nir::network_from_nir(path);
  back.net.input = net.input;
  EXPECT_EQ(back.net.neuron, neuron == snn::NeuronModel::lif ? neuron : snn::NeuronModel::if_reset_zero);
  ASSERT_EQ(back.net.layers.size(), net.layers.size());
  const bool lif = neuron == snn::NeuronModel::lif;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    // LIF's pooling population carries i_offset, so it travels as a depthwise convolution of constant taps.
    const bool as_conv = lif && net.layers[i].kind == LayerKind::avgpool;
    EXPECT_EQ(back.net.layers[i].kind, as_conv ? LayerKind::depthwise_conv : net.layers[i].kind) << i;
    EXPECT_EQ(back.net.layers[i].pool_in, net.layers[i].pool_in) << i;
    if (!lif) {  // LIF: lif.v_thresh
      EXPECT_EQ(back.net.layers[i].threshold, net.layers[i].threshold) << i;
    }
  }
  if (lif) {
    EXPECT_EQ(back.net.lif.tau_syn, net.lif.tau_syn);
    EXPECT_EQ(back.net.lif.tau_m, net.lif.tau_m);
    EXPECT_EQ(back.net.lif.cm, net.lif.cm);
    EXPECT_EQ(back.net.lif.v_thresh, net.lif.v_thresh);
  }
  const Dataset d = eighths(1000, {1, 8, 8}, 5);
  const SimResult a = simulate(net, d, 60), b = simulate(back.net, d, 60);
  EXPECT_EQ(a.predicted, b.predicted);
  EXPECT_TRUE(a.output_counts == b.output_counts);
  for (size_t l = 0; l < a.layers.size(); ++l) EXPECT_EQ(a.layers[l].spikes, b.layers[l].spikes) << l;
  int64_t out = 0;
  for (int32_t c : a.output_counts) out += c;
  EXPECT_GT(out, 1000) << "the test network should spike";
}

TEST(NirRoundTrip, IfNetworkGivesTheSameSpikesOnAThousandImages) {
  expect_round_trip(snn::NeuronModel::if_reset_zero, snn::InputEncoding::current);
  expect_round_trip(snn::NeuronModel::if_reset_zero, snn::InputEncoding::poisson);
}

TEST(NirRoundTrip, SumPoolingWithAScaleBeforeMoreLayersGivesTheSameSpikes) {
  const nir::Export e = nir::to_nir(every_kind(snn::NeuronModel::if_reset_zero, 0.375f));
  ASSERT_NE(e.graph.find("pool"), nullptr);
  EXPECT_EQ(e.graph.find("pool")->type, "SumPool2d");
  ASSERT_NE(e.graph.find("pool_scale"), nullptr);
  expect_round_trip(snn::NeuronModel::if_reset_zero, snn::InputEncoding::current, 0.375f);
  expect_round_trip(snn::NeuronModel::if_reset_zero, snn::InputEncoding::current, 0.375f, false);
}

TEST(NirRoundTrip, CubaLifNetworkGivesTheSameSpikes) {
  expect_round_trip(snn::NeuronModel::lif, snn::InputEncoding::current);
}

TEST(NirImport, GraphInOtherToolsLayoutSimulatesAsNumpyDoes) {
  if (!h5py_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import h5py (scripts/setup.sh installs python3-h5py)";
  TempDir dir("nir");
  std::string log;
  ASSERT_EQ(run_python(SPIKEFORGE_SOURCE_DIR "/tests/nir_foreign.py " + dir.str(), dir, &log), 0) << log;
  nir::Import m = nir::network_from_nir(dir.file("foreign.nir"));
  ASSERT_EQ(m.net.layers.size(), 2u);
  EXPECT_EQ(m.net.layers[0].kind, LayerKind::conv);
  EXPECT_EQ(m.net.layers[1].kind, LayerKind::dense);
  EXPECT_EQ(m.net.layers[1].pool_in, 2) << "SumPool2d before the Affine merges into its weights";
  EXPECT_FLOAT_EQ(m.net.layers[0].bias[0], 0.125f) << "a bias of 125 per second is 0.125 per 1 ms step";
  ASSERT_FALSE(m.notes.empty());
  EXPECT_NE(m.notes[0].find("1 ms"), std::string::npos);
  m.net.input.kind = snn::InputEncoding::current;
  // The images and the numpy simulation's spike counts.
  std::vector<float> pixels;
  std::string text = read_file(dir.file("images.csv"));
  std::replace(text.begin(), text.end(), '\n', ',');
  std::istringstream images(text);
  for (std::string cell; std::getline(images, cell, ',');)
    if (!cell.empty()) pixels.push_back(std::stof(cell));
  ASSERT_EQ(pixels.size(), 40u * 64);
  Dataset d;
  d.name = "foreign";
  d.num_classes = 3;
  d.images = Tensor::from({40, 1, 8, 8}, pixels);
  d.labels.assign(40, 0);
  const SimResult r = simulate(m.net, d, 30);
  std::vector<int32_t> expected;
  std::istringstream counts(read_file(dir.file("expected.csv")));
  for (std::string line; std::getline(counts, line);) {
    std::istringstream f(line);
    for (std::string cell; std::getline(f, cell, ',');) expected.push_back(std::stoi(cell));
  }
  EXPECT_EQ(r.output_counts, expected);
}

// A graph written with our writer, then broken one way.
nir::Graph small_graph() { return nir::to_nir(every_kind(snn::NeuronModel::if_reset_zero)).graph; }

std::string import_error(nir::Graph g, const TempDir& dir) {
  const std::string path = dir.file("bad.nir");
  nir::write_graph(path, g);
  return bad_input([&] { nir::network_from_nir(path); });
}

TEST(NirImport, ANirFileUnderAnotherNameIsRecognised) {
  TempDir dir("nir");
  const std::string path = export_file(every_kind(snn::NeuronModel::if_reset_zero), dir, "network.h5");
  const std::string msg = bad_input([&] { load_any_model(path); });
  EXPECT_NE(msg.find(".nir name"), std::string::npos) << msg;
}

TEST(NirImport, TruncatedOrForeignFilesNameTheFile) {
  TempDir dir("nir");
  const std::string good = read_file(export_file(every_kind(snn::NeuronModel::if_reset_zero), dir));
  const std::string cut = dir.file("cut.nir"), text = dir.file("text.nir");
  write_file_atomic(cut, good.substr(0, good.size() / 2));
  write_file_atomic(text, "not hdf5");
  for (const std::string& p : {cut, text, dir.file("missing.nir")}) {
    const std::string msg = bad_input([&] { nir::network_from_nir(p); });
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

TEST(NirImport, AFileThatCrashesLibhdf5IsReportedAsCorrupt) {
  // Found by tests/fuzz/nir.cpp: libhdf5 1.10.8 reads through a null pointer in H5Gget_info on this file. The
  // reader runs in a child process, so the crash is this error.
  const std::string path = SPIKEFORGE_SOURCE_DIR "/tests/fuzz/corpus/nir/libhdf5_null_read.nir";
  const std::string msg = bad_input([&] { nir::network_from_nir(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupt"), std::string::npos) << msg;
}

TEST(NirImport, AFileOnWhichLibhdf5AllocatesGigabytesFailsInsideTheMemoryLimit) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sanitizer builds do not limit the reader's memory (their shadow memory exceeds any limit)";
#endif
  // Found by tests/fuzz/nir.cpp: without the reader's 2 GiB limit, libhdf5 grew to 20 GB on this file. With
  // it, the allocation fails inside the library, which reports a failed read: not a crash, not a hang.
  const std::string path = SPIKEFORGE_SOURCE_DIR "/tests/fuzz/corpus/nir/libhdf5_huge_allocation.nir";
  const std::string msg = bad_input([&] { nir::network_from_nir(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_EQ(msg.find("crashed"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("did not finish"), std::string::npos) << msg;
}

TEST(NirImport, AFileOnWhichLibhdf5LoopsForeverEndsAtTheDeadline) {
  // Found by tests/fuzz/nir.cpp: libhdf5 1.10.8 never returns on this file.
  const std::string path = SPIKEFORGE_SOURCE_DIR "/tests/fuzz/corpus/nir/libhdf5_endless_loop.nir";
  ::setenv("SPIKEFORGE_NIR_READ_TIMEOUT", "2", 1);
  const auto start = std::chrono::steady_clock::now();
  const std::string msg = bad_input([&] { nir::network_from_nir(path); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::unsetenv("SPIKEFORGE_NIR_READ_TIMEOUT");
  EXPECT_NE(msg.find("did not finish reading it in 2 s"), std::string::npos) << msg;
  EXPECT_LT(seconds, 30) << "the deadline, not the default 120 s";
}

TEST(NirImport, ANumberTypeOfAbsurdSizeIsRefusedBeforeLibhdf5AllocatesForIt) {
  // Found by tests/fuzz/nir.cpp: a field whose integer type claims gigabytes per value made libhdf5 allocate
  // 2 GB for its conversion buffer.
  const std::string path = SPIKEFORGE_SOURCE_DIR "/tests/fuzz/corpus/nir/huge_number_type.nir";
  const std::string msg = bad_input([&] { nir::network_from_nir(path); });
  EXPECT_NE(msg.find("number type"), std::string::npos) << msg;
}

TEST(NirImport, GraphsItCannotSimulateAreRefusedNamingTheNode) {
  TempDir dir("nir");
  nir::Graph recurrent = small_graph();
  recurrent.edges.push_back({"dw_if", "dw"});
  EXPECT_NE(import_error(recurrent, dir).find("node 'dw'"), std::string::npos);

  nir::Graph unknown = small_graph();
  for (auto& [name, n] : unknown.nodes)
    if (name == "pool") n.type = "Delay";
  const std::string msg = import_error(unknown, dir);
  EXPECT_NE(msg.find("node 'pool' (Delay)"), std::string::npos) << msg;

  nir::Graph branch = small_graph();
  branch.edges.push_back({"conv_if", "fc"});
  EXPECT_NE(import_error(branch, dir).find("node 'conv_if'"), std::string::npos);

  nir::Graph missing = small_graph();
  for (auto& [name, n] : missing.nodes)
    if (name == "fc_if") n.fields.erase("v_threshold");
  const std::string m2 = import_error(missing, dir);
  EXPECT_NE(m2.find("node 'fc_if' (IF)"), std::string::npos) << m2;
  EXPECT_NE(m2.find("v_threshold"), std::string::npos) << m2;

  nir::Graph per_neuron = small_graph();
  for (auto& [name, n] : per_neuron.nodes)
    if (name == "conv_if") n.fields["v_threshold"].numbers[3] = 2;
  EXPECT_NE(import_error(per_neuron, dir).find("differs between neurons"), std::string::npos);

  // The simulator has one set of LIF parameters per network: a layer with its own τm is refused.
  nir::Graph lif = nir::to_nir(every_kind(snn::NeuronModel::lif)).graph;
  for (auto& [name, n] : lif.nodes)
    if (name == "fc_lif")
      for (double& v : n.fields["tau_mem"].numbers) v = 0.03;
  const std::string m3 = import_error(lif, dir);
  EXPECT_NE(m3.find("node 'fc_lif' (CubaLIF)"), std::string::npos) << m3;
}

}  // namespace
}  // namespace sf
