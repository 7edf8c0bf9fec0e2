// The backend interface: the registry, backends registered from here (a fake exporter and a fake simulator)
// that the conversion driver runs unchanged, and the combinations the driver refuses from a backend's
// capabilities before anything is loaded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/conversion_run.h"
#include "backends/cpu/simulator.h"
#include "core/error.h"
#include "train/run.h"

namespace sf {
namespace {

namespace fs = std::filesystem;

// ---- a tiny trained checkpoint on synthetic MNIST-format data (shared by the tests of this file) -------------

void put_u32_be(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}

void write_split(const fs::path& dir, const std::string& prefix, int n, std::mt19937& rng) {
  std::string images, labels;
  put_u32_be(images, 0x00000803), put_u32_be(images, n), put_u32_be(images, 28), put_u32_be(images, 28);
  put_u32_be(labels, 0x00000801), put_u32_be(labels, n);
  for (int i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % 10);
    labels.push_back(static_cast<char>(c));
    std::string img(784, '\0');
    for (int y = 4 + (c / 5) * 12; y < 10 + (c / 5) * 12; ++y)
      for (int x = 2 + (c % 5) * 5; x < 8 + (c % 5) * 5; ++x) img[y * 28 + x] = static_cast<char>(200 + rng() % 56);
    images += img;
  }
  std::ofstream(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary) << images;
  std::ofstream(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary) << labels;
}

class BackendDriverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / ("spikeforge_backends_" + std::to_string(::getpid())));
    fs::remove_all(*root_);
    fs::create_directories(data_dir());
    std::mt19937 rng(7);
    write_split(data_dir(), "train", 60, rng);
    write_split(data_dir(), "t10k", 20, rng);
    const std::string config = std::string(SPIKEFORGE_SOURCE_DIR) + "/experiments/mnist_relu.yaml";
    run_experiment(load_experiment(config, {"train.epochs=1", "train.batch=10", "threads=1",
                                            "dataset.path=" + data_dir().string()}),
                   {(*root_ / "run").string(), nullptr});
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*root_, ec);
    delete root_;
  }
  static fs::path data_dir() { return *root_ / "data"; }
  static ConvertRunOptions options(const std::string& backend, const std::string& out) {
    ConvertRunOptions o;
    o.checkpoint = (*root_ / "run/model.sfm").string();
    o.data_dir = data_dir().string();
    o.backend = backend;
    o.out_dir = (*root_ / out).string();
    o.sim.steps = 20;
    o.quiet = true;
    return o;
  }
  static fs::path* root_;
};
fs::path* BackendDriverTest::root_ = nullptr;

std::string bad_input(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// ---- the fakes ------------------------------------------------------------------------------------------------

// Writes the network it receives and reports what it was asked; takes IF neurons only, reset to a value,
// Poisson input, and a flag of its own.
struct FakeExporterLog {
  int checks = 0, exports = 0;
  int64_t images = 0;
  int steps = 0;
  size_t layers = 0;
  std::string dir;
};
FakeExporterLog fake_log;

class FakeExporter final : public Backend {
 public:
  std::string name() const override { return "fake_exporter"; }
  Capabilities capabilities() const override {
    Capabilities c;
    c.exports = true;
    c.neurons = {snn::NeuronModel::if_reset_zero, snn::NeuronModel::if_subtract};
    c.resets = {ResetMode::to_value};
    c.inputs = {snn::InputEncoding::poisson};
    c.options = {"--fake-level", "--force"};
    c.default_images = 3;
    return c;
  }
  void check_export(const std::string& dir, const ExportOptions&) const override { ++fake_log.checks; }
  ExportResult export_to(const snn::Network& net, const Dataset& test, const ExportOptions& opts,
                         const std::string& dir) override {
    ++fake_log.exports;
    fake_log.images = opts.images, fake_log.steps = opts.steps, fake_log.layers = net.layers.size();
    fake_log.dir = dir;
    fs::create_directories(dir);
    std::ofstream(fs::path(dir) / "fake.json") << snn::to_json(net);
    return {"fake report", "fake: wrote " + dir + "/fake.json\n", 0.0};
  }
};

// The CPU simulator under another name, counting its runs (spike-norm calibration included), event only.
int fake_sim_runs = 0;
class FakeSimulator final : public Backend {
 public:
  std::string name() const override { return "fake_sim"; }
  Capabilities capabilities() const override {
    Capabilities c = cpu::CpuSimulator().capabilities();
    c.propagations = {Propagation::event};
    c.options = {"--record-input"};
    return c;
  }
  SimResult simulate(const snn::Network& net, const Dataset& data, const SimOptions& opts) override {
    ++fake_sim_runs;
    return cpu::CpuSimulator().simulate(net, data, opts);
  }
};

// Registers the fakes for one test.
struct Registered {
  Registered() {
    register_backend("fake_exporter", [] { return std::make_unique<FakeExporter>(); });
    register_backend("fake_sim", [] { return std::make_unique<FakeSimulator>(); });
    fake_log = {};
    fake_sim_runs = 0;
  }
  ~Registered() {
    unregister_backend("fake_exporter");
    unregister_backend("fake_sim");
  }
};

// ---- the registry ---------------------------------------------------------------------------------------------

TEST(BackendRegistryTest, KnownNamesAndTheirCapabilities) {
  EXPECT_EQ(backend_names(), (std::vector<std::string>{"cpu", "cuda", "nir", "spinnaker"}));
  const std::string unknown = bad_input([] { make_backend("loihi"); });
  EXPECT_EQ(unknown, "--backend: unknown backend 'loihi' (cpu, cuda, nir, spinnaker)");
  // The GPU simulator is always registered; a machine or build without a GPU refuses it before converting.
  if (!device_available(Device::cuda)) {
    EXPECT_EQ(bad_input([] { make_backend("cuda")->check_ready(); }),
              "--backend: " + device_unavailable_reason(Device::cuda));
  }
  const Capabilities cpu = make_backend("cpu")->capabilities();
  EXPECT_TRUE(cpu.simulates);
  EXPECT_FALSE(cpu.exports);
  const Capabilities sp = make_backend("spinnaker")->capabilities();
  EXPECT_TRUE(sp.exports);
  EXPECT_FALSE(sp.simulates);
  EXPECT_EQ(sp.default_images, 100);
  const Capabilities nir = make_backend("nir")->capabilities();
  EXPECT_TRUE(nir.exports);
  EXPECT_FALSE(nir.simulates);
  EXPECT_EQ(nir.resets, std::vector<ResetMode>{ResetMode::to_value}) << "NIR has no reset by subtraction";
  EXPECT_EQ(backend_options(),
            (std::vector<std::string>{"--batch", "--conv-connector", "--export-exact", "--first-image", "--force",
                                      "--neurons-per-core", "--propagation", "--record-input"}));
  {
    Registered fakes;
    EXPECT_EQ(make_backend("fake_exporter")->name(), "fake_exporter");
    const auto names = backend_names();
    EXPECT_NE(std::find(names.begin(), names.end(), "fake_sim"), names.end());
    const auto options = backend_options();
    EXPECT_NE(std::find(options.begin(), options.end(), "--fake-level"), options.end());
    EXPECT_NE(bad_input([] { make_backend("nope"); }).find("fake_exporter, fake_sim"), std::string::npos);
  }
  EXPECT_EQ(backend_names().size(), 4u);
  // A backend asked for what it does not do says so.
  SimOptions so;
  EXPECT_NE(bad_input([&] { make_backend("spinnaker")->simulate({}, Dataset{}, so); }).find("does not simulate"),
            std::string::npos);
  EXPECT_NE(bad_input([&] { make_backend("cpu")->export_to({}, Dataset{}, {}, "x"); }).find("does not export"),
            std::string::npos);
}

// ---- the driver with backends it has never heard of --------------------------------------------------------

TEST_F(BackendDriverTest, RunsARegisteredExporter) {
  Registered fakes;
  ConvertRunOptions o = options("fake_exporter", "fake_out");
  o.flags_given = {"--fake-level", "--force"};  // its own flags are accepted
  const ConvertRunResult r = run_conversion(o);
  EXPECT_TRUE(r.exported);
  EXPECT_EQ(r.export_result.report, "fake report");
  EXPECT_EQ(r.export_result.message, "fake: wrote " + o.out_dir + "/fake.json\n");
  EXPECT_EQ(fake_log.checks, 1);  // before converting
  EXPECT_EQ(fake_log.exports, 1);
  EXPECT_EQ(fake_log.images, 3);  // its default_images, --images not given
  EXPECT_EQ(fake_log.steps, 20);
  EXPECT_EQ(fake_log.layers, r.conversion.net.layers.size());
  EXPECT_EQ(fake_log.dir, o.out_dir);
  EXPECT_TRUE(fs::is_regular_file(fs::path(o.out_dir) / "fake.json"));
  EXPECT_FALSE(fs::exists(fs::path(o.out_dir) / "summary.json"));  // the simulator's result files are not written

  // Spike-norm for an exporter calibrates on its calibrator (the CPU simulator).
  o.convert.norm = snn::Norm::spike;
  o.convert.spike_norm_images = 2;
  o.convert.spike_norm_steps = 10;
  o.sim.images = 2;
  const ConvertRunResult spike = run_conversion(o);
  EXPECT_EQ(spike.conversion.scales.size(), spike.conversion.net.layers.size());
  EXPECT_EQ(fake_log.images, 2);
}

TEST_F(BackendDriverTest, RunsARegisteredSimulatorIntoTheResultFolder) {
  Registered fakes;
  ConvertRunOptions o = options("fake_sim", "fake_sim_out");
  o.sim.images = 5;
  o.sim.record_input = true;
  const ConvertRunResult r = run_conversion(o);
  EXPECT_FALSE(r.exported);
  EXPECT_EQ(fake_sim_runs, 1);
  EXPECT_EQ(r.sim.images, 5);
  for (const char* f : {"summary.json", "accuracy_vs_time.csv", "accuracy_vs_time.svg", "layers.csv", "predictions.csv",
                        "network.json", "input_spikes.csv"})
    EXPECT_TRUE(fs::is_regular_file(fs::path(o.out_dir) / f)) << f;
  // A simulator calibrates spike-norm itself: one probe run per layer, then the run.
  o.convert.norm = snn::Norm::spike;
  o.convert.spike_norm_images = 2;
  o.convert.spike_norm_steps = 10;
  const ConvertRunResult spike = run_conversion(o);
  EXPECT_EQ(fake_sim_runs, 1 + static_cast<int>(spike.conversion.net.layers.size()) + 1);
}

// ---- the checkpoint's own data pipeline ----------------------------------------------------------------------

TEST_F(BackendDriverTest, ConvertsThroughTheCheckpointsDataTransforms) {
  // A net trained on 28×28 digits padded to 32×32 and normalised: convert reads the test set through the same
  // pad, hands the SNN the pixels and folds the normalisation into conv1, so the ANN accuracy it reports is
  // the one training measured, on the same 20 images.
  const std::string config = std::string(SPIKEFORGE_SOURCE_DIR) + "/experiments/mnist_relu.yaml";
  const std::string norm = "[{type: normalize, mean: [0.1], std: [0.3]}]";
  const RunResult trained =
      run_experiment(load_experiment(config, {"train.epochs=1", "train.batch=10", "threads=1", "dataset.pad=32",
                                              "dataset.augment=" + norm, "dataset.eval_transforms=" + norm,
                                              "dataset.path=" + data_dir().string()}),
                     {(*root_ / "padded").string(), nullptr});
  ConvertRunOptions o = options("cpu", "padded_out");
  o.checkpoint = (*root_ / "padded/model.sfm").string();
  o.convert.norm = snn::Norm::robust;
  o.convert.neuron = snn::NeuronModel::if_subtract;
  o.convert.input.kind = snn::InputEncoding::current;
  o.sim.steps = 50;
  const ConvertRunResult r = run_conversion(o);
  EXPECT_EQ(r.conversion.net.input_shape, (Shape{1, 32, 32}));
  EXPECT_DOUBLE_EQ(r.ann_accuracy, trained.test.accuracy);
  EXPECT_NE(r.conversion.notes.front().find("input normalisation folded into conv1"), std::string::npos);
  EXPECT_GE(r.sim.accuracy_at(50), r.ann_accuracy - 0.15);
  // A range of held-out images keeps its dataset numbering, in the results and in predictions.csv.
  o.sim.first_image = 12;
  o.sim.images = 8;
  const ConvertRunResult part = run_conversion(o);
  EXPECT_EQ(part.sim.first_image, 12);
  EXPECT_EQ(part.sim.labels, std::vector<int32_t>(r.sim.labels.begin() + 12, r.sim.labels.end()));
  EXPECT_EQ(part.sim.predicted, std::vector<int32_t>(r.sim.predicted.begin() + 12, r.sim.predicted.end()));
  std::ifstream csv(fs::path(o.out_dir) / "predictions.csv");
  std::string header, line;
  std::getline(csv, header);
  std::getline(csv, line);
  EXPECT_EQ(line.substr(0, 3), "12,");
  o.sim.first_image = 20;
  EXPECT_NE(bad_input([&] { run_conversion(o); }).find("--first-image: 20 is outside"), std::string::npos);
}

// ---- what the driver refuses from the capabilities, before loading anything ----------------------------------

TEST_F(BackendDriverTest, RefusesWhatTheBackendDoesNotTakeNamingTheFlag) {
  Registered fakes;
  auto refusal = [](ConvertRunOptions o) {
    o.checkpoint = "/nonexistent/model.sfm";  // the refusal comes before the checkpoint is read
    return bad_input([&] { run_conversion(o); });
  };
  ConvertRunOptions o = options("fake_exporter", "refused");
  o.convert.neuron = snn::NeuronModel::lif;
  EXPECT_EQ(refusal(o), "--neuron: lif neurons cannot be exported by --backend fake_exporter (use if or if_subtract)");
  o.convert.neuron = snn::NeuronModel::if_subtract;  // a model it lists, with a reset mode it lacks
  EXPECT_EQ(refusal(o),
            "--neuron: if_subtract neurons (reset by subtraction) cannot be exported by --backend "
            "fake_exporter");
  o.convert.neuron = snn::NeuronModel::if_reset_zero;
  o.convert.input.kind = snn::InputEncoding::regular;
  EXPECT_EQ(refusal(o), "--input: regular input cannot be exported by --backend fake_exporter (use poisson)");
  o.convert.input.kind = snn::InputEncoding::poisson;
  o.flags_given = {"--batch"};  // a simulator's flag
  EXPECT_EQ(refusal(o), "--batch: does not apply to --backend fake_exporter");
  o.flags_given = {};
  o.export_exact = "spinnaker";  // set programmatically: counts as given
  EXPECT_EQ(refusal(o), "--export-exact: does not apply to --backend fake_exporter");

  ConvertRunOptions s = options("fake_sim", "refused");
  s.sim.propagation = Propagation::dense;
  EXPECT_EQ(refusal(s), "--propagation: dense propagation cannot be simulated by --backend fake_sim (use event)");
  s.sim.propagation = Propagation::event;
  s.flags_given = {"--export-exact"};  // the CPU simulator's flag, not this one's
  EXPECT_EQ(refusal(s), "--export-exact: does not apply to --backend fake_sim");

  // A registered backend's own flag is refused by the others.
  ConvertRunOptions c = options("cpu", "refused");
  c.flags_given = {"--fake-level"};
  EXPECT_EQ(refusal(c), "--fake-level: does not apply to --backend cpu");
  // SpiNNaker keeps its reason.
  ConvertRunOptions sp = options("spinnaker", "refused");
  sp.convert.input.kind = snn::InputEncoding::current;
  EXPECT_EQ(refusal(sp),
            "--input: current input cannot be exported: PyNN inputs are spike sources (use poisson or regular)");
  EXPECT_EQ(fake_log.checks + fake_log.exports, 0);
}

}  // namespace
}  // namespace sf
