// The kernel registry's choice and the typed attributes.
//   SelectionTest  supports() steers the choice by the concrete input shapes (and attributes): the Liu nets keep
//                  the kernels they had, large-channel layers go to oneDNN, a test-only kernel is chosen exactly
//                  where it says it supports the shapes, an explicit request outside supports() fails clearly.
//   AttrsTest      typed values and getters, the per-op attribute tables make_op() checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/graph.h"
#include "models/zoo.h"
#include "ops/activation.h"
#include "ops/op_schema.h"
#include "ops/registry.h"

namespace {

using sf::Attrs;
using sf::AttrValue;
using sf::Device;
using sf::NodeId;
using sf::OpRegistry;
using sf::Shape;
using sf::Tensor;

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const sf::Error& e) {
    return (e.kind() == sf::ErrorKind::Internal ? "" : "WRONG ERROR KIND: ") + std::string(e.what());
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return "NO EXCEPTION";
}

void expect_contains(const std::string& msg, const std::vector<std::string>& parts) {
  for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' missing from: " << msg;
  EXPECT_EQ(msg.find("WRONG"), std::string::npos) << msg;
  EXPECT_NE(msg, "NO EXCEPTION");
}

std::string chosen(const std::string& type, const Attrs& attrs, const std::vector<Shape>& shapes) {
  return OpRegistry::instance().select(type, attrs, Device::cpu, shapes).impl;
}

// ---------------------------------------------------------------------------------------------------------
// The Liu nets keep their kernels: layer name → implementation of every op in a training graph (batch 50,
// and 25, a data-parallel shard's half batch).

std::map<std::string, std::string> impls_in_graph(const sf::ModelSpec& spec, int64_t batch) {
  const sf::Model m = sf::build_model(spec, 1);
  sf::Graph g;
  const NodeId x = g.input("x", {batch, 1, 28, 28});
  m.build(g, x, /*with_grads=*/true);
  std::map<std::string, std::string> out;
  for (NodeId i = 0; i < g.size(); ++i)
    if (g.op(i)) out[g.name(i)] = g.op(i)->impl();
  return out;
}

TEST(SelectionTest, LiuNetsKeepTheirKernels) {
  for (const char* arch : {"liu_small", "liu_large"})
    for (int64_t batch : {50, 25}) {
      SCOPED_TRACE(std::string(arch) + " batch " + std::to_string(batch));
      sf::ModelSpec spec;
      spec.arch = arch;
      const std::map<std::string, std::string> want = {
          {"conv1", "gemm"},  {"act1", "openmp"}, {"pool1", "loops"},       {"conv2", "gemm"},
          {"act2", "openmp"}, {"pool2", "loops"}, {"flatten", "reference"}, {"dense", "loops"},
      };
      EXPECT_EQ(impls_in_graph(spec, batch), want);
    }
  // Per-neuron Noisy Softplus with pool activations, LDR-quantised weights: the same choices, and the σ² pass
  // of each Liu op runs its source layer's kernel for the source's shapes (select() is what it calls).
  sf::ModelSpec spec;
  spec.arch = "liu_large";
  spec.activation = "noisy_softplus", spec.nsp_per_neuron = true, spec.pool_activation = true;
  spec.weight_quant = {4, 1};
  const auto got = impls_in_graph(spec, 50);
  for (const char* layer : {"conv1", "conv2"}) EXPECT_EQ(got.at(layer), "gemm") << layer;
  for (const char* layer : {"pool1", "pool2", "dense"}) EXPECT_EQ(got.at(layer), "loops") << layer;
  for (const char* layer : {"act1", "pool1_act", "act2", "pool2_act"}) EXPECT_EQ(got.at(layer), "openmp") << layer;
  EXPECT_EQ(got.at("conv1.weight_q"), "reference");
  EXPECT_EQ(chosen("conv2d", {}, {{50, 1, 28, 28}, {16, 1, 5, 5}}), "gemm");
  EXPECT_EQ(chosen("conv2d", {}, {{50, 16, 12, 12}, {64, 16, 5, 5}}), "gemm");
  EXPECT_EQ(chosen("avgpool2d", {{"kernel", 2}}, {{50, 64, 8, 8}}), "loops");
  EXPECT_EQ(chosen("dense", {}, {{50, 1024}, {10, 1024}, {10}}), "loops");
}

// ---------------------------------------------------------------------------------------------------------
// supports() on the registered kernels

TEST(SelectionTest, LargeChannelLayersGoToOneDnn) {
  // MobileNet-sized layers the hand-written kernels were never measured on.
  EXPECT_EQ(chosen("conv2d", {}, {{8, 512, 7, 7}, {512, 512, 1, 1}}), "onednn");
  EXPECT_EQ(chosen("conv2d", {{"pad", 1}}, {{8, 256, 14, 14}, {256, 256, 3, 3}}), "onednn");
  EXPECT_EQ(chosen("conv2d", {{"stride", 2}, {"pad", 1}}, {{8, 3, 224, 224}, {32, 3, 3, 3}}), "onednn");
  // The micro-GEMM's slow paths (padded / strided im2col, rows not a multiple of 8) are not chosen either.
  EXPECT_EQ(chosen("conv2d", {{"pad", 2}}, {{50, 6, 12, 12}, {12, 6, 5, 5}}), "onednn");
  EXPECT_EQ(chosen("conv2d", {}, {{50, 6, 11, 11}, {12, 6, 5, 5}}), "onednn");
  EXPECT_EQ(chosen("dense", {}, {{50, 1024}, {1000, 1024}, {1000}}), "onednn");
  EXPECT_EQ(chosen("dense", {}, {{50, 4096}, {10, 4096}}), "onednn");
  EXPECT_EQ(chosen("avgpool2d", {{"kernel", 7}}, {{8, 1024, 7, 7}}), "loops");  // measured: loops 2× faster
  EXPECT_EQ(chosen("avgpool2d", {}, {{8, 2048, 7, 7}}), "onednn");
  EXPECT_EQ(chosen("avgpool2d", {}, {{1, 3, 112, 112}}), "onednn");
  // MobileNet's grouped and NHWC layers: the micro-GEMM takes neither, whatever the size.
  EXPECT_EQ(chosen("conv2d", {{"groups", 512}, {"pad", 1}, {"layout", "nhwc"}}, {{64, 2, 2, 512}, {512, 1, 3, 3}}),
            "onednn");
  EXPECT_EQ(chosen("conv2d", {{"layout", "nhwc"}}, {{64, 8, 8, 256}, {256, 256, 1, 1}}), "onednn");
  EXPECT_EQ(chosen("conv2d", {{"groups", 6}}, {{50, 6, 12, 12}, {12, 1, 5, 5}}), "onednn");
  EXPECT_EQ(chosen("conv2d", {{"layout", "nhwc"}}, {{50, 12, 12, 6}, {12, 6, 5, 5}}), "onednn");
  // An attribute steers too: oneDNN's eltwise has no output scale (the loops outrank it anyway).
  EXPECT_TRUE(OpRegistry::instance().supports("relu", Device::cpu, "onednn", {}, std::vector<Shape>{{2, 3}}));
  EXPECT_FALSE(
      OpRegistry::instance().supports("relu", Device::cpu, "onednn", {{"scale", 1.085}}, std::vector<Shape>{{2, 3}}));
}

TEST(SelectionTest, TheSameOpChoosesAgainWhenPreparedOnOtherShapes) {
  auto op = sf::make_op("conv2d");
  EXPECT_STREQ(op->impl(), "gemm") << "before prepare(): the highest-priority kernel";
  op->prepare(std::vector<Shape>{{2, 512, 7, 7}, {512, 512, 1, 1}});
  EXPECT_STREQ(op->impl(), "onednn");
  op->prepare(std::vector<Shape>{{2, 6, 12, 12}, {12, 6, 5, 5}});
  EXPECT_STREQ(op->impl(), "gemm");
  // And it computes: a 1×1 convolution with identity weights copies its input.
  const std::vector<Shape> shapes{{1, 96, 8, 8}, {96, 96, 1, 1}};
  op->prepare(shapes);
  EXPECT_STREQ(op->impl(), "onednn");
  Tensor x({1, 96, 8, 8}), w = Tensor::zeros({96, 96, 1, 1}), y({1, 96, 8, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 17);
  for (int64_t c = 0; c < 96; ++c) w[c * 96 + c] = 1.0f;
  op->forward(sf::ExecContext{}, std::vector<const Tensor*>{&x, &w}, y);
  EXPECT_EQ(y.to_vector(), x.to_vector());
}

TEST(SelectionTest, ExplicitRequestOutsideSupportsFails) {
  const std::vector<Shape> big{{1, 512, 7, 7}, {512, 512, 1, 1}};
  // Deferred: make_op() succeeds, prepare() refuses.
  auto op = sf::make_op("conv2d", {}, Device::cpu, "gemm");
  expect_contains(error_message([&] { op->prepare(big); }),
                  {"conv2d", "'gemm'", "[1,512,7,7]", "[512,512,1,1]", "out-channels <= 64", "onednn", "reference"});
  // Shapes given: make_op() itself refuses.
  expect_contains(error_message([&] { sf::make_op("conv2d", {}, Device::cpu, big, "gemm"); }), {"conv2d", "'gemm'"});
  expect_contains(error_message([&] {
                    sf::make_op("relu", {{"scale", 1.085}}, Device::cpu, "onednn")->prepare(std::vector<Shape>{{2, 3}});
                  }),
                  {"relu", "'onednn'", "scale=1.085", "openmp"});
  // Inside supports() the same requests work.
  EXPECT_STREQ(
      sf::make_op("conv2d", {}, Device::cpu, std::vector<Shape>{{1, 6, 12, 12}, {12, 6, 5, 5}}, "gemm")->impl(),
      "gemm");
}

// ---------------------------------------------------------------------------------------------------------
// A test-only op type with two kernels: "wide" (priority 50) supports only rows of ≥ 100 features, "narrow"
// (priority 10) everything. Both copy their input; impl() says which ran.

class CopyOp final : public sf::Op {
 public:
  explicit CopyOp(const char* impl) : impl_(impl) {}
  const char* type() const override { return "test_pick"; }
  const char* impl() const override { return impl_; }
  Shape prepare(std::span<const Shape> in) override { return in[0]; }
  void forward(const sf::ExecContext&, std::span<const Tensor* const> in, Tensor& out) override {
    out.copy_from(*in[0]);
  }
  void backward(const sf::ExecContext&, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (gin[0]) gin[0]->copy_from(gout);
  }

 private:
  const char* impl_;
};

void register_test_pick() {
  static bool done = false;
  if (done) return;
  auto& r = OpRegistry::instance();
  r.add({"test_pick", Device::cpu, "narrow", 10,
         [](const Attrs&) -> sf::OpPtr { return std::make_unique<CopyOp>("narrow"); }});
  r.add({"test_pick", Device::cpu, "wide", 50,
         [](const Attrs&) -> sf::OpPtr { return std::make_unique<CopyOp>("wide"); },
         [](const Attrs&, std::span<const Shape> in) { return in.size() == 1 && in[0].back() >= 100; },
         "rows of >= 100 features"});
  done = true;
}

TEST(SelectionTest, TestKernelIsChosenExactlyWhereItSupportsTheShapes) {
  register_test_pick();
  EXPECT_EQ(chosen("test_pick", {}, {{2, 10}}), "narrow");
  EXPECT_EQ(chosen("test_pick", {}, {{2, 100}}), "wide");
  EXPECT_EQ(chosen("test_pick", {}, {{2, 3, 500}}), "wide");

  // Through a graph: Graph::apply prepares the op with the node's input shape.
  sf::Graph g;
  const NodeId small = g.input("small", {4, 10}), large = g.input("large", {4, 200});
  const NodeId a = g.apply("a", sf::make_op("test_pick"), {small});
  const NodeId b = g.apply("b", sf::make_op("test_pick"), {large});
  EXPECT_STREQ(g.op(a)->impl(), "narrow");
  EXPECT_STREQ(g.op(b)->impl(), "wide");
  g.value(large).fill(3.0f);
  g.forward();
  EXPECT_EQ(g.value(b).to_vector(), std::vector<float>(800, 3.0f));

  // Requested where it does not support the shapes: an error naming op, kernel, shapes, what it covers and
  // the kernels that would do.
  expect_contains(error_message([] {
                    sf::make_op("test_pick", {}, Device::cpu, "wide")->prepare(std::vector<Shape>{{2, 10}});
                  }),
                  {"test_pick", "'wide'", "[2,10]", "rows of >= 100 features", "kernels that do: narrow"});
  EXPECT_STREQ(sf::make_op("test_pick", {}, Device::cpu, std::vector<Shape>{{2, 10}}, "narrow")->impl(), "narrow");
  // A type ops/ has no table for takes no attributes.
  expect_contains(error_message([] {
                    sf::make_op("test_pick", {{"mode", 1}});
                  }),
                  {"test_pick", "unknown attribute 'mode'", "it takes none"});
}

TEST(SelectionTest, NoKernelSupportingTheShapesIsAnError) {
  static bool done = false;
  if (!done) {
    OpRegistry::instance().add({"test_picky", Device::cpu, "only_2d", 0,
                                [](const Attrs&) -> sf::OpPtr { return std::make_unique<CopyOp>("only_2d"); },
                                [](const Attrs&, std::span<const Shape> in) { return in[0].size() == 2; }});
    done = true;
  }
  EXPECT_EQ(chosen("test_picky", {}, {{2, 3}}), "only_2d");
  expect_contains(error_message([] {
                    chosen("test_picky", {}, {{2, 3, 4}});
                  }),
                  {"test_picky", "no kernel for device cpu supports input shapes [2,3,4]"});
}

TEST(SelectionTest, SelectorBindsStateAtOnceAndToTheChosenKernel) {
  // An op that takes no state says so when the state is bound, before any shapes are known.
  auto op = sf::make_op("conv2d");
  const std::vector<Tensor> state{Tensor::zeros({1})};
  expect_contains(error_message([&] { op->bind_state(state); }), {"conv2d", "no state"});
  // Batch norm's two buffers reach the kernel chosen at prepare() and are updated there.
  for (const std::string impl : {"", "reference", "onednn"}) {
    SCOPED_TRACE("impl '" + impl + "'");
    auto bn = sf::make_op("batchnorm", {{"momentum", 0.5}}, Device::cpu, impl);
    const std::vector<Tensor> stats{Tensor::zeros({2}), Tensor::full({2}, 1.0f)};
    bn->bind_state(stats);
    bn->prepare(std::vector<Shape>{{2, 2}, {2}, {2}});
    sf::ExecContext ctx;
    ctx.mode = sf::Mode::train;
    const Tensor x = Tensor::from({2, 2}, {1, 2, 3, 6}), g = Tensor::full({2}, 1.0f), b = Tensor::zeros({2});
    Tensor y({2, 2});
    bn->forward(ctx, std::vector<const Tensor*>{&x, &g, &b}, y);
    EXPECT_EQ(stats[0].to_vector(), (std::vector<float>{1.0f, 2.0f}));  // 0.5 · 0 + 0.5 · mean
    EXPECT_EQ(stats[1].to_vector(), (std::vector<float>{1.5f, 4.5f}));  // 0.5 · 1 + 0.5 · unbiased var
    expect_contains(error_message([&] { bn->bind_state(std::vector<Tensor>{Tensor::zeros({2})}); }),
                    {"batchnorm", "two state buffers"});
  }
}

// ---------------------------------------------------------------------------------------------------------
// Typed attributes

TEST(AttrsTest, LiteralsKeepTheirTypes) {
  const Attrs a{{"stride", 2}, {"k", 0.5}, {"source", "dense"}, {"sizes", std::vector<int64_t>{3, 3}}};
  EXPECT_TRUE(std::holds_alternative<int64_t>(*a.find("stride")));
  EXPECT_TRUE(std::holds_alternative<double>(*a.find("k")));
  EXPECT_TRUE(std::holds_alternative<std::string>(*a.find("source")));
  EXPECT_EQ(a.get_int("stride", 1), 2);
  EXPECT_EQ(a.get_float("stride", 0.0), 2.0) << "an int reads as a float";
  EXPECT_EQ(a.get("k", 0.0), 0.5);
  EXPECT_EQ(a.get_string("source", ""), "dense");
  EXPECT_EQ(a.get_ints("sizes", {}), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(a.get_int("absent", 7), 7);
  EXPECT_EQ(a.str(), "k=0.5, sizes=[3, 3], source=\"dense\", stride=2");
  EXPECT_EQ(a, (Attrs{{"source", "dense"}, {"k", 0.5}, {"stride", 2}, {"sizes", std::vector<int64_t>{3, 3}}}));
  EXPECT_NE((Attrs{{"stride", 2}}), (Attrs{{"stride", 2.0}}));
}

TEST(AttrsTest, TypeMismatchNamesOpAndKey) {
  const Attrs a{{"stride", 1.5}, {"source", 2}, {"k", "big"}};
  expect_contains(error_message([&] { a.get_int("stride", 1, "conv2d"); }),
                  {"op 'conv2d'", "attribute 'stride'", "a float (1.5)", "expected an int"});
  expect_contains(error_message([&] { a.get_string("source", "", "noisy_softplus_liu"); }),
                  {"op 'noisy_softplus_liu'", "'source'", "an int (2)", "expected a string"});
  expect_contains(error_message([&] { a.get_float("k", 0.0, "noisy_softplus"); }),
                  {"noisy_softplus", "'k'", "a string"});
  expect_contains(error_message([&] { a.get_ints("stride", {}, "conv2d"); }), {"conv2d", "'stride'", "an int list"});
  expect_contains(error_message([&] { a.get_int("stride", 1); }), {"attribute 'stride'"});  // no op: just the key
}

TEST(AttrsTest, MakeOpChecksTheOpsAttributeTable) {
  // Wrong type.
  expect_contains(error_message([] {
                    sf::make_op("conv2d", {{"stride", 1.5}});
                  }),
                  {"op 'conv2d'", "attribute 'stride'", "expected an int"});
  expect_contains(error_message([] { sf::make_op("avgpool2d", {{"kernel", 2.0}}); }), {"avgpool2d", "'kernel'"});
  expect_contains(error_message([] {
                    sf::make_op("noisy_softplus_liu", {{"source", 2}});
                  }),
                  {"noisy_softplus_liu", "'source'", "expected a string"});
  // A string outside its choices.
  expect_contains(error_message([] {
                    sf::make_op("noisy_softplus_liu", {{"source", "conv3d"}});
                  }),
                  {"noisy_softplus_liu", "'source'", "conv2d|dense|avgpool2d"});
  // Unknown attribute, with what the op takes.
  expect_contains(error_message([] {
                    sf::make_op("conv2d", {{"strides", 1}});
                  }),
                  {"op 'conv2d'", "unknown attribute 'strides'", "stride, pad"});
  expect_contains(error_message([] { sf::make_op("dense", {{"bias", 1}}); }), {"dense", "'bias'", "it takes none"});
  expect_contains(error_message([] {
                    sf::make_op("conv2d", {{"layout", "NHWC"}});
                  }),
                  {"conv2d", "'layout'", "nchw|nhwc"});
  expect_contains(error_message([] {
                    sf::make_op("conv2d", {{"groups", 2.0}});
                  }),
                  {"conv2d", "'groups'", "expected an int"});
  expect_contains(error_message([] {
                    sf::make_op("batchnorm", {{"momentum", "keras"}});
                  }),
                  {"batchnorm", "'momentum'", "expected a float"});
  expect_contains(error_message([] {
                    sf::make_op("dropout", {{"p", 0.5}});
                  }),
                  {"dropout", "unknown attribute 'p'", "rate"});
  expect_contains(error_message([] { sf::make_op("to_nhwc", {{"layout", "nhwc"}}); }), {"to_nhwc", "it takes none"});
  // avgpool2d and dense have no layout or groups: an NHWC net cannot hand them to the NCHW-only loops.
  expect_contains(error_message([] {
                    sf::make_op("avgpool2d", {{"layout", "nhwc"}});
                  }),
                  {"avgpool2d", "unknown attribute 'layout'"});
  expect_contains(error_message([] { sf::make_op("dense", {{"groups", 2}}); }), {"dense", "unknown attribute"});
  expect_contains(error_message([] { sf::make_op("relu", {{"k", 0.17}}); }), {"relu", "unknown attribute 'k'"});
  // For every implementation, and with shapes given.
  for (const std::string& impl : OpRegistry::instance().implementations("conv2d", Device::cpu))
    expect_contains(error_message([&] { sf::make_op("conv2d", {{"pads", 0}}, Device::cpu, impl); }), {"'pads'"});
  expect_contains(
      error_message([] {
        sf::make_op("conv2d", {{"pad", "same"}}, Device::cpu, std::vector<Shape>{{1, 1, 8, 8}, {1, 1, 3, 3}});
      }),
      {"conv2d", "'pad'"});
  // Required.
  expect_contains(error_message([] {
                    sf::make_op("log_quantize", {{"bits", 3}});
                  }),
                  {"log_quantize", "'fsr'", "required"});
  // What is fine: an int where a float belongs, every attribute of the table.
  EXPECT_NO_THROW(sf::make_op("noisy_softplus", {{"k", 1}, {"sigma", 2}, {"scale", 1}}));
  EXPECT_NO_THROW(sf::make_op("avgpool2d", {{"kernel", 3}, {"stride", 2}, {"pad", 1}}));
  EXPECT_NO_THROW(sf::make_op("conv2d", {{"stride", 2}, {"pad", 1}, {"groups", 32}, {"layout", "nhwc"}}));
  EXPECT_NO_THROW(sf::make_op("batchnorm", {{"momentum", 0.99}, {"eps", 1e-3}, {"layout", "nhwc"}}));
  EXPECT_NO_THROW(sf::make_op("dropout", {{"rate", 0.001}, {"stream", 3}}));
  EXPECT_NO_THROW(sf::make_op("global_avgpool", {{"layout", "nhwc"}}));
  EXPECT_NO_THROW(sf::make_op("relu6", {{"scale", 1.0}}));
  EXPECT_NO_THROW(sf::make_op("noisy_softplus_liu",
                              {{"k", 0.31}, {"scale", 1.085}, {"source", "avgpool2d"}, {"kernel", 2}, {"stride", 2}}));
}

TEST(AttrsTest, EveryRegisteredOpTypeHasATable) {
  for (const char* type :
       {"conv2d", "avgpool2d", "dense", "flatten", "relu", "relu6", "softplus", "noisy_softplus", "noisy_softplus_liu",
        "log_quantize", "mse_loss", "softmax_cross_entropy", "batchnorm", "global_avgpool", "dropout", "to_nhwc", "qcfs"}) {
    SCOPED_TRACE(type);
    EXPECT_TRUE(OpRegistry::instance().has_type(type));
    const sf::OpSchema* s = sf::find_schema(type);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->op, type);
  }
  EXPECT_EQ(sf::find_schema("test_pick"), nullptr);
  // Defaults come from the tables.
  EXPECT_EQ(sf::find_schema("avgpool2d")->get_int({}, "kernel"), 2);
  EXPECT_EQ(sf::find_schema("noisy_softplus_liu")->get_string({}, "source"), "conv2d");
  EXPECT_DOUBLE_EQ(sf::find_schema("noisy_softplus")->get_float({}, "k"), 0.17);
  EXPECT_EQ(sf::find_schema("conv2d")->get_int({}, "groups"), 1);
  EXPECT_EQ(sf::find_schema("conv2d")->get_string({}, "layout"), "nchw");
  EXPECT_DOUBLE_EQ(sf::find_schema("batchnorm")->get_float({}, "momentum"), 0.99);
  EXPECT_DOUBLE_EQ(sf::find_schema("batchnorm")->get_float({}, "eps"), 1e-3);
  EXPECT_EQ(sf::find_schema("global_avgpool")->get_string({}, "layout"), "nchw");
  EXPECT_DOUBLE_EQ(sf::find_schema("relu6")->get_float({}, "scale"), 1.0);
  // Reading an attribute the table lacks, or as another type, is a bug in the op.
  expect_contains(error_message([] { sf::find_schema("conv2d")->get_int({}, "kernel"); }), {"conv2d", "'kernel'"});
  expect_contains(error_message([] { sf::find_schema("conv2d")->get_float({}, "stride"); }), {"conv2d", "'stride'"});
}

TEST(AttrsTest, ActivationTableDrivesRegistrationsAndParsing) {
  for (const sf::ActivationType& a : sf::kActivations) {
    const std::string type(a.type);
    SCOPED_TRACE(type);
    EXPECT_EQ(sf::find_schema(type), a.schema);
    const auto impls = OpRegistry::instance().implementations(type, Device::cpu);
    for (const char* impl : {"reference", "openmp"})
      EXPECT_NE(std::find(impls.begin(), impls.end(), impl), impls.end()) << impl;
    EXPECT_EQ(std::find(impls.begin(), impls.end(), "onednn") != impls.end(), a.kind != sf::ActKind::noisy_softplus);
    EXPECT_EQ(sf::Activation::from(type, {}).kind, a.kind);
  }
  EXPECT_EQ(sf::find_activation("tanh"), nullptr);
  expect_contains(error_message([] { sf::Activation::from("tanh", {}); }), {"tanh"});
  EXPECT_FLOAT_EQ(sf::Activation::from("noisy_softplus", {{"k", 0.2}, {"sigma", 0.5}}).ks, 0.1f);
}

}  // namespace
