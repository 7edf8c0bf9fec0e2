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
