// End-to-end tests of the `spikeforge` command: run the built binary on a tiny synthetic MNIST-format
// dataset (IDX files written here) and check its output files, exit codes and one-line error messages.
// SPIKEFORGE_BIN and SPIKEFORGE_SOURCE_DIR come from CMake as string literals.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/checkpoint.h"
#include "models/zoo.h"
#include "train/run.h"

namespace sf {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------------------
// Helpers

// A fresh temp folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "spikeforge_cli_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct CmdResult {
  int code = -1;
  std::string out, err;
};

// Runs `spikeforge ARGS...` with stdout and stderr captured to files (so stdout is not a terminal).
CmdResult spikeforge(const TempDir& tmp, const std::vector<std::string>& args) {
  std::string cmd = quote(SPIKEFORGE_BIN);
  for (const auto& a : args) {
    cmd += ' ';
    cmd += quote(a);
  }
  const std::string out = tmp / "cmd.stdout", err = tmp / "cmd.stderr";
  cmd += " >" + quote(out) + " 2>" + quote(err) + " </dev/null";
  const int status = std::system(cmd.c_str());
  CmdResult r;
  r.code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  r.out = read_text(out);
  r.err = read_text(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// The error a failing command printed: stderr must hold exactly one non-empty line, "spikeforge: error: ...".
std::string error_line(const CmdResult& r) {
  std::vector<std::string> nonempty;
  for (const auto& l : lines_of(r.err))
    if (!l.empty()) nonempty.push_back(l);
  if (nonempty.empty()) {
    ADD_FAILURE() << "no error message on stderr; stdout:\n" << r.out;
    return "";
  }
  EXPECT_EQ(nonempty.size(), 1u) << "expected a single error line, got:\n" << r.err;
  EXPECT_EQ(nonempty[0].rfind("spikeforge: error: ", 0), 0u) << nonempty[0];
  return nonempty[0];
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The top-level number `key` of a JSON file's text (NaN if absent or not a number).
double json_number(const std::string& json, const std::string& key) {
  const nlohmann::json j = nlohmann::json::parse(json);
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::string> tmp_files_in(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return found;
  for (const auto& e : fs::directory_iterator(dir))
    if (contains(e.path().filename().string(), ".tmp")) found.push_back(e.path().string());
  return found;
}

// A failed run must not leave a summary, a checkpoint or a half-written temp file behind.
void expect_no_results(const std::string& out_dir) {
  EXPECT_FALSE(fs::exists(out_dir + "/summary.json")) << out_dir;
  EXPECT_FALSE(fs::exists(out_dir + "/model.sfm")) << out_dir;
  EXPECT_TRUE(tmp_files_in(out_dir).empty()) << tmp_files_in(out_dir).front();
}

// ---------------------------------------------------------------------------------------------------------
// Synthetic MNIST: class c is a bright 6x6 square at one of ten positions (two rows of five), jittered by
// ±1 pixel, over uniform background noise. Deterministic (mt19937 raw outputs are fully specified).

void put_u32_be(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}

void write_idx_images(const std::string& path, const std::vector<uint8_t>& pixels, uint32_t n) {
  std::string out;
  put_u32_be(out, 0x00000803);
  put_u32_be(out, n);
  put_u32_be(out, 28);
  put_u32_be(out, 28);
  out.append(reinterpret_cast<const char*>(pixels.data()), pixels.size());
  write_text(path, out);
}

void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels) {
  std::string out;
  put_u32_be(out, 0x00000801);
  put_u32_be(out, static_cast<uint32_t>(labels.size()));
  out.append(reinterpret_cast<const char*>(labels.data()), labels.size());
  write_text(path, out);
}

void make_split(std::mt19937& rng, int n, std::vector<uint8_t>& pixels, std::vector<uint8_t>& labels) {
  pixels.assign(static_cast<size_t>(n) * 28 * 28, 0);
  labels.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % 10);
    labels[static_cast<size_t>(i)] = static_cast<uint8_t>(c);
    uint8_t* img = pixels.data() + static_cast<size_t>(i) * 784;
    for (int p = 0; p < 784; ++p) img[p] = static_cast<uint8_t>(rng() % 64);
    const int y0 = 4 + (c / 5) * 12 + static_cast<int>(rng() % 3) - 1;
    const int x0 = 2 + (c % 5) * 5 + static_cast<int>(rng() % 3) - 1;
    for (int y = y0; y < y0 + 6; ++y)
      for (int x = x0; x < x0 + 6; ++x)
        if (y >= 0 && y < 28 && x >= 0 && x < 28) img[y * 28 + x] = static_cast<uint8_t>(200 + rng() % 56);
  }
}

void make_dataset(const std::string& dir, int n_train = 200, int n_test = 100) {
  fs::create_directories(dir);
  std::mt19937 rng(12345);
  std::vector<uint8_t> pixels, labels;
  make_split(rng, n_train, pixels, labels);
  write_idx_images(dir + "/train-images-idx3-ubyte", pixels, static_cast<uint32_t>(n_train));
  write_idx_labels(dir + "/train-labels-idx1-ubyte", labels);
  make_split(rng, n_test, pixels, labels);
  write_idx_images(dir + "/t10k-images-idx3-ubyte", pixels, static_cast<uint32_t>(n_test));
  write_idx_labels(dir + "/t10k-labels-idx1-ubyte", labels);
}

const std::string kConfig = std::string(SPIKEFORGE_SOURCE_DIR) + "/experiments/mnist_relu.yaml";

// `train CONFIG` on the synthetic data with a short, single-threaded recipe; extra args appended. The recipe
// is pinned here (not taken from mnist_relu.yaml, which is tuned for real MNIST) so the accuracy bound below
// does not move when the shipped experiment is retuned.
CmdResult train(const TempDir& tmp, const std::string& out_dir, std::vector<std::string> extra = {},
                const std::string& config = kConfig) {
  std::vector<std::string> args = {"train", config, "--out", out_dir};
  for (const char* set : {"train.epochs=2", "train.batch=10", "train.loss=mse", "train.optimizer.lr=0.2",
                          "train.optimizer.momentum=0.9", "train.optimizer.decay=0", "threads=1"}) {
    args.push_back("--set");
    args.push_back(set);
  }
  args.push_back("--set");
  args.push_back("dataset.path=" + (tmp / "data"));
  args.insert(args.end(), extra.begin(), extra.end());
  return spikeforge(tmp, args);
}

// history.csv with the seconds column dropped.
std::string history_without_seconds(const std::string& csv) {
  std::string out;
  for (const auto& l : lines_of(csv)) out += l.substr(0, l.rfind(',')) + "\n";
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { make_dataset(tmp / "data"); }
  TempDir tmp;
};

// ---------------------------------------------------------------------------------------------------------
// Happy paths

// Liu's default: train with ReLU, then fine-tune with Noisy Softplus and labels + 0.01 (issue 4).
TEST_F(CliTest, FinetunePhaseContinuesWithAnotherActivation) {
  const std::string out = tmp / "ft";
  const CmdResult r =
      train(tmp, out, {"--set", "finetune=[{name: nsp, epochs: 1, activation: noisy_softplus, label_shift: 0.01}]"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "epoch 3/3 ")) << r.out;
  const auto history = lines_of(read_text(out + "/history.csv"));
  ASSERT_EQ(history.size(), 4u) << "two training epochs and one fine-tuning epoch";
  EXPECT_EQ(history[3].rfind("2,", 0), 0u) << history[3];
  const std::string summary = read_text(out + "/summary.json");
  EXPECT_TRUE(contains(summary, "\"phases\"")) << summary;
  EXPECT_TRUE(contains(summary, "\"name\": \"nsp\"")) << summary;
  EXPECT_TRUE(contains(read_text(out + "/config.yaml"), "label_shift: 0.01"));
  // The checkpoint is the fine-tuned Noisy Softplus net, and evaluate rebuilds it as such.
  const CmdResult ev = spikeforge(tmp, {"evaluate", out + "/model.sfm", "--data-dir", tmp / "data"});
  ASSERT_EQ(ev.code, 0) << ev.out << ev.err;
  EXPECT_NEAR(json_number(summary, "test_accuracy"), std::stod(ev.out.substr(ev.out.find("accuracy=") + 9)), 1e-4);
  // Losses are reported against the true labels, not the shifted training targets.
  EXPECT_NEAR(json_number(summary, "test_loss"), std::stod(ev.out.substr(ev.out.find("loss=") + 5)), 2e-6);

  const CmdResult bad = train(tmp, tmp / "ft0", {"--set", "finetune=[{epochs: 0}]"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(contains(error_line(bad), "finetune.0.epochs")) << bad.err;
  const CmdResult typo = train(tmp, tmp / "ft1", {"--set", "finetune=[{epochs: 1, activaton: relu}]"});
  EXPECT_EQ(typo.code, 2);
  EXPECT_TRUE(contains(error_line(typo), "finetune.0.activaton")) << typo.err;
}

TEST_F(CliTest, TrainWritesRunFolder) {
  const std::string out = tmp / "run";
  const CmdResult r = train(tmp, out);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");

  // stdout is a file, so no progress bar: exactly one line per epoch.
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  EXPECT_EQ(r.out.find('\033'), std::string::npos);
  int epoch_lines = 0;
  for (const auto& l : lines_of(r.out)) epoch_lines += l.rfind("epoch ", 0) == 0;
  EXPECT_EQ(epoch_lines, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "epoch 1/2 ")) << r.out;
  EXPECT_TRUE(contains(r.out, "epoch 2/2 ")) << r.out;

  for (const char* f : {"config.yaml", "history.csv", "summary.json", "model.sfm"})
    EXPECT_TRUE(fs::is_regular_file(out + "/" + f)) << f;
  EXPECT_TRUE(tmp_files_in(out).empty());

  const auto history = lines_of(read_text(out + "/history.csv"));
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0], "epoch,loss,acc,val_loss,val_acc,seconds");
  EXPECT_EQ(history[1].rfind("0,", 0), 0u) << history[1];
  EXPECT_EQ(history[2].rfind("1,", 0), 0u) << history[2];
  for (size_t i = 1; i < history.size(); ++i)
    EXPECT_EQ(std::count(history[i].begin(), history[i].end(), ','), 5) << history[i];

  const std::string summary = read_text(out + "/summary.json");
  const nlohmann::json js = nlohmann::json::parse(summary);
  EXPECT_TRUE(js.at("parameters").is_number_integer() && js.at("epochs").is_number_integer()) << summary;
  EXPECT_TRUE(js.at("test_accuracy").is_number_float() && js.at("name").is_string()) << summary;
  ASSERT_TRUE(js.at("phases").is_array() && js.at("phases").size() == 1u) << summary;
  EXPECT_EQ(js.at("phases")[0]["name"], "train");
  for (const char* k : {"test_accuracy", "test_loss", "epochs", "train_seconds", "parameters"})
    EXPECT_TRUE(contains(summary, std::string("\"").append(k).append("\":"))) << k << " missing from\n" << summary;
  EXPECT_EQ(json_number(summary, "parameters"), 3880);
  EXPECT_EQ(json_number(summary, "epochs"), 2);
  EXPECT_GT(json_number(summary, "train_seconds"), 0);
  const double acc = json_number(summary, "test_accuracy");
  // Chance is 0.1. Seed 1 reaches 1.0 on this data; seeds 1..8 reach 0.71 to 1.0, so 0.6 leaves room for
  // harmless changes to initialisation or summation order while still catching a net that does not learn.
  EXPECT_GT(acc, 0.6) << summary;
  EXPECT_LE(acc, 1.0);
  EXPECT_TRUE(std::isfinite(json_number(summary, "test_loss"))) << summary;
  std::printf("[ synthetic ] test_accuracy=%.4f\n", acc);

  // The resolved config.yaml is a complete experiment: training from it alone reproduces the model.
  const std::string out2 = tmp / "rerun";
  const CmdResult r2 = spikeforge(tmp, {"train", out + "/config.yaml", "--out", out2});
  ASSERT_EQ(r2.code, 0) << r2.out << r2.err;
  EXPECT_EQ(read_text(out2 + "/model.sfm"), read_text(out + "/model.sfm"));
  EXPECT_EQ(history_without_seconds(read_text(out2 + "/history.csv")),
            history_without_seconds(read_text(out + "/history.csv")));
}

TEST_F(CliTest, EvaluateMatchesSummary) {
  const std::string out = tmp / "run";
  const CmdResult t = train(tmp, out);
  ASSERT_EQ(t.code, 0) << t.out << t.err;
  const std::string summary = read_text(out + "/summary.json");

  const CmdResult r = spikeforge(tmp, {"evaluate", out + "/model.sfm", "--data-dir", tmp / "data", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  char expected[64];
  std::snprintf(expected, sizeof expected, "accuracy=%.4f ", json_number(summary, "test_accuracy"));
  EXPECT_TRUE(contains(r.out, expected)) << "expected '" << expected << "' in: " << r.out;
  EXPECT_TRUE(contains(r.out, "(100 images)")) << r.out;
  const auto p = r.out.find("loss=");
  ASSERT_NE(p, std::string::npos) << r.out;
  EXPECT_NEAR(std::strtod(r.out.c_str() + p + 5, nullptr), json_number(summary, "test_loss"), 2e-6) << r.out;

  // Another evaluation batch gives the same accuracy.
  const CmdResult b = spikeforge(tmp, {"evaluate", out + "/model.sfm", "--data-dir", tmp / "data", "--batch", "7"});
  ASSERT_EQ(b.code, 0) << b.out << b.err;
  EXPECT_TRUE(contains(b.out, expected)) << b.out;
}

TEST_F(CliTest, PredictionsNirExportAndNirSimulation) {
  const std::string out = tmp / "run";
  const CmdResult t = train(tmp, out);
  ASSERT_EQ(t.code, 0) << t.out << t.err;
  // evaluate --predictions: one row per test image; its predicted column gives the printed accuracy.
  const CmdResult e =
      spikeforge(tmp, {"evaluate", out + "/model.sfm", "--data-dir", tmp / "data", "--predictions", tmp / "p.csv"});
  ASSERT_EQ(e.code, 0) << e.out << e.err;
  const std::vector<std::string> rows = lines_of(read_text(tmp / "p.csv"));
  ASSERT_EQ(rows.size(), 101u);
  EXPECT_EQ(rows[0].rfind("image,label,predicted,output_0,", 0), 0u) << rows[0];
  int right = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    int image = -1, label = -1, predicted = -1;
    ASSERT_EQ(std::sscanf(rows[i].c_str(), "%d,%d,%d,", &image, &label, &predicted), 3) << rows[i];
    EXPECT_EQ(image, static_cast<int>(i) - 1);
    right += label == predicted;
  }
  char acc[32];
  std::snprintf(acc, sizeof acc, "accuracy=%.4f", right / 100.0);
  EXPECT_TRUE(contains(e.out, acc)) << acc << " in " << e.out;

  // convert --backend nir writes the graph; convert network.nir simulates it.
  const std::string nir_dir = tmp / "nir";
  const CmdResult x = spikeforge(tmp, {"convert", out + "/model.sfm", "--backend", "nir", "--out", nir_dir,
                                       "--data-dir", tmp / "data", "--neuron", "if_subtract", "--norm", "robust"});
  ASSERT_EQ(x.code, 0) << x.out << x.err;
  EXPECT_TRUE(contains(x.out, "warning: reset by subtraction")) << x.out;
  EXPECT_TRUE(fs::exists(nir_dir + "/network.nir") && fs::exists(nir_dir + "/README.md"));
  const CmdResult again = spikeforge(
      tmp, {"convert", out + "/model.sfm", "--backend", "nir", "--out", nir_dir, "--data-dir", tmp / "data"});
  EXPECT_EQ(again.code, 2);
  EXPECT_TRUE(contains(error_line(again), "--force")) << again.err;
  const CmdResult s = spikeforge(tmp, {"convert", nir_dir + "/network.nir", "--data-dir", tmp / "data", "--input",
                                       "current", "--steps", "20", "--out", tmp / "sim"});
  ASSERT_EQ(s.code, 0) << s.out << s.err;
  EXPECT_TRUE(contains(s.out, "ann_accuracy=- snn_accuracy=")) << s.out;
  EXPECT_TRUE(fs::exists(tmp / "sim/predictions.csv"));
  const CmdResult refused = spikeforge(
      tmp, {"convert", nir_dir + "/network.nir", "--data-dir", tmp / "data", "--norm", "data", "--out", tmp / "sim2"});
  EXPECT_EQ(refused.code, 2);
  EXPECT_TRUE(contains(error_line(refused), "--norm: does not apply to a NIR graph")) << refused.err;
  const CmdResult no_spikes = spikeforge(tmp, {"convert", nir_dir + "/network.nir", "--data-dir", tmp / "data",
                                               "--input", "current", "--record-input", "--out", tmp / "sim3"});
  EXPECT_EQ(no_spikes.code, 2);
  EXPECT_TRUE(contains(error_line(no_spikes), "--record-input")) << no_spikes.err;
  // --export-exact takes an optional target, spinnaker or nir: another word after it is refused, naming the flag.
  const CmdResult bare = spikeforge(tmp, {"convert", out + "/model.sfm", "--export-exact", "loihi"});
  EXPECT_EQ(bare.code, 2);
  EXPECT_TRUE(contains(error_line(bare), "--export-exact: 'loihi' is no export target")) << bare.err;
  // Bias calibration: refused on a NIR graph, with --export-exact, and --calibrate-steps without --calibrate;
  // signed neurons on an exporter.
  const std::vector<std::pair<std::vector<std::string>, std::string>> calibrate_refusals = {
      {{nir_dir + "/network.nir", "--calibrate", "16"}, "--calibrate: does not apply to a NIR graph"},
      {{out + "/model.sfm", "--calibrate", "16", "--export-exact", "spinnaker"}, "--calibrate: tunes biases"},
      {{out + "/model.sfm", "--calibrate-steps", "8"}, "--calibrate-steps: applies with --calibrate N"},
      // Signed neurons: no exporter takes negative spikes.
      {{out + "/model.sfm", "--neuron", "if_signed", "--backend", "spinnaker"},
       "--neuron: if_signed neurons cannot be exported by --backend spinnaker"},
      {{out + "/model.sfm", "--neuron", "if_signed", "--backend", "nir"},
       "--neuron: if_signed neurons cannot be exported by --backend nir"},
      {{out + "/model.sfm", "--neuron", "if_signed", "--export-exact", "nir"},
       "--export-exact: nir exports if, if_subtract, lif neurons, not if_signed"},
  };
  for (const auto& [args, message] : calibrate_refusals) {
    std::vector<std::string> cmd = {"convert"};
    cmd.insert(cmd.end(), args.begin(), args.end());
    cmd.insert(cmd.end(), {"--data-dir", tmp / "data", "--out", tmp / "cal"});
    const CmdResult r = spikeforge(tmp, cmd);
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_TRUE(contains(error_line(r), message)) << r.err;
  }
}

TEST_F(CliTest, InitFromStartsTrainingFromACheckpointsWeights) {
  const std::string a = tmp / "a", b = tmp / "b";
  ASSERT_EQ(train(tmp, a).code, 0);
  // With a vanishing learning rate the run keeps the weights it started from: the same test accuracy.
  const CmdResult r = train(tmp, b,
                            {"--set", "train.init_from=" + a + "/model.sfm", "--set", "train.epochs=1", "--set",
                             "train.optimizer.lr=1e-12", "--set", "train.optimizer.momentum=0"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(json_number(read_text(b + "/summary.json"), "test_accuracy"),
            json_number(read_text(a + "/summary.json"), "test_accuracy"));
  EXPECT_TRUE(contains(read_text(b + "/config.yaml"), "init_from: " + a + "/model.sfm"));
  const CmdResult missing = train(tmp, tmp / "c", {"--set", "train.init_from=" + (tmp / "none.sfm")});
  EXPECT_EQ(missing.code, 2);
  EXPECT_TRUE(contains(error_line(missing), tmp / "none.sfm")) << missing.err;
}

TEST_F(CliTest, ImportOfACorruptOnnxFileNamesIt) {
  write_text(tmp / "bad.onnx", "garbage, not protobuf \xff\xfe");
  const CmdResult r = spikeforge(tmp, {"import", tmp / "bad.onnx", "--out", tmp / "imp"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(error_line(r), tmp / "bad.onnx")) << r.err;
  const CmdResult shape = spikeforge(tmp, {"import", tmp / "bad.onnx", "--input-shape", "1,x,3"});
  EXPECT_EQ(shape.code, 2);
  EXPECT_TRUE(contains(error_line(shape), "--input-shape")) << shape.err;
}

TEST_F(CliTest, InfoPrintsLayerTable) {
  const CmdResult r = spikeforge(tmp, {"info", kConfig});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const char* s : {"conv1", "pool1", "conv2", "pool2", "dense", "3880"})
    EXPECT_TRUE(contains(r.out, s)) << s << " missing from:\n" << r.out;
}

TEST_F(CliTest, SameSeedIsBitReproducibleOtherSeedDiffers) {
  const CmdResult a = train(tmp, tmp / "a"), b = train(tmp, tmp / "b"), c = train(tmp, tmp / "c", {"--set", "seed=2"});
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  ASSERT_EQ(c.code, 0) << c.err;
  const std::string ha = history_without_seconds(read_text(tmp / "a/history.csv"));
  EXPECT_EQ(ha, history_without_seconds(read_text(tmp / "b/history.csv")));
  EXPECT_EQ(read_text(tmp / "a/model.sfm"), read_text(tmp / "b/model.sfm"));
  EXPECT_NE(ha, history_without_seconds(read_text(tmp / "c/history.csv")));
  EXPECT_NE(read_text(tmp / "a/model.sfm"), read_text(tmp / "c/model.sfm"));
}

// ---------------------------------------------------------------------------------------------------------
// Bad input: exit 2 with one line naming the file, key or op; no half-written results.

// `device: cuda` where it cannot run: one line naming the key and why (the build, or the machine), exit 2.
TEST_F(CliTest, DeviceCudaWithoutAGpuSaysWhichIsMissing) {
  if (sf::device_available(sf::Device::cuda)) GTEST_SKIP() << "this machine has a GPU";
  const CmdResult r = train(tmp, tmp / "gpu", {"--set", "device=cuda"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, "device")) << e;
  EXPECT_TRUE(contains(e, sf::device_unavailable_reason(sf::Device::cuda))) << e;
  EXPECT_FALSE(fs::exists(tmp / "gpu/summary.json"));
}

TEST_F(CliTest, MalformedYamlNamesLine) {
  const std::string cfg = tmp / "bad.yaml";
  write_text(cfg, "name: bad\ntrain:\n  epochs: 2\n  batch: [1, 2\nmodel:\n  arch: liu_small\n");
  const CmdResult r = train(tmp, tmp / "out", {}, cfg);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, cfg + ":")) << e;
  EXPECT_TRUE(contains(e, "malformed YAML")) << e;
  // file:LINE with a line number inside the file (it has 6 lines).
  const auto p = e.find(cfg + ":");
  ASSERT_NE(p, std::string::npos);
  const int line = std::atoi(e.c_str() + p + cfg.size() + 1);
  EXPECT_GE(line, 4) << e;
  EXPECT_LE(line, 7) << e;
  expect_no_results(tmp / "out");
}

TEST_F(CliTest, UnknownKeyNamesKeyAndLine) {
  const std::string cfg = tmp / "typo.yaml";
  write_text(cfg, "name: typo\ntrain: {epoch: 3}\n");
  const CmdResult r = train(tmp, tmp / "out", {}, cfg);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, cfg + ":2")) << e;
  EXPECT_TRUE(contains(e, "train.epoch'")) << e;
  EXPECT_TRUE(contains(e, "unknown key")) << e;
  expect_no_results(tmp / "out");
}

TEST_F(CliTest, WrongTypeNamesKeyAndLine) {
  const std::string cfg = tmp / "type.yaml";
  write_text(cfg, "name: type\ntrain:\n  epochs: abc\n");
  // Not via train(): its --set train.epochs=2 would replace the bad value.
  const CmdResult r = spikeforge(tmp, {"train", cfg, "--set", "dataset.path=" + (tmp / "data"), "--out", tmp / "out"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, cfg + ":3")) << e;
  EXPECT_TRUE(contains(e, "train.epochs")) << e;
  EXPECT_TRUE(contains(e, "abc")) << e;
  EXPECT_TRUE(contains(e, "integer")) << e;
  expect_no_results(tmp / "out");
}

TEST_F(CliTest, NegativeEpochsNamesSetKey) {
  const CmdResult r = train(tmp, tmp / "out", {"--set", "train.epochs=-1"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, "train.epochs")) << e;
  EXPECT_TRUE(contains(e, "-1")) << e;
  expect_no_results(tmp / "out");
}

TEST_F(CliTest, UnknownActivationNamesKey) {
  const std::string cfg = tmp / "act.yaml";
  write_text(cfg, "name: act\nmodel:\n  arch: liu_small\n  activation: tanh\n");
  const CmdResult r = train(tmp, tmp / "out", {}, cfg);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, cfg + ":4")) << e;
  EXPECT_TRUE(contains(e, "model.activation")) << e;
  EXPECT_TRUE(contains(e, "tanh")) << e;
  EXPECT_TRUE(contains(e, "relu")) << e;  // lists the allowed values
  expect_no_results(tmp / "out");

  // info validates the same way.
  const CmdResult i = spikeforge(tmp, {"info", cfg});
  EXPECT_EQ(i.code, 2) << i.out << i.err;
  EXPECT_TRUE(contains(error_line(i), "model.activation"));
}

TEST_F(CliTest, MissingIdxFileNamesPathAndFetchScript) {
  const std::string empty = tmp / "empty";
  fs::create_directories(empty);
  const CmdResult r = train(tmp, tmp / "out", {"--set", "dataset.path=" + empty});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, empty + "/train-images-idx3-ubyte")) << e;
  EXPECT_TRUE(contains(e, "missing")) << e;
  EXPECT_TRUE(contains(e, "scripts/fetch_data.sh")) << e;
  expect_no_results(tmp / "out");
}

TEST_F(CliTest, TruncatedIdxFileNamesPath) {
  const std::string images = tmp / "data/t10k-images-idx3-ubyte";
  fs::resize_file(images, fs::file_size(images) / 2);
  const CmdResult r = train(tmp, tmp / "out");
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, images)) << e;
  EXPECT_TRUE(contains(e, "truncated")) << e;
  expect_no_results(tmp / "out");
}

TEST_F(CliTest, CorruptAndTruncatedCheckpointsAreRejected) {
  const std::string out = tmp / "run";
  const CmdResult t = train(tmp, out, {"--set", "train.epochs=1"});
  ASSERT_EQ(t.code, 0) << t.out << t.err;
  const std::string bytes = read_text(out + "/model.sfm");
  ASSERT_GT(bytes.size(), 1000u);

  // One flipped bit in the weights: only the checksum can notice.
  std::string flipped = bytes;
  flipped[bytes.size() - 100] ^= 0x01;
  const std::string corrupt = tmp / "corrupt.sfm";
  write_text(corrupt, flipped);
  CmdResult r = spikeforge(tmp, {"evaluate", corrupt, "--data-dir", tmp / "data", "--threads", "1"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  std::string e = error_line(r);
  EXPECT_TRUE(contains(e, corrupt)) << e;
  EXPECT_TRUE(contains(e, "checksum")) << e;

  const std::string truncated = tmp / "truncated.sfm";
  write_text(truncated, bytes.substr(0, bytes.size() / 2));
  r = spikeforge(tmp, {"evaluate", truncated, "--data-dir", tmp / "data", "--threads", "1"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  e = error_line(r);
  EXPECT_TRUE(contains(e, truncated)) << e;
  EXPECT_TRUE(contains(e, "truncated")) << e;

  const std::string missing = tmp / "nope.sfm";
  r = spikeforge(tmp, {"evaluate", missing, "--data-dir", tmp / "data"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), missing));
}

TEST_F(CliTest, CheckpointFromAnotherArchitectureIsRejected) {
  const std::string out = tmp / "run";
  const CmdResult t = train(tmp, out, {"--set", "train.epochs=1"});
  ASSERT_EQ(t.code, 0) << t.out << t.err;
  // liu_small weights under a liu_large architecture header (a valid file, CRC included).
  Checkpoint ckpt = load_checkpoint(out + "/model.sfm");
  const auto p = ckpt.architecture.find("liu_small");
  ASSERT_NE(p, std::string::npos) << ckpt.architecture;
  ckpt.architecture.replace(p, 9, "liu_large");
  const std::string other = tmp / "other.sfm";
  save_checkpoint(other, ckpt);

  const CmdResult r = spikeforge(tmp, {"evaluate", other, "--data-dir", tmp / "data", "--threads", "1"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, other)) << e;
  EXPECT_TRUE(contains(e, "another architecture")) << e;
}

// A diverged run exits 3 and leaves a failed summary (no model); the folder is then refused without --force.
TEST_F(CliTest, DivergenceExitsThreeNamingOpAndLeavesFailedSummary) {
  const std::string out = tmp / "out";
  const CmdResult r = train(tmp, out, {"--set", "train.optimizer.lr=1e30"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  const std::string e = error_line(r);
  EXPECT_TRUE(contains(e, "NaN") || contains(e, "Inf")) << e;
  EXPECT_TRUE(contains(e, "op '")) << e;
  EXPECT_TRUE(contains(e, "train.optimizer.lr")) << e;  // the hint
  EXPECT_FALSE(fs::exists(out + "/model.sfm"));
  EXPECT_TRUE(tmp_files_in(out).empty());
  const nlohmann::json js = nlohmann::json::parse(read_text(out + "/summary.json"));
  EXPECT_EQ(js.at("status"), "failed") << js;
  EXPECT_EQ(js.at("error"), "numeric") << js;
  EXPECT_EQ(e, "spikeforge: error: " + js.at("reason").get<std::string>());

  const CmdResult again = train(tmp, out);
  EXPECT_EQ(again.code, 2) << again.out << again.err;
  const std::string refusal = error_line(again);
  EXPECT_TRUE(contains(refusal, out) && contains(refusal, "failed") && contains(refusal, "--force")) << refusal;
  const CmdResult forced = train(tmp, out, {"--force"});
  ASSERT_EQ(forced.code, 0) << forced.out << forced.err;
  EXPECT_EQ(nlohmann::json::parse(read_text(out + "/summary.json")).at("status"), "completed");
}

TEST_F(CliTest, UnknownCommandAndOptionExitTwo) {
  CmdResult r = spikeforge(tmp, {"frobnicate"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(
      contains(error_line(r), "unknown command 'frobnicate' (train, evaluate, import, info, convert, reproduce)"));

  r = spikeforge(tmp, {"train", kConfig, "--bogus", "--out", tmp / "out"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), "--bogus"));
  expect_no_results(tmp / "out");

  r = spikeforge(tmp, {});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), "missing command"));

  r = spikeforge(tmp, {"train", kConfig, "--threads", "many"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), "--threads"));

  // An option another command takes is still an error here, not silently ignored.
  r = spikeforge(tmp, {"info", kConfig, "--out", tmp / "x"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), "info does not take --out"));

  // CLI11's own errors: a flag without its value, a missing or an extra positional.
  r = spikeforge(tmp, {"train", kConfig, "--out"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), "--out"));
  r = spikeforge(tmp, {"info"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), "CONFIG.yaml"));
  r = spikeforge(tmp, {"info", kConfig, "extra.yaml"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), "'extra.yaml'"));
}

// Counts that cannot be zero or negative are refused while parsing, before the checkpoint (which does not
// exist here) is opened; --batch 0 used to be taken silently as the default.
TEST_F(CliTest, ZeroOrNegativeCountsExitTwoNamingTheFlag) {
  const std::string model = tmp / "nope.sfm", rep = tmp / "rep";
  const std::vector<std::vector<std::string>> cases = {
      {"evaluate", model, "--batch", "0"},
      {"evaluate", model, "--batch", "-1"},
      {"evaluate", model, "--threads", "-2"},
      {"convert", model, "--batch", "0"},
      {"convert", model, "--batch", "-4"},
      {"convert", model, "--batch", "1.5"},
      {"convert", model, "--images", "0"},
      {"convert", model, "--images", "-1"},
      {"convert", model, "--steps", "-5"},
      {"convert", model, "--threads", "-1"},
      {"convert", model, "--seed", "-1"},
      {"convert", model, "--norm-images", "-1"},
      {"convert", model, "--calibrate", "-1"},
      {"convert", model, "--calibrate-steps", "0"},
      {"convert", model, "--neurons-per-core", "-256", "--backend", "spinnaker"},
      {"train", kConfig, "--threads", "-1"},
      {"reproduce", "liu2017", "--images", "0", "--out", rep},
      {"reproduce", "liu2017", "--images", "-3", "--out", rep},
      {"reproduce", "liu2017", "--trials", "-1", "--out", rep},
      {"reproduce", "liu2017", "--threads", "-1", "--out", rep},
  };
  for (const auto& args : cases) {
    const CmdResult r = spikeforge(tmp, args);
    EXPECT_EQ(r.code, 2) << args[2] << " " << args[3] << "\n" << r.out << r.err;
    const std::string e = error_line(r);
    EXPECT_TRUE(contains(e, args[2] + ":")) << e;
    EXPECT_FALSE(contains(e, "nope.sfm")) << e;
  }
  EXPECT_FALSE(fs::exists(rep));
}

// Choice flags are read through the library's name tables, whose errors list the choices.
TEST_F(CliTest, UnknownChoiceListsTheChoices) {
  const std::string model = tmp / "nope.sfm";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--norm", "max"}, "--norm: unknown normalisation 'max' (none, data, robust, spike, qcfs)"},
      {{"--neuron", "izhikevich"}, "--neuron: unknown neuron model 'izhikevich' (if, if_subtract, if_signed, lif)"},
      {{"--input", "rank"}, "--input: unknown input encoding 'rank' (poisson, current, regular)"},
      {{"--pool", "max"}, "--pool: unknown pooling mode 'max'"},
      {{"--propagation", "sparse"}, "--propagation: unknown propagation 'sparse' (event, dense)"},
      {{"--softplus-offset", "yes"}, "--softplus-offset: unknown setting 'yes' (on, off)"},
      {{"--conv-connector", "kernels", "--backend", "spinnaker"},
       "--conv-connector: unknown connector 'kernels' (list, convolution)"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> args = {"convert", model};
    args.insert(args.end(), flags.begin(), flags.end());
    const CmdResult r = spikeforge(tmp, args);
    EXPECT_EQ(r.code, 2) << flags[0] << "\n" << r.out << r.err;
    EXPECT_TRUE(contains(error_line(r), message)) << r.err;
  }
}

// --help, -h and `help` exit 0 and list the commands; each command's --help lists every flag the README
// documents for it.
TEST_F(CliTest, HelpListsCommandsAndTheirFlags) {
  for (const char* h : {"--help", "-h", "help"}) {
    const CmdResult r = spikeforge(tmp, {h});
    EXPECT_EQ(r.code, 0) << h << "\n" << r.out << r.err;
    EXPECT_EQ(r.err, "") << h;
    for (const char* cmd : {"train", "evaluate", "import", "info", "convert", "reproduce"})
      EXPECT_TRUE(contains(r.out, std::string("  ") + cmd + " ")) << cmd << " missing from\n" << r.out;
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> flags = {
      {"train", {"--set", "--out", "--threads"}},
      {"evaluate", {"--dataset", "--data-dir", "--batch", "--threads", "--predictions"}},
      {"import", {"--out", "--input-shape", "--dataset", "--loss", "--force"}},
      {"info", {"--set"}},
      {"convert",
       {"--backend",
        "--norm",
        "--percentile",
        "--neuron",
        "--input",
        "--max-rate",
        "--steps",
        "--dt",
        "--images",
        "--pool",
        "--propagation",
        "--batch",
        "--v-init",
        "--softplus-offset",
        "--export-exact",
        "--norm-images",
        "--seed",
        "--record-input",
        "--lif",
        "--dataset",
        "--data-dir",
        "--threads",
        "--out",
        "--neurons-per-core",
        "--conv-connector",
        "--force"}},
      {"reproduce",
       {"--trials", "--images", "--dt", "--lif", "--dataset", "--data-dir", "--set", "--threads", "--out"}},
  };
  for (const auto& [cmd, names] : flags) {
    const CmdResult r = spikeforge(tmp, {cmd, "--help"});
    EXPECT_EQ(r.code, 0) << cmd << "\n" << r.out << r.err;
    for (const auto& f : names) EXPECT_TRUE(contains(r.out, "  " + f + " ")) << f << " missing from\n" << r.out;
  }
  EXPECT_TRUE(contains(spikeforge(tmp, {"convert", "-h"}).out, "--steps INT=1000")) << "defaults are shown";
}

// An untrained checkpoint of the default experiment, written in-process (no training needed).
std::string save_fresh_checkpoint(const std::string& path, const std::string& architecture = "") {
  const Experiment e;
  const Model m = build_model(e.model, 1);
  save_checkpoint(path, {architecture.empty() ? checkpoint_architecture(e) : architecture, m.state()});
  return read_text(path);
}

void fix_crc(std::string& bytes) {
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4)));
  for (int i = 0; i < 4; ++i) bytes[bytes.size() - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
}

// Bad-input escapes found by fuzzing the readers (tests/fuzz): each used to exit 0 or 1.
TEST_F(CliTest, FuzzEscapesExitTwoWithOneLine) {
  // A NaN weight with a valid CRC: evaluate printed loss=nan and exited 0.
  std::string bytes = save_fresh_checkpoint(tmp / "fresh.sfm");
  const size_t data_pos = bytes.find("conv1.weight") + std::strlen("conv1.weight") + 4 + 4 * 8;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(&bytes[data_pos + 17 * sizeof(float)], &nan, sizeof nan);
  fix_crc(bytes);
  const std::string nan_ckpt = tmp / "nan.sfm";
  write_text(nan_ckpt, bytes);
  CmdResult r = spikeforge(tmp, {"evaluate", nan_ckpt, "--data-dir", tmp / "data", "--threads", "1"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  std::string e = error_line(r);
  EXPECT_TRUE(contains(e, nan_ckpt + ": tensor 'conv1.weight' holds NaN at element 17")) << e;

  // An unknown dataset stored in the checkpoint: the message named neither the file nor the key.
  std::string arch = checkpoint_architecture(Experiment{});
  arch.replace(arch.find("dataset: mnist"), 14, "dataset: cifar7");
  const std::string other = tmp / "other.sfm";
  save_fresh_checkpoint(other, arch);
  r = spikeforge(tmp, {"evaluate", other, "--data-dir", tmp / "data", "--threads", "1"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  e = error_line(r);
  EXPECT_TRUE(contains(e, other + " (architecture):")) << e;
  EXPECT_TRUE(contains(e, "key 'dataset'")) << e;
  EXPECT_TRUE(contains(e, "unknown dataset 'cifar7'")) << e;

  // A list as a key, and an override into a list item that is a plain value: yaml-cpp's exceptions
  // escaped as "internal error" with exit 1.
  const std::string cfg = tmp / "listkey.yaml";
  write_text(cfg, "name: lk\n[a]: 1\n");
  r = spikeforge(tmp, {"info", cfg});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  e = error_line(r);
  EXPECT_TRUE(contains(e, cfg + ":2")) << e;
  EXPECT_FALSE(contains(e, "internal")) << e;

  const std::string plain = tmp / "plain.yaml";
  write_text(plain, "name: p\nfinetune: [3]\n");
  r = spikeforge(tmp, {"info", plain, "--set", "finetune.0.lr=0.5"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  e = error_line(r);
  EXPECT_TRUE(contains(e, "--set finetune.0.lr")) << e;
}

// ---------------------------------------------------------------------------------------------------------
// convert (issue 5)

class ConvertCliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    const CmdResult r = train(tmp, tmp / "run");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
  }
  CmdResult convert(std::vector<std::string> extra) {
    std::vector<std::string> args = {"convert", tmp / "run/model.sfm", "--data-dir", tmp / "data", "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return spikeforge(tmp, args);
  }
};

// A tiny trained net converted with robust normalisation, reset by subtraction and analog input reaches the
// ANN's accuracy: the tolerance of 3 points (3 of the 100 test images) covers the rate code's
// quantisation at 100 steps; measured: ANN and SNN both at 1.0 with seed 1.
TEST_F(ConvertCliTest, WritesResultFolderAndReachesAnnAccuracy) {
  const std::string out = tmp / "snn";
  const CmdResult r = convert({"--norm", "robust", "--neuron", "if_subtract", "--input", "current", "--steps", "100",
                               "--images", "100", "--out", out});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "snn_accuracy=")) << r.out;
  for (const char* f : {"summary.json", "accuracy_vs_time.csv", "accuracy_vs_time.svg", "layers.csv", "predictions.csv",
                        "network.json"})
    EXPECT_TRUE(fs::is_regular_file(out + "/" + f)) << f;
  EXPECT_TRUE(tmp_files_in(out).empty());
  const std::string summary = read_text(out + "/summary.json");
  const double ann = json_number(summary, "ann_accuracy"), snn = json_number(summary, "snn_accuracy");
  std::printf("[ synthetic ] ann_accuracy=%.4f snn_accuracy=%.4f\n", ann, snn);
  EXPECT_GT(ann, 0.6) << summary;
  EXPECT_GE(snn, ann - 0.03) << summary;
  EXPECT_EQ(json_number(summary, "steps"), 100);
  EXPECT_EQ(json_number(summary, "images"), 100);
  EXPECT_GT(json_number(summary, "seconds"), 0);
  for (const char* w : {"\"step\": 10,", "\"step\": 16,", "\"step\": 32,", "\"step\": 64,", "\"step\": 100,"})
    EXPECT_TRUE(contains(summary, w)) << w << " missing from\n" << summary;

  const auto csv = lines_of(read_text(out + "/accuracy_vs_time.csv"));
  ASSERT_EQ(csv.size(), 101u);
  EXPECT_EQ(csv[0], "step,time_ms,accuracy");
  EXPECT_EQ(csv[100].rfind("100,100,", 0), 0u) << csv[100];
  const auto layers = lines_of(read_text(out + "/layers.csv"));
  ASSERT_EQ(layers.size(), 4u);  // conv1, conv2, dense (pools merged for IF neurons)
  EXPECT_EQ(layers[1].rfind("conv1,conv,3456,", 0), 0u) << layers[1];
  EXPECT_EQ(lines_of(read_text(out + "/predictions.csv")).size(), 101u);
  const std::string svg = read_text(out + "/accuracy_vs_time.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_TRUE(contains(svg, "simulation time (ms)"));
  EXPECT_TRUE(contains(svg, "ANN"));
  EXPECT_TRUE(contains(read_text(out + "/network.json"), "\"format\": \"spikeforge-snn\""));

  // Liu's mapping (LIF, Poisson, no normalisation) runs too and records the input spike trains on request.
  const CmdResult lif = convert(
      {"--neuron", "lif", "--norm", "none", "--steps", "50", "--images", "10", "--record-input", "--out", tmp / "lif"});
  ASSERT_EQ(lif.code, 0) << lif.out << lif.err;
  const auto spikes = lines_of(read_text(tmp / "lif/input_spikes.csv"));
  ASSERT_GT(spikes.size(), 10u);
  EXPECT_EQ(spikes[0], "image,pixel,step");
  EXPECT_EQ(lines_of(read_text(tmp / "lif/layers.csv")).size(), 6u);  // pools are populations for LIF
}

TEST_F(ConvertCliTest, BadOptionsExitTwoNamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--steps", "0"}, "--steps"},
      {{"--steps", "-5"}, "--steps"},
      {{"--dt", "0"}, "--dt"},
      {{"--percentile", "0"}, "--percentile"},
      {{"--percentile", "100.5"}, "--percentile"},
      {{"--images", "101"}, "--images"},  // the synthetic test set has 100
      {{"--max-rate", "0"}, "--max-rate"},
      {{"--norm", "max"}, "--norm"},
      {{"--neuron", "izhikevich"}, "--neuron"},
      {{"--input", "rank"}, "--input"},
      {{"--backend", "loihi"}, "--backend"},
      {{"--backend", "cuda"}, "cuda"},
      {{"--steps", "ten"}, "--steps"},
      {{"--softplus-offset", "yes"}, "--softplus-offset"},
      {{"--neurons-per-core", "128"}, "--neurons-per-core"},  // an export option: would be ignored
  };
  for (const auto& [args, flag] : cases) {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"--out", tmp / "bad"});
    const CmdResult r = convert(a);
    EXPECT_EQ(r.code, 2) << args[0] << " " << args[1] << "\n" << r.out << r.err;
    EXPECT_TRUE(contains(error_line(r), flag)) << args[0] << " " << args[1] << ": " << r.err;
  }
  EXPECT_FALSE(fs::exists(tmp / "bad/summary.json"));
  const CmdResult missing = spikeforge(tmp, {"convert", tmp / "nope.sfm"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_TRUE(contains(missing.err, "nope.sfm")) << missing.err;
}

// --backend spinnaker (issue 6): the project folder, the printed report, and its bad inputs.
TEST_F(ConvertCliTest, SpinnakerExportWritesProjectAndReport) {
  const std::string out = tmp / "spinn";
  const std::vector<std::string> base = {"--backend", "spinnaker", "--neuron", "lif", "--norm", "none",
                                         "--images",  "5",         "--steps",  "100", "--out",  out};
  const CmdResult r = convert(base);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const char* f : {"run.py", "README.md", "network.json", "input_spikes.csv", "test_images.csv", "resources.json",
                        "connections/conv1_exc.txt", "connections/conv1_inh.txt", "connections/dense_exc.txt"})
    EXPECT_TRUE(fs::is_regular_file(out + "/" + f)) << f;
  EXPECT_TRUE(contains(r.out, "cores")) << r.out;
  EXPECT_TRUE(contains(r.out, "16-bit LSB")) << r.out;
  EXPECT_EQ(lines_of(read_text(out + "/test_images.csv")).size(), 6u);
  const auto inh = lines_of(read_text(out + "/connections/conv1_inh.txt"));
  ASSERT_GT(inh.size(), 1u);
  EXPECT_EQ(inh[0].rfind("# columns", 0), 0u);
  EXPECT_TRUE(contains(inh[1], " -")) << inh[1];  // inhibitory weights are written negative
  EXPECT_TRUE(contains(read_text(out + "/resources.json"), "\"chips\""));

  // An existing, non-empty folder is refused unless --force.
  const CmdResult again = convert(base);
  EXPECT_EQ(again.code, 2);
  EXPECT_TRUE(contains(error_line(again), "--force")) << again.err;
  std::vector<std::string> forced = base;
  forced.push_back("--force");
  EXPECT_EQ(convert(forced).code, 0);

  // --conv-connector convolution: the report names the layers sPyNNaker's ConvolutionConnector will carry.
  std::vector<std::string> conv = forced;
  conv.insert(conv.end(), {"--conv-connector", "convolution"});
  const CmdResult c = convert(conv);
  ASSERT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_TRUE(contains(c.out, "ConvolutionConnector on sPyNNaker")) << c.out;
  const std::string resources = read_text(out + "/resources.json");
  EXPECT_EQ(nlohmann::json::parse(resources)["convolution_layers"], nlohmann::json({"conv1", "conv2"})) << resources;

  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--neurons-per-core", "300"}, "--neurons-per-core"},
      {{"--conv-connector", "kernels"}, "--conv-connector"},
      {{"--input", "current"}, "--input"},
      {{"--export-exact"}, "--export-exact"},
      {{"--propagation", "dense"}, "--propagation"},  // a simulator option: would be ignored
  };
  for (const auto& [extra, flag] : bad) {
    std::vector<std::string> a = {"--backend", "spinnaker", "--neuron", "lif",   "--norm",
                                  "none",      "--images",  "5",        "--out", tmp / "bad_spinn"};
    a.insert(a.end(), extra.begin(), extra.end());
    const CmdResult b = convert(a);
    EXPECT_EQ(b.code, 2) << extra[0] << "\n" << b.out << b.err;
    EXPECT_TRUE(contains(error_line(b), flag)) << extra[0] << ": " << b.err;
  }
}

// reproduce: the whole table pipeline on the synthetic data (20 test images, 1 trial), then a rerun that
// reuses the checkpoints instead of training again.
TEST_F(CliTest, ReproduceTrainsConvertsAndReusesCheckpoints) {
  const std::string out = tmp / "rep";
  const std::vector<std::string> args = {"reproduce",  "liu2017",    "--trials",  "1", "--images", "20",
                                         "--data-dir", tmp / "data", "--threads", "1", "--out",    out};
  const CmdResult r = spikeforge(tmp, args);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string table = read_text(out + "/table.md");
  for (const char* row :
       {"| ReLU |", "| Noisy Softplus |", "| Softplus (seed recipe, robust norm) |", "97.81", "SNN 1 s (thesis)"})
    EXPECT_TRUE(contains(table, row)) << row << " missing from\n" << table;
  EXPECT_TRUE(contains(r.out, table.substr(0, 40))) << r.out;
  EXPECT_TRUE(fs::is_regular_file(out + "/mnist_nsp_liu_recipe/seed1/model.sfm"));
  EXPECT_TRUE(fs::is_regular_file(out + "/mnist_nsp_liu_recipe/seed1/snn/summary.json"));
  EXPECT_TRUE(contains(read_text(out + "/results.json"), "\"snn_accuracy\""));
  const CmdResult again = spikeforge(tmp, args);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(contains(again.out, "reusing")) << again.out;
  EXPECT_FALSE(contains(again.out, "training")) << again.out;

  const CmdResult bad = spikeforge(tmp, {"reproduce", "diehl2015", "--out", tmp / "bad"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(contains(error_line(bad), "liu2017, tensor_genn, mobilenet")) << bad.err;
  const CmdResult other = spikeforge(tmp, {"reproduce", "liu2017", "--dataset", "cifar10", "--out", tmp / "bad"});
  EXPECT_EQ(other.code, 2);
  EXPECT_TRUE(contains(error_line(other), "--dataset: only the mobilenet table")) << other.err;
  const CmdResult trials = spikeforge(tmp, {"reproduce", "liu2017", "--trials", "0", "--out", tmp / "bad"});
  EXPECT_EQ(trials.code, 2);
  EXPECT_TRUE(contains(error_line(trials), "--trials")) << trials.err;
}

// reproduce mobilenet: the rows (ReLU6 → robust with signed neurons, QCFS → θ = λ, and QCFS with signed neurons
// calibrated at T = 8 and at T = 32, reusing the QCFS run) trained for one epoch on the synthetic digits as
// Fashion-MNIST, converted, and the T = 8…128 columns filled.
TEST_F(CliTest, ReproduceMobilenetFillsTheLowLatencyColumns) {
  const std::string out = tmp / "rep_mobilenet";
  const CmdResult r = spikeforge(
      tmp, {"reproduce", "mobilenet", "--trials", "1", "--images", "10", "--dataset", "fashion_mnist", "--data-dir",
            tmp / "data", "--set", "train.epochs=1", "--set", "train.warmup_epochs=0", "--threads", "1", "--out", out});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string table = read_text(out + "/table.md");
  for (const char* cell :
       {"| MobileNet ReLU6, robust norm per channel, signed IF |", "| MobileNet QCFS L = 4, θ = λ |",
        "| MobileNet QCFS L = 4, signed IF, calibrated at T = 8 |",
        "| MobileNet QCFS L = 4, signed IF, calibrated at T = 32 |", "T = 8", "T = 128", "74.79", "12.46", "93.65"})
    EXPECT_TRUE(contains(table, cell)) << cell << " missing from\n" << table;
  auto occurrences = [&](const std::string& what) {
    int n = 0;
    for (size_t at = r.out.find(what); at != std::string::npos; at = r.out.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(occurrences("training fashion_mnist_mobilenet_qcfs"), 1) << r.out;
  EXPECT_EQ(occurrences("fashion_mnist_mobilenet_qcfs/seed1/model.sfm"), 2) << "the signed rows reuse it: " << r.out;
  for (const int steps : {8, 32}) {
    const std::string s =
        read_text(out + "/fashion_mnist_mobilenet_qcfs/seed1/snn_signed_t" + std::to_string(steps) + "/summary.json");
    const nlohmann::json j = nlohmann::json::parse(s);
    EXPECT_EQ(j["neuron"], "if_signed") << s;
    EXPECT_EQ(j["calibration"]["images"], 10) << "capped at --images: " << s;
    EXPECT_EQ(j["calibration"]["steps"], steps) << s;
  }
  const nlohmann::json relu6 =
      nlohmann::json::parse(read_text(out + "/fashion_mnist_mobilenet/seed1/snn/summary.json"));
  EXPECT_EQ(relu6["neuron"], "if_signed");
  EXPECT_EQ(relu6["norm"], "robust");
  const std::string summary = read_text(out + "/fashion_mnist_mobilenet_qcfs/seed1/snn/summary.json");
  EXPECT_TRUE(contains(summary, "\"norm\": \"qcfs\"")) << summary;
  EXPECT_TRUE(contains(summary, "\"neuron\": \"if_subtract\"")) << summary;
  EXPECT_TRUE(contains(summary, "\"input\": \"current\"")) << summary;
  const CmdResult mnist = spikeforge(tmp, {"reproduce", "mobilenet", "--dataset", "mnist", "--out", tmp / "bad"});
  EXPECT_EQ(mnist.code, 2);
  EXPECT_TRUE(contains(error_line(mnist), "fashion_mnist (default) or cifar10")) << mnist.err;
}

// ---------------------------------------------------------------------------------------------------------
// Resume: checkpoint.sfm, --resume, --force, summary status.

// Starts `spikeforge ARGS...` as a child process (output to files in tmp) and returns its pid.
pid_t spawn(const TempDir& tmp, const std::vector<std::string>& args) {
  std::vector<std::string> all = {SPIKEFORGE_BIN};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out = tmp / "child.stdout", err = tmp / "child.stderr";
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = ::open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || in < 0) ::_exit(126);
    ::dup2(o, 1), ::dup2(e, 2), ::dup2(in, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits until `ready()` and then SIGKILLs the child; false (with the child reaped) if it exited first.
template <class Ready>
bool kill_when(pid_t pid, Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    if (ready()) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return false;
}

size_t history_epochs(const std::string& dir) {
  const std::string csv = read_text(dir + "/history.csv");
  const auto n = lines_of(csv).size();
  return n > 0 ? n - 1 : 0;
}

// Killed twice (mid-epoch in training, then in the fine-tuning phase) and resumed each time, a run gives the
// history (but for `seconds`) and the byte-identical model.sfm of the uninterrupted one. The recipe uses
// every piece of carried state: momentum, Keras decay (iterations), gradient noise (a sequential stream), a
// step decay schedule and a fine-tuning phase with another activation.
TEST_F(CliTest, ResumeAfterSigkillMatchesUninterruptedRun) {
  const auto t0 = std::chrono::steady_clock::now();
  make_dataset(tmp / "data", 1000, 100);
  std::vector<std::string> args = {"train", kConfig};
  const std::vector<std::string> sets = {
      "train.epochs=2",
      "train.batch=10",
      "train.loss=mse",
      "train.optimizer.lr=0.1",
      "train.optimizer.decay=1e-4",
      "train.optimizer.noise_std=0.01",
      "train.step_decay={factor: 0.5, every: 1}",
      "train.checkpoint_every=7",
      "threads=1",
      "finetune=[{name: nsp, epochs: 2, activation: noisy_softplus, label_shift: 0.01}]",
      "dataset.path=" + (tmp / "data")};
  for (const std::string& set : sets) {
    args.push_back("--set");
    args.push_back(set);
  }
  auto with_out = [&](const std::string& out) {
    auto a = args;
    a.push_back("--out");
    a.push_back(out);
    return a;
  };
  const std::string ref = tmp / "ref", run = tmp / "run";
  const CmdResult whole = spikeforge(tmp, with_out(ref));
  ASSERT_EQ(whole.code, 0) << whole.out << whole.err;
  EXPECT_FALSE(fs::exists(ref + "/checkpoint.sfm")) << "a completed run drops its resume checkpoint";
  ASSERT_EQ(history_epochs(ref), 4u);

  // Kill 1: just after the first checkpoint (step 7 of epoch 1).
  ASSERT_TRUE(kill_when(spawn(tmp, with_out(run)), [&] { return fs::exists(run + "/checkpoint.sfm"); }))
      << "the run ended before it could be killed: " << read_text(tmp / "child.stderr");
  EXPECT_FALSE(fs::exists(run + "/summary.json")) << "a killed run leaves no summary";
  const auto position = [&](const char* key) {
    return YAML::Load(load_checkpoint(run + "/checkpoint.sfm").architecture)["resume"][key].as<int>();
  };
  EXPECT_EQ(position("phase"), 0);
  EXPECT_GT(position("batch"), 0) << "the first resume starts mid-epoch";
  EXPECT_FALSE(fs::exists(run + "/model.sfm"));
  // A plain train into it is refused: it holds an unfinished run.
  const CmdResult refused = spikeforge(tmp, with_out(run));
  EXPECT_EQ(refused.code, 2) << refused.out << refused.err;
  EXPECT_TRUE(contains(error_line(refused), "--resume")) << refused.err;

  // Kill 2: in the fine-tuning phase (three epochs in history.csv).
  ASSERT_TRUE(kill_when(spawn(tmp, {"train", "--resume", run}), [&] { return history_epochs(run) >= 3; }))
      << "the resumed run ended before it could be killed: " << read_text(tmp / "child.stderr");
  EXPECT_TRUE(contains(read_text(tmp / "child.stdout"), "resuming")) << read_text(tmp / "child.stdout");
  EXPECT_EQ(position("phase"), 1) << "the second resume starts in the fine-tuning phase";
  EXPECT_FALSE(fs::exists(run + "/summary.json"));

  const CmdResult rest = spikeforge(tmp, {"train", "--resume", run});
  ASSERT_EQ(rest.code, 0) << rest.out << rest.err;
  EXPECT_EQ(history_without_seconds(read_text(run + "/history.csv")),
            history_without_seconds(read_text(ref + "/history.csv")));
  EXPECT_EQ(read_text(run + "/model.sfm"), read_text(ref + "/model.sfm")) << "model.sfm differs after resuming";
  const nlohmann::json a = nlohmann::json::parse(read_text(run + "/summary.json")),
                       b = nlohmann::json::parse(read_text(ref + "/summary.json"));
  EXPECT_EQ(a.at("status"), "completed");
  for (const char* k : {"test_accuracy", "test_loss", "epochs", "final_lr", "final_loss", "phases"})
    EXPECT_EQ(a.at(k), b.at(k)) << k;
  EXPECT_FALSE(fs::exists(run + "/checkpoint.sfm"));
  EXPECT_TRUE(tmp_files_in(run).empty());

  // A completed run has nothing to resume.
  const CmdResult done = spikeforge(tmp, {"train", "--resume", run});
  EXPECT_EQ(done.code, 2) << done.out << done.err;
  EXPECT_TRUE(contains(error_line(done), run + "/summary.json")) << done.err;
  std::printf("[ resume ] SIGKILL test took %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

TEST_F(CliTest, CheckpointEveryIsValidatedAndResolved) {
  CmdResult r = train(tmp, tmp / "neg", {"--set", "train.checkpoint_every=-1"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  std::string e = error_line(r);
  EXPECT_TRUE(contains(e, "train.checkpoint_every") && contains(e, ">= 0")) << e;
  r = train(tmp, tmp / "word", {"--set", "train.checkpoint_every=often"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  e = error_line(r);
  EXPECT_TRUE(contains(e, "train.checkpoint_every") && contains(e, "integer")) << e;
  EXPECT_FALSE(fs::exists(tmp / "neg"));

  r = train(tmp, tmp / "ok", {"--set", "train.checkpoint_every=3"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(read_text(tmp / "ok/config.yaml"), "checkpoint_every: 3"));
}

// A run that fails on I/O (its model.sfm cannot be written) keeps its checkpoint and a failed summary; the
// checkpoint's checks (missing, corrupt, truncated, another experiment) refuse --resume naming the file; once
// the cause is gone, --resume finishes with the model an uninterrupted run writes.
TEST_F(CliTest, ResumeChecksItsInputsAndFinishesAFailedRun) {
  const std::string out = tmp / "run";
  // Nothing to resume: no config.yaml.
  CmdResult r = spikeforge(tmp, {"train", "--resume", tmp / "nothing"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), tmp / "nothing/config.yaml")) << r.err;

  fs::create_directories(out + "/model.sfm/blocker");
  r = train(tmp, out);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), out + "/model.sfm")) << r.err;
  const nlohmann::json js = nlohmann::json::parse(read_text(out + "/summary.json"));
  EXPECT_EQ(js.at("status"), "failed") << js;
  EXPECT_TRUE(contains(js.at("reason").get<std::string>(), "model.sfm")) << js;
  EXPECT_EQ(js.at("resumable"), true) << js;
  EXPECT_EQ(js.at("epochs"), 2) << js;
  const std::string ckpt = out + "/checkpoint.sfm";
  ASSERT_TRUE(fs::is_regular_file(ckpt));

  // A resume checkpoint's model part is an ordinary model: evaluate reads it.
  r = spikeforge(tmp, {"evaluate", ckpt, "--data-dir", tmp / "data", "--threads", "1"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "(100 images)")) << r.out;

  // --resume keeps the run's own settings.
  r = spikeforge(tmp, {"train", "--resume", out, "--set", "train.epochs=3"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), "--set")) << r.err;

  const std::string bytes = read_text(ckpt);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  write_text(ckpt, flipped);
  r = spikeforge(tmp, {"train", "--resume", out});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  std::string e = error_line(r);
  EXPECT_TRUE(contains(e, ckpt) && contains(e, "checksum")) << e;
  write_text(ckpt, bytes.substr(0, bytes.size() - 10));
  r = spikeforge(tmp, {"train", "--resume", out});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  e = error_line(r);
  EXPECT_TRUE(contains(e, ckpt) && contains(e, "truncated")) << e;
  write_text(ckpt, bytes);

  const std::string config = read_text(out + "/config.yaml");
  ASSERT_TRUE(contains(config, "lr: 0.2")) << config;
  write_text(out + "/config.yaml",
             config.substr(0, config.find("lr: 0.2")) + "lr: 0.3" + config.substr(config.find("lr: 0.2") + 7));
  r = spikeforge(tmp, {"train", "--resume", out});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  e = error_line(r);
  EXPECT_TRUE(contains(e, out + "/config.yaml") && contains(e, "another experiment") && contains(e, "lr: 0.29")) << e;
  write_text(out + "/config.yaml", config);

  fs::remove(ckpt);
  r = spikeforge(tmp, {"train", "--resume", out});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(error_line(r), ckpt)) << r.err;
  write_text(ckpt, bytes);

  // How often the host reads the totals, and whether a GPU replays a recorded step, are no part of the
  // experiment (nor in checkpoints older than the keys).
  ASSERT_TRUE(contains(config, "sync_every: 0") && contains(config, "cuda_graph: true")) << config;
  std::string changed = config;
  changed.replace(changed.find("sync_every: 0"), 13, "sync_every: 7");
  changed.replace(changed.find("cuda_graph: true"), 16, "cuda_graph: false");
  write_text(out + "/config.yaml", changed);
  fs::remove_all(out + "/model.sfm");
  r = spikeforge(tmp, {"train", "--resume", out});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const CmdResult ref = train(tmp, tmp / "ref");
  ASSERT_EQ(ref.code, 0) << ref.out << ref.err;
  EXPECT_EQ(read_text(out + "/model.sfm"), read_text(tmp / "ref/model.sfm"));
  EXPECT_EQ(history_without_seconds(read_text(out + "/history.csv")),
            history_without_seconds(read_text(tmp / "ref/history.csv")));
  EXPECT_EQ(nlohmann::json::parse(read_text(out + "/summary.json")).at("status"), "completed");

  // A completed folder is refused without --force, naming it; --force starts over (same seed, same model).
  r = train(tmp, out);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  e = error_line(r);
  EXPECT_TRUE(contains(e, out) && contains(e, "completed") && contains(e, "--force")) << e;
  r = train(tmp, out, {"--force"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(read_text(out + "/model.sfm"), read_text(tmp / "ref/model.sfm"));
}

}  // namespace
}  // namespace sf
