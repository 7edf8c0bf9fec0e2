// The architecture text a checkpoint stores (experiments/run.h model_from_architecture): every value it
// holds is validated with the checkpoint's name and the key, like an experiment file.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "train/run.h"

namespace sf {
namespace {

// What a fresh checkpoint holds (checkpoint_architecture of the default experiment).
std::string valid_architecture() {
  Experiment e;
  return checkpoint_architecture(e);
}

std::string error_of(const std::string& text) {
  try {
    model_from_architecture(text, "model.sfm");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return "";
}

TEST(ArchitectureTest, ValidTextBuildsTheModel) {
  const LoadedModel m = model_from_architecture(valid_architecture(), "model.sfm");
  EXPECT_EQ(m.spec.arch, "liu_small");
  EXPECT_EQ(m.loss, "mse");
  EXPECT_EQ(m.dataset, "mnist");
  EXPECT_NE(m.model.find("conv1"), nullptr);
}

// The net's input is the pipeline's output, not the stored images: a MobileNet on Fashion-MNIST padded to 32
// (or an image folder cut to 224) must come back with that input, its classes, its eval transforms and the
// folder's class names; checkpoints from before these keys rebuild from the dataset's own shape.
TEST(ArchitectureTest, InputClassesDataAndClassNamesRoundTrip) {
  Experiment e;
  e.data.name = "fashion_mnist";
  e.data.pad = 32;
  TransformSpec norm;
  norm.type = TransformType::normalize, norm.mean = {0.286}, norm.std = {0.353};
  e.data.eval_transforms = {norm};
  e.model.arch = "mobilenet_v1";
  e.model.activation = "relu6";
  e.model.alpha = 0.25;
  e.model.data_format = "channels_last";
  e.model.input = {1, 32, 32};
  e.model.classes = 10;
  const std::vector<std::string> names = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                          "sandal",  "shirt",   "sneaker",  "bag",   "boot"};
  const LoadedModel m = model_from_architecture(checkpoint_architecture(e, names), "model.sfm");
  EXPECT_EQ(m.spec.input, (Shape{1, 32, 32}));
  EXPECT_EQ(m.model.input_shape(), (Shape{1, 32, 32}));
  EXPECT_EQ(m.data.pad, 32);
  ASSERT_EQ(m.data.eval_transforms.size(), 1u);
  EXPECT_EQ(m.data.eval_transforms[0].type, TransformType::normalize);
  EXPECT_EQ(m.class_names, names);
  EXPECT_EQ(m.spec.data_format, "channels_last");

  std::string text = checkpoint_architecture(e, {"a", "b"});
  EXPECT_NE(error_of(text).find("class_names"), std::string::npos);
  text = checkpoint_architecture(e);
  text.replace(text.find("input: [1, 32, 32]"), 18, "input: [1, 32]");
  EXPECT_NE(error_of(text).find("input"), std::string::npos);

  // A version-1-era text (no input, classes or data) still loads, at the dataset's stored shape.
  const LoadedModel old = model_from_architecture(
      "model: {arch: liu_small}\nloss: mse\nl1: 0\nl2: 0\ndataset: fashion_mnist\n", "model.sfm");
  EXPECT_EQ(old.spec.input, (Shape{1, 28, 28}));
  EXPECT_EQ(old.data.name, "fashion_mnist");
}

// The dataset name used to reach load_dataset unchecked, whose error named neither the file nor the key.
TEST(ArchitectureTest, UnknownDatasetNamesCheckpointAndKey) {
  std::string text = valid_architecture();
  const auto p = text.find("dataset: mnist");
  ASSERT_NE(p, std::string::npos) << text;
  text.replace(p, 14, "dataset: cifar7");
  const std::string msg = error_of(text);
  EXPECT_NE(msg.find("model.sfm (architecture):"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key 'dataset'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown dataset 'cifar7'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fashion_mnist"), std::string::npos) << "should list the known ones: " << msg;
}

TEST(ArchitectureTest, UnknownLossAndNonFinitePenaltiesNameTheKey) {
  std::string msg = error_of("loss: hinge\n");
  EXPECT_NE(msg.find("model.sfm (architecture):1: key 'loss'"), std::string::npos) << msg;
  msg = error_of("l1: .nan\n");
  EXPECT_NE(msg.find("key 'l1'"), std::string::npos) << msg;
  msg = error_of("l2: -1\n");
  EXPECT_NE(msg.find("key 'l2'"), std::string::npos) << msg;
}

// A list key inside the architecture text used to escape as yaml-cpp's bad conversion (exit 1).
TEST(ArchitectureTest, ListKeyIsBadInput) {
  const std::string msg = error_of("model:\n  arch: liu_small\n  [x]: 1\n");
  EXPECT_NE(msg.find("model.sfm (architecture):3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'model' is a list"), std::string::npos) << msg;
}

}  // namespace
}  // namespace sf
