// MobileNet v1: the layer table against the paper's counts, the stride layouts, the width multiplier, the
// errors for impossible models, and one training step of the whole net in both data formats.
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/zoo.h"
#include "train/trainer.h"

namespace sf {
namespace {

ModelSpec mobilenet(Shape input, int classes, double alpha = 1.0) {
  ModelSpec s;
  s.arch = "mobilenet_v1";
  s.activation = "relu6";
  s.input = std::move(input);
  s.classes = classes;
  s.alpha = alpha;
  s.data_format = "channels_last";  // what experiment files default to for this arch
  return s;
}

TEST(MobileNetTest, ImageNetNetMatchesThePapersCounts) {
  const Model m = build_model(mobilenet({3, 224, 224}, 1000), 1);
  // Howard 2017 Table 1/8: 569 M mult-adds, 4.2 M parameters. Trainable parameters as Keras counts them
  // (BN gamma and beta included, moving statistics not): 4,231,976.
  EXPECT_EQ(m.macs(), 568740352);
  EXPECT_EQ(m.parameter_count(), 4231976);
  EXPECT_EQ(m.find("block13_pw")->output_shape, (Shape{7, 7, 1024})) << "channels_last: {H, W, C}";
  EXPECT_EQ(m.output_shape(), (Shape{1000}));
  EXPECT_EQ(m.find("conv1_bn")->buffers.size(), 2u);
  EXPECT_NE(m.summary().find("568.74 M"), std::string::npos) << m.summary();
}

TEST(MobileNetTest, CifarStridesEndAtTwoByTwoAndImageNetStridesAtOne) {
  const Model cifar = build_model(mobilenet({3, 32, 32}, 10), 1);
  EXPECT_EQ(cifar.find("conv1")->output_shape, (Shape{32, 32, 32}));
  EXPECT_EQ(cifar.find("block13_pw")->output_shape, (Shape{2, 2, 1024}));
  EXPECT_EQ(cifar.macs(), 46354432);  // counted independently with PyTorch hooks
  ModelSpec s = mobilenet({3, 32, 32}, 10);
  s.strides = "imagenet";
  EXPECT_EQ(build_model(s, 1).find("block13_pw")->output_shape, (Shape{1, 1, 1024}));  // the seed's layout
  EXPECT_EQ(build_model(mobilenet({3, 32, 32}, 10, 0.5), 1).macs(), 12167168);
}

TEST(MobileNetTest, ChannelsFirstHasTheSameCountsInNchwShapes) {
  ModelSpec s = mobilenet({3, 32, 32}, 10, 0.25);
  s.data_format = "channels_first";
  const Model m = build_model(s, 1);
  EXPECT_EQ(m.find("block13_pw")->output_shape, (Shape{256, 2, 2}));
  EXPECT_EQ(m.find("to_nhwc"), nullptr);
  EXPECT_EQ(m.parameter_count(), build_model(mobilenet({3, 32, 32}, 10, 0.25), 1).parameter_count());
}

TEST(MobileNetTest, ImpossibleModelsNameTheKeyOrLayer) {
  ModelSpec s = mobilenet({3, 16, 16}, 10);
  s.strides = "imagenet";  // 16 → 8 → 4 → 2 → 1, then block 12 has stride 2 on a 1×1 map
  try {
    build_model(s, 1);
    FAIL() << "a stride-2 layer on a 1x1 map must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("block12_dw"), std::string::npos) << e.what();
  }
  ModelSpec bad = mobilenet({3, 32, 32}, 10, 0.0);
  EXPECT_THROW(build_model(bad, 1), Error);
  bad = mobilenet({3, 32, 32}, 10);
  bad.activation = "softplus";
  EXPECT_THROW(build_model(bad, 1), Error);
}

// Model::build runs each batchnorm with the ReLU6 after it as one fused op, named after the activation layer.
TEST(MobileNetTest, BatchNormAndRelu6RunAsOneOp) {
  const Model m = build_model(mobilenet({3, 16, 16}, 4, 0.25), 1);
  Graph g;
  const NodeId out = m.build(g, g.input("x", {2, 3, 16, 16}), false);
  int fused = 0, relu6 = 0;
  for (NodeId i = 0; i < g.size(); ++i) {
    if (!g.op(i)) continue;
    const std::string type = g.op(i)->type();
    relu6 += type == "relu6";
    if (type == "batchnorm" && g.name(i).ends_with("_relu6")) ++fused;
  }
  EXPECT_EQ(fused, 27);  // conv1 and 13 × (depthwise, pointwise)
  EXPECT_EQ(relu6, 0);
  EXPECT_EQ(g.value(out).shape(), (Shape{2, 4}));
}

// One SGD step of a narrow MobileNet trains in both layouts and gives the same loss from the same weights:
// the NHWC and NCHW kernels compute the same function.
TEST(MobileNetTest, OneStepInBothLayoutsGivesTheSameLoss) {
  Dataset data;
  data.name = "synthetic";
  data.num_classes = 4;
  data.images = Tensor({8, 3, 16, 16});
  Rng rng(3);
  for (int64_t i = 0; i < data.images.numel(); ++i) data.images[i] = static_cast<float>(rng.uniform(0, 1));
  for (int i = 0; i < 8; ++i) data.labels.push_back(i % 4);
  TrainSpec t;
  t.epochs = 1, t.batch = 8, t.loss = "crossentropy", t.shuffle = false;
  t.optimizer.lr = 0.01;
  double loss[2];
  for (int f = 0; f < 2; ++f) {
    ModelSpec s = mobilenet({3, 16, 16}, 4, 0.25);
    s.data_format = f ? "channels_first" : "channels_last";
    Model m = build_model(s, 7);
    Trainer trainer(m, t, Device::cpu, 1);
    const auto h = trainer.fit(data, nullptr);
    ASSERT_EQ(h.size(), 1u);
    loss[f] = h[0].loss;
    EXPECT_TRUE(std::isfinite(loss[f]));
    EXPECT_NE(m.find("conv1_bn")->buffers[1].value[0], 1.0f) << "train mode updates the running variance";
  }
  EXPECT_NEAR(loss[0], loss[1], 1e-4 * std::abs(loss[1]));
}

}  // namespace
}  // namespace sf
