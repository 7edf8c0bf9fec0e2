// ONNX import (interchange/onnx_import.h). Two kinds of test:
//   - nets PyTorch 1.13 trained and exported (tests/onnx_export.py, Debian's /usr/bin/python3 with
//     python3-torch): spikeforge's outputs on the 10,000 MNIST test images against PyTorch's, and the imported
//     net's SNN against its ANN;
//   - graphs written here with libonnx's protobuf classes, for what PyTorch does not export: Keras's NHWC
//     transposes, MatMul + Add, dynamic dims, and the bad inputs (truncated, corrupt, NaN, unsupported nodes).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backends/conversion_run.h"
#include "core/io.h"
#include "core/rng.h"
#include "datasets/dataset.h"
#include "interchange/import_run.h"
#include "tests/support.h"
#include "train/trainer.h"

namespace sf {
namespace {

namespace fs = std::filesystem;
using test::bad_input;
using test::TempDir;

// ---- graphs built here ----

void set_floats(onnx::TensorProto* t, const std::string& name, const Shape& dims, const std::vector<float>& v) {
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  for (float x : v) t->add_float_data(x);
}

std::vector<float> random_values(int64_t n, uint64_t seed, float scale = 0.5f) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = scale * (2.0f * static_cast<float>(rng.uniform()) - 1.0f);
  return v;
}

class GraphBuilder {
 public:
  explicit GraphBuilder(int64_t opset = 13) {
    model_.set_ir_version(7);
    model_.set_producer_name("spikeforge-test");
    model_.add_opset_import()->set_version(opset);
    g_ = model_.mutable_graph();
    g_->set_name("test");
  }
  // The graph input: dims < 0 are dynamic.
  GraphBuilder& input(const std::string& name, const std::vector<int64_t>& dims) {
    auto* in = g_->add_input();
    in->set_name(name);
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) {
      auto* dim = tt->mutable_shape()->add_dim();
      if (d < 0)
        dim->set_dim_param("d" + std::to_string(tt->shape().dim_size()));
      else
        dim->set_dim_value(d);
    }
    return *this;
  }
  GraphBuilder& init(const std::string& name, const Shape& dims, const std::vector<float>& v) {
    set_floats(g_->add_initializer(), name, dims, v);
    return *this;
  }
  GraphBuilder& init_ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
    return *this;
  }
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& in, const std::string& out,
                        const std::string& name = "") {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + std::to_string(g_->node_size()) : name);
    for (const auto& i : in) n->add_input(i);
    n->add_output(out);
    return *n;
  }
  static void ints(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void integer(onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  // The graph output, of `rank` dynamic dims.
  GraphBuilder& output(const std::string& name, int rank = 2) {
    auto* o = g_->add_output();
    o->set_name(name);
    auto* tt = o->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = tt->mutable_shape();
    for (int i = 0; i < rank; ++i) shape->add_dim()->set_dim_param("out" + std::to_string(i));
    return *this;
  }
  std::string write(const std::string& path) const {
    std::ofstream f(path, std::ios::binary);
    model_.SerializeToOstream(&f);
    return path;
  }
  onnx::GraphProto& graph() { return *g_; }

 private:
  onnx::ModelProto model_;
  onnx::GraphProto* g_;
};

// conv 3@3x3 (bias) → relu → [Transpose to NHWC] → flatten → dense 4: the NCHW original, or the same net as a
// Keras export spells it (NHWC input, Transposes, Dropout, MatMul + Add with the weight rows in H, W, C order).
// C, H and W all differ, so a permutation that swaps any two of them gives other outputs.
constexpr int64_t kC = 3, kH = 6, kW = 8, kOH = kH - 2, kOW = kW - 2, kOut = 4, kFeatures = kC * kOH * kOW;
const std::vector<float> kConvW = random_values(kC * 2 * 3 * 3, 1), kConvB = random_values(kC, 2);
const std::vector<float> kDenseW = random_values(kOut * kFeatures, 3), kDenseB = random_values(kOut, 4);

std::string nchw_net(const std::string& path, bool dynamic = false) {
  GraphBuilder b;
  b.input("x", {dynamic ? -1 : 1, 2, dynamic ? -1 : kH, dynamic ? -1 : kW})
      .init("w", {kC, 2, 3, 3}, kConvW)
      .init("b", {kC}, kConvB)
      .init("fc_w", {kOut, kFeatures}, kDenseW)
      .init("fc_b", {kOut}, kDenseB);
  b.node("Conv", {"x", "w", "b"}, "c");
  b.node("Relu", {"c"}, "r");
  b.node("Flatten", {"r"}, "f");
  GraphBuilder::integer(b.node("Gemm", {"f", "fc_w", "fc_b"}, "y"), "transB", 1);
  return b.output("y").write(path);
}

std::string nhwc_net(const std::string& path) {
  // Keras flattens (h, w, c); its MatMul weight is [in, out].
  std::vector<float> w(kDenseW.size());
  for (int64_t o = 0; o < kOut; ++o)
    for (int64_t c = 0; c < kC; ++c)
      for (int64_t y = 0; y < kOH; ++y)
        for (int64_t x = 0; x < kOW; ++x)
          w[((y * kOW + x) * kC + c) * kOut + o] = kDenseW[o * kFeatures + (c * kOH + y) * kOW + x];
  GraphBuilder b;
  b.input("x_nhwc", {1, kH, kW, 2})
      .init("w", {kC, 2, 3, 3}, kConvW)
      .init("b", {kC}, kConvB)
      .init("fc_w", {kFeatures, kOut}, w)
      .init("fc_b", {kOut}, kDenseB)
      .init_ints("shape", {-1, kFeatures});
  GraphBuilder::ints(b.node("Transpose", {"x_nhwc"}, "x"), "perm", {0, 3, 1, 2});
  b.node("Conv", {"x", "w", "b"}, "c");
  b.node("Relu", {"c"}, "r");
  GraphBuilder::ints(b.node("Transpose", {"r"}, "r_nhwc"), "perm", {0, 2, 3, 1});
  b.node("Reshape", {"r_nhwc", "shape"}, "f");
  b.node("Dropout", {"f"}, "d");
  b.node("MatMul", {"d", "fc_w"}, "m");
  b.node("Add", {"m", "fc_b"}, "y");
  return b.output("y").write(path);
}

Dataset random_images(int64_t n, const Shape& sample, uint64_t seed) {
  Dataset d;
  d.name = "random";
  d.num_classes = static_cast<int>(kOut);
  Shape s = sample;
  s.insert(s.begin(), n);
  const std::vector<float> v = random_values(numel(s), seed, 1.0f);
  d.images = Tensor::from(s, v);
  d.labels.assign(static_cast<size_t>(n), 0);
  return d;
}

Predictions outputs(Model& m, const Dataset& d) {
  TrainSpec spec;
  spec.eval_batch = 7;
  Trainer t(m, spec, Device::cpu, 0);
  Predictions p;
  t.evaluate(d, &p);
  return p;
}

TEST(OnnxImport, GraphWrittenHereImportsWithItsLayersAndWeights) {
  TempDir dir("onnx");
  const OnnxImport m = import_onnx(nchw_net(dir.file("net.onnx")));
  EXPECT_EQ(m.spec.arch, "layers");
  EXPECT_EQ(m.spec.input, (Shape{2, kH, kW}));
  EXPECT_EQ(m.spec.classes, kOut);
  EXPECT_EQ(m.loss, "crossentropy") << "logits: PyTorch's CrossEntropyLoss";
  ASSERT_FALSE(m.notes.empty());
  EXPECT_NE(m.notes.back().find("--loss mse"), std::string::npos) << m.notes.back();
  ASSERT_EQ(m.model.layers().size(), 4u);
  EXPECT_EQ(m.model.layers()[0].type, "conv2d");
  EXPECT_EQ(m.model.layers()[3].type, "dense");
  EXPECT_EQ(m.model.layers()[0].params[1].value.to_vector(), kConvB);
  EXPECT_EQ(m.model.layers()[3].params[0].value.to_vector(), kDenseW);
}

TEST(OnnxImport, ImportCommandWritesACheckpointAndConfigThatLoad) {
  TempDir dir("onnx");
  const std::string onnx = nchw_net(dir.file("net.onnx"));
  const std::string cmd = std::string(SPIKEFORGE_BIN) + " import " + onnx + " --out " + dir.str() +
                          "/imported --dataset cifar10 >" + dir.file("stdout.txt") + " 2>&1";
  // cifar10 images are 3×32×32 and this net reads 2×5×5: refused, naming the flag.
  ASSERT_NE(std::system(cmd.c_str()), 0);
  EXPECT_NE(read_file(dir.file("stdout.txt")).find("--dataset"), std::string::npos)
      << read_file(dir.file("stdout.txt"));
  // A net for MNIST-shaped input imports and loads back as a checkpoint.
  GraphBuilder b;
  b.input("x", {-1, 1, 28, 28})
      .init("fc_w", {10, 784}, random_values(7840, 5))
      .init("fc_b", {10}, random_values(10, 6));
  b.node("Flatten", {"x"}, "f");
  GraphBuilder::integer(b.node("Gemm", {"f", "fc_w", "fc_b"}, "y"), "transB", 1);
  const std::string mlp = b.output("y").write(dir.file("mlp.onnx"));
  const std::string ok = std::string(SPIKEFORGE_BIN) + " import " + mlp + " --out " + dir.str() + "/imported >" +
                         dir.file("stdout.txt") + " 2>&1";
  ASSERT_EQ(std::system(ok.c_str()), 0) << read_file(dir.file("stdout.txt"));
  const std::string printed = read_file(dir.file("stdout.txt"));
  EXPECT_NE(printed.find("dense"), std::string::npos) << printed;
  EXPECT_NE(printed.find("import_seconds="), std::string::npos) << printed;
  LoadedModel m = load_model(dir.str() + "/imported/model.sfm");
  EXPECT_EQ(m.spec.arch, "layers");
  EXPECT_EQ(m.dataset, "mnist");
  EXPECT_EQ(m.model.layers().back().params[1].value.to_vector(), random_values(10, 6));
  EXPECT_TRUE(fs::exists(dir.str() + "/imported/config.yaml"));
  // A second import into the folder would replace its model: refused without --force.
  ASSERT_NE(std::system(ok.c_str()), 0);
  EXPECT_NE(read_file(dir.file("stdout.txt")).find("--force"), std::string::npos) << read_file(dir.file("stdout.txt"));
  const std::string forced = std::string(SPIKEFORGE_BIN) + " import " + mlp + " --force --out " + dir.str() +
                             "/imported >" + dir.file("stdout.txt") + " 2>&1";
  EXPECT_EQ(std::system(forced.c_str()), 0) << read_file(dir.file("stdout.txt"));
}

TEST(OnnxImport, KerasNhwcTransposesFoldAndGiveTheSameOutputs) {
  TempDir dir("onnx");
  OnnxImport a = import_onnx(nchw_net(dir.file("nchw.onnx")));
  OnnxImport b = import_onnx(nhwc_net(dir.file("nhwc.onnx")));
  EXPECT_EQ(b.spec.input, (Shape{2, kH, kW})) << "the NHWC input transpose folds: the model reads NCHW";
  std::string notes;
  for (const auto& n : b.notes) notes += n + "\n";
  EXPECT_NE(notes.find("Dropout"), std::string::npos) << notes;
  EXPECT_NE(notes.find("permuted"), std::string::npos) << notes;
  const Dataset d = random_images(20, {2, kH, kW}, 9);
  const Predictions pa = outputs(a.model, d), pb = outputs(b.model, d);
  ASSERT_EQ(pa.outputs.size(), pb.outputs.size());
  for (size_t i = 0; i < pa.outputs.size(); ++i) EXPECT_NEAR(pa.outputs[i], pb.outputs[i], 1e-5) << i;
}

TEST(OnnxImport, DynamicSpatialDimsNeedTheInputShapeFlag) {
  TempDir dir("onnx");
  const std::string path = nchw_net(dir.file("dyn.onnx"), true);
  EXPECT_NE(bad_input([&] { import_onnx(path); }).find("--input-shape"), std::string::npos);
  OnnxImportOptions o;
  o.input_shape = {2, kH, kW};
  EXPECT_EQ(import_onnx(path, o).spec.input, (Shape{2, kH, kW}));
  o.input_shape = {3, kH, kW};  // the channels are static in the file: 2
  EXPECT_NE(bad_input([&] { import_onnx(path, o); }).find("--input-shape"), std::string::npos);
}

TEST(OnnxImport, TruncatedOrCorruptFilesNameTheFile) {
  TempDir dir("onnx");
  const std::string good = read_file(nchw_net(dir.file("net.onnx")));
  const std::string cut = dir.file("cut.onnx"), junk = dir.file("junk.onnx");
  write_file_atomic(cut, good.substr(0, good.size() / 2));
  write_file_atomic(junk, "this is not a protobuf at all \x01\x02\xff");
  for (const std::string& p : {cut, junk, dir.file("missing.onnx")}) {
    const std::string msg = bad_input([&] { import_onnx(p); });
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

TEST(OnnxImport, NonFiniteWeightsNameTheInitializer) {
  TempDir dir("onnx");
  GraphBuilder b;
  std::vector<float> w = kConvW;
  w[5] = std::nanf("");
  b.input("x", {1, 2, kH, kW}).init("conv_weight_bad", {kC, 2, 3, 3}, w);
  b.node("Conv", {"x", "conv_weight_bad"}, "y");
  const std::string path = b.output("y", 4).write(dir.file("nan.onnx"));
  const std::string msg = bad_input([&] { import_onnx(path); });
  EXPECT_NE(msg.find("initializer 'conv_weight_bad'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
}

TEST(OnnxImport, EachUnsupportedNodeGetsOneLineNamingIt) {
  TempDir dir("onnx");
  GraphBuilder b;
  b.input("x", {1, 2, kH, kW});
  b.node("MaxPool", {"x"}, "p", "pool_a");
  b.node("Sigmoid", {"p"}, "s", "squash");
  b.node("Relu", {"s"}, "y");
  GraphBuilder::ints(b.graph().mutable_node(0)[0], "kernel_shape", {2, 2});
  const std::string path = b.output("y", 4).write(dir.file("unsupported.onnx"));
  const std::string msg = bad_input([&] { import_onnx(path); });
  EXPECT_NE(msg.find("\n  node 'pool_a' (MaxPool) does not import"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\n  node 'squash' (Sigmoid) does not import"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spikeforge imports Conv"), std::string::npos) << msg;
}

TEST(OnnxImport, BranchesAndOpsetsOutsideTheRangeAreRefusedByName) {
  TempDir dir("onnx");
  GraphBuilder b;
  b.input("x", {1, 2, kH, kW});
  b.node("Relu", {"x"}, "a", "left");
  b.node("Relu", {"a"}, "c", "right");
  b.node("Add", {"a", "c"}, "y", "residual");
  const std::string path = b.output("y", 4).write(dir.file("branch.onnx"));
  // `left`'s output feeds both `right` and the skip connection `residual`: the node after it is refused,
  // naming the other reader.
  const std::string msg = bad_input([&] { import_onnx(path); });
  EXPECT_NE(msg.find("node 'right' (Relu): its input 'a' is read by node 'residual' (Add) too"), std::string::npos)
      << msg;
  GraphBuilder old(8);
  old.input("x", {1, 2, kH, kW});
  old.node("Relu", {"x"}, "y");
  const std::string p8 = old.output("y", 4).write(dir.file("opset8.onnx"));
  EXPECT_NE(bad_input([&] { import_onnx(p8); }).find("opsets 9-17"), std::string::npos);
}

TEST(OnnxImport, FlatInputTakesTheImageShapeFlagAndMatchesTheImageForm) {
  TempDir dir("onnx");
  // The same dense net on [N, 1, 4, 6] images and on their flattened [N, 24] form.
  const std::vector<float> w = random_values(kOut * 24, 21), bias = random_values(kOut, 22);
  GraphBuilder image;
  image.input("x", {-1, 1, 4, 6}).init("w", {kOut, 24}, w).init("b", {kOut}, bias);
  image.node("Flatten", {"x"}, "f");
  GraphBuilder::integer(image.node("Gemm", {"f", "w", "b"}, "y"), "transB", 1);
  GraphBuilder flat;
  flat.input("x", {-1, 24}).init("w", {kOut, 24}, w).init("b", {kOut}, bias);
  GraphBuilder::integer(flat.node("Gemm", {"x", "w", "b"}, "y"), "transB", 1);
  const std::string flat_path = flat.output("y").write(dir.file("flat.onnx"));
  EXPECT_NE(bad_input([&] { import_onnx(flat_path); }).find("--input-shape"), std::string::npos);
  OnnxImportOptions o;
  o.input_shape = {1, 4, 6};
  OnnxImport a = import_onnx(image.output("y").write(dir.file("image.onnx"))), b = import_onnx(flat_path, o);
  const Dataset d = random_images(9, {1, 4, 6}, 23);
  EXPECT_EQ(outputs(a.model, d).outputs, outputs(b.model, d).outputs);
  o.input_shape = {1, 5, 6};
  EXPECT_NE(bad_input([&] { import_onnx(flat_path, o); }).find("--input-shape"), std::string::npos);
}

TEST(OnnxImport, MalformedAttributesAndConstantsAreRefusedByName) {
  TempDir dir("onnx");
  const auto message = [&](GraphBuilder& b, int rank) {
    const std::string path = b.output("y", rank).write(dir.file("bad.onnx"));
    return bad_input([&] { import_onnx(path); });
  };
  {  // stride 0 would divide by zero in the shape rules (libonnx's too)
    GraphBuilder b;
    b.input("x", {1, 2, kH, kW}).init("w", {kC, 2, 3, 3}, kConvW);
    GraphBuilder::ints(b.node("Conv", {"x", "w"}, "y", "zero_stride"), "strides", {0, 0});
    EXPECT_NE(message(b, 4).find("node 'zero_stride' (Conv)"), std::string::npos);
  }
  {  // Clip's bound must be one value
    GraphBuilder b;
    b.input("x", {1, 2, kH, kW}).init("lo", {0}, {}).init("hi", {1}, {6.0f});
    b.node("Clip", {"x", "lo", "hi"}, "y", "empty_min");
    const std::string msg = message(b, 4);
    EXPECT_NE(msg.find("node 'empty_min' (Clip)"), std::string::npos) << msg;
  }
  {  // a per-channel conv bias is [C, 1, 1]: [C] adds along W
    GraphBuilder b;
    b.input("x", {1, 2, kH, kW}).init("w", {kC, 2, 3, 3}, kConvW).init("b", {kC}, kConvB);
    b.node("Conv", {"x", "w"}, "c");
    b.node("Add", {"c", "b"}, "y", "w_broadcast");
    const std::string msg = message(b, 4);
    EXPECT_NE(msg.find("node 'w_broadcast' (Add)"), std::string::npos) << msg;
  }
  {  // dims whose product is huge, with one value stored: refused before anything is allocated
    GraphBuilder b;
    b.input("x", {1, 2, kH, kW});
    auto* t = b.graph().add_initializer();
    set_floats(t, "huge", {int64_t{1} << 31, 4}, {1.0f});
    b.node("Conv", {"x", "huge"}, "y");
    const std::string msg = message(b, 4);
    EXPECT_NE(msg.find("initializer 'huge'"), std::string::npos) << msg;
  }
}

// ---- nets PyTorch trained ----

std::string mnist_dir() { return std::string(SPIKEFORGE_SOURCE_DIR) + "/data/mnist"; }

std::string torch_skip_reason() {
  if (!fs::exists(mnist_dir())) return "real MNIST is not in data/mnist (scripts/fetch_data.sh mnist)";
  if (std::system("/usr/bin/python3 -c 'import torch.onnx' >/dev/null 2>&1") != 0)
    return "/usr/bin/python3 cannot import torch (scripts/setup.sh installs python3-torch)";
  return "";
}

struct TorchRow {
  int label = 0, predicted = 0;
  std::vector<double> outputs;
};

std::vector<TorchRow> read_predictions(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);  // header
  std::vector<TorchRow> rows;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string cell;
    std::vector<double> v;
    while (std::getline(f, cell, ',')) v.push_back(std::stod(cell));
    TorchRow r;
    r.label = static_cast<int>(v.at(1));
    r.predicted = static_cast<int>(v.at(2));
    r.outputs.assign(v.begin() + 3, v.end());
    rows.push_back(std::move(r));
  }
  return rows;
}

// The export folders, removed when the test process ends.
struct ExportFolders {
  std::map<std::string, std::string> done;
  ~ExportFolders() {
    std::error_code ec;
    for (const auto& [key, dir] : done) fs::remove_all(dir, ec);
  }
};

// Exports `net` once per process (it trains on 20,000 MNIST images for one epoch: a few seconds).
std::string exported(const std::string& net, int opset) {
  static ExportFolders folders;
  auto& done = folders.done;
  const std::string key = net + std::to_string(opset);
  if (done.count(key)) return done[key];
  const fs::path dir = fs::temp_directory_path() / ("spikeforge_onnx_" + key + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cmd = "/usr/bin/python3 " SPIKEFORGE_SOURCE_DIR "/tests/onnx_export.py --net " + net + " --opset " +
                          std::to_string(opset) + " --train-images 20000 --data " + mnist_dir() + " --out " +
                          dir.string() + " >" + (dir / "log.txt").string() + " 2>&1";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << cmd << "\n" << read_file((dir / "log.txt").string());
  return done[key] = dir.string();
}

// spikeforge's outputs for the imported net against PyTorch's, on the whole MNIST test set.
void expect_same_as_pytorch(const std::string& dir) {
  const ImportResult r = import_to_folder(dir + "/model.onnx", dir + "/imported", {}, true);
  LoadedModel m = load_model(dir + "/imported/model.sfm");
  const DatasetSplit data = load_dataset("mnist", mnist_dir());
  const Predictions ours = outputs(m.model, data.test);
  const std::vector<TorchRow> theirs = read_predictions(dir + "/torch_outputs.csv");
  ASSERT_EQ(theirs.size(), ours.labels.size());
  int64_t agree = 0;
  double worst = 0;  // |ours − theirs| relative to the image's largest output
  for (size_t i = 0; i < theirs.size(); ++i) {
    const float* row = ours.outputs.data() + i * 10;
    agree += std::max_element(row, row + 10) - row == theirs[i].predicted;
    double scale = 0;
    for (double v : theirs[i].outputs) scale = std::max(scale, std::abs(v));
    for (int k = 0; k < 10; ++k) worst = std::max(worst, std::abs(row[k] - theirs[i].outputs[k]) / scale);
  }
  std::printf(
      "[ onnx ] %s: %lld of 10000 predictions agree with PyTorch; largest difference %.2g of the image's "
      "largest output; import %s\n",
      dir.c_str(), static_cast<long long>(agree), worst, r.out_dir.c_str());
  EXPECT_GE(agree, 9995);
  EXPECT_LE(worst, 1e-4);
}

TEST(OnnxPytorch, LiuSmallNetPredictsAsInPyTorch) {
  if (const std::string why = torch_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  expect_same_as_pytorch(exported("liu", 13));
}

TEST(OnnxPytorch, MobileNetBlockWithDepthwiseBatchNormAndRelu6PredictsAsInPyTorch) {
  if (const std::string why = torch_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  // Opset 9 spells Clip's bounds as attributes, 11 and later as inputs.
  for (int opset : {9, 13}) {
    SCOPED_TRACE(opset);
    const std::string dir = exported("mobile", opset);
    const OnnxImport m = import_onnx(dir + "/model.onnx");
    int depthwise = 0, bn = 0, relu6 = 0;
    for (const auto& l : m.model.layers()) {
      depthwise += l.type == "conv2d" && l.attrs.get_int("groups", 1) > 1;
      bn += l.type == "batchnorm";
      relu6 += l.type == "relu6";
    }
    EXPECT_EQ(depthwise, 1);
    EXPECT_EQ(bn, 3);
    EXPECT_EQ(relu6, 3);
    EXPECT_EQ(m.loss, "crossentropy") << "the softmax at the output is the readout";
    expect_same_as_pytorch(dir);
  }
}

TEST(OnnxPytorch, ImportedLiuNetConvertsToAnSnnWithinAFewTenthsOfItsAnn) {
  if (const std::string why = torch_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  ConvertRunOptions o;
  o.checkpoint = exported("liu", 13) + "/model.onnx";  // converted straight from the ONNX file
  o.out_dir = o.checkpoint + ".snn";
  o.data_dir = mnist_dir();
  o.quiet = true;
  o.convert.norm = snn::Norm::robust;
  o.convert.neuron = snn::NeuronModel::if_subtract;
  o.convert.input.kind = snn::InputEncoding::current;
  o.sim.steps = 100;
  o.sim.images = 5000;
  const ConvertRunResult r = run_conversion(o);
  const double snn = r.sim.accuracy_at(100);
  std::printf("[ onnx ] imported Liu net: ANN %.4f, SNN %.4f at T = 100 (5000 images)\n", r.ann_accuracy, snn);
  EXPECT_GT(r.ann_accuracy, 0.85);
  EXPECT_LE(std::abs(r.ann_accuracy - snn), 0.003);
}

TEST(OnnxPytorch, ImportedLiuNetRoundTripsThroughNirWithTheSamePredictions) {
  if (const std::string why = torch_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  ConvertRunOptions o;
  o.checkpoint = exported("liu", 13) + "/model.onnx";
  o.data_dir = mnist_dir();
  o.quiet = true;
  o.convert.norm = snn::Norm::robust;
  o.convert.neuron = snn::NeuronModel::if_reset_zero;
  o.convert.input.kind = snn::InputEncoding::current;
  o.sim.steps = 100;
  o.sim.images = 1000;
  o.out_dir = o.checkpoint + ".cpu";
  const ConvertRunResult direct = run_conversion(o);
  ConvertRunOptions e = o;
  e.backend = "nir";
  e.out_dir = o.checkpoint + ".nir";
  e.force = true;
  const ConvertRunResult exported_run = run_conversion(e);
  ASSERT_TRUE(exported_run.exported);
  std::printf("[ onnx ] NIR export of the Liu net: %.4f s\n", exported_run.export_result.seconds);
  ConvertRunOptions back = o;
  back.checkpoint = e.out_dir + "/network.nir";
  back.out_dir = e.out_dir + "/sim";
  back.flags_given = {};
  const ConvertRunResult again = run_conversion(back);
  EXPECT_EQ(again.sim.predicted, direct.sim.predicted);
  EXPECT_TRUE(again.sim.output_counts == direct.sim.output_counts);
  EXPECT_GT(direct.sim.accuracy_at(100), 0.85);
}

}  // namespace
}  // namespace sf
