#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "models/zoo.h"
#include "train/experiment.h"

namespace sf {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / "spikeforge_config_test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::string& file, const std::vector<std::string>& sets = {}) {
  try {
    load_experiment(file, sets);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  ADD_FAILURE() << "no error for " << file;
  return "";
}

TEST(ConfigTest, DefaultsAreTheSeeds) {
  const Experiment e = load_experiment(write_temp("defaults.yaml", "name: d\n"));
  EXPECT_EQ(e.train.epochs, 20);
  EXPECT_EQ(e.train.batch, 50);
  EXPECT_EQ(e.train.loss, "mse");
  EXPECT_DOUBLE_EQ(e.train.optimizer.lr, 0.1);
  EXPECT_DOUBLE_EQ(e.train.optimizer.momentum, 0.9);
  EXPECT_EQ(e.model.arch, "liu_small");
  EXPECT_EQ(e.data.name, "mnist");
}

TEST(ConfigTest, NameDefaultsToFileStem) {
  EXPECT_EQ(load_experiment(write_temp("my_exp.yaml", "seed: 3\n")).name, "my_exp");
}

TEST(ConfigTest, OverridesApplyAndCreateSections) {
  const auto f = write_temp("o.yaml", "train:\n  epochs: 5\n");
  const Experiment e = load_experiment(f, {"train.epochs=2", "train.optimizer.lr=0.25", "model.activation=softplus"});
  EXPECT_EQ(e.train.epochs, 2);
  EXPECT_DOUBLE_EQ(e.train.optimizer.lr, 0.25);
  EXPECT_EQ(e.model.activation, "softplus");
}

// `arch: layers` (what `spikeforge import` writes): a chain spelled out in the model section.
TEST(ConfigTest, SpelledOutLayersBuildAndBadOnesNameTheKey) {
  const std::string head = "name: chain\nmodel:\n  arch: layers\n  layers:\n";
  const std::string flatten = "    - {name: flat, type: flatten}\n";
  const Experiment e = load_experiment(
      write_temp("chain.yaml", head + flatten +
                                   "    - {name: fc, type: dense, params: {weight: [10, 784], bias: [10]}}\n"
                                   "    - {name: act, type: relu, attrs: {scale: 2}}\n"));
  ASSERT_EQ(e.model.layers.size(), 3u);
  EXPECT_EQ(e.model.layers[2].attrs.get_float("scale", 0), 2.0) << "typed by relu's table: an int read as a float";
  const Model m = build_model(e.model, 1);
  EXPECT_EQ(m.output_shape(), (Shape{10}));
  EXPECT_EQ(m.layers()[1].params[0].value.shape(), (Shape{10, 784}));
  // The same text back from the emitter.
  EXPECT_EQ(to_yaml(load_experiment(write_temp("again.yaml", to_yaml(e))).model), to_yaml(e.model));

  const auto error = [&](const std::string& name, const std::string& layers) {
    return error_of(write_temp(name, head + layers));
  };
  std::string msg = error("type.yaml", "    - {name: x, type: maxpool}\n");
  EXPECT_NE(msg.find("model.layers.0.type"), std::string::npos) << msg;
  msg = error("attr.yaml", "    - {name: c, type: conv2d, attrs: {strides: 2}, params: {weight: [4, 1, 3, 3]}}\n");
  EXPECT_NE(msg.find("strides"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no attribute"), std::string::npos) << msg;
  msg = error("shape.yaml", flatten + "    - {name: fc, type: dense, params: {weight: [10, 0]}}\n");
  EXPECT_NE(msg.find("weight"), std::string::npos) << msg;
  // A chain that does not end in the dataset's 10 classes, or whose op rejects its input, names the layer.
  const auto build_error = [&](const std::string& name, const std::string& layers) {
    const Experiment bad = load_experiment(write_temp(name, head + layers));
    try {
      build_model(bad.model, 1);
    } catch (const Error& err) {
      EXPECT_EQ(err.kind(), ErrorKind::BadInput);
      return std::string(err.what());
    }
    return std::string("NO ERROR");
  };
  msg = build_error("classes.yaml", flatten + "    - {name: fc, type: dense, params: {weight: [7, 784]}}\n");
  EXPECT_NE(msg.find("model.layers"), std::string::npos) << msg;
  msg = build_error("input.yaml", flatten + "    - {name: fc, type: dense, params: {weight: [10, 100]}}\n");
  EXPECT_NE(msg.find("model.layers[1] ('fc')"), std::string::npos) << msg;
  msg = build_error("dup.yaml", flatten + flatten);
  EXPECT_NE(msg.find("model.layers[1] ('flat')"), std::string::npos) << msg;
  EXPECT_NE(msg.find("duplicate layer name"), std::string::npos) << msg;
}

TEST(ConfigTest, MalformedYamlNamesFileAndLine) {
  const auto f = write_temp("bad.yaml", "train:\n  epochs: [1, 2\n  batch: 3\n");
  const std::string msg = error_of(f);
  EXPECT_NE(msg.find("bad.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed YAML"), std::string::npos) << msg;
}

TEST(ConfigTest, UnknownKeyNamesFileLineAndKey) {
  const auto f = write_temp("unk.yaml", "name: x\ntrain:\n  epoch: 3\n");
  const std::string msg = error_of(f);
  EXPECT_NE(msg.find("unk.yaml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.epoch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("epochs"), std::string::npos) << "should list the expected keys: " << msg;
}

TEST(ConfigTest, UnknownOverrideKeyIsRejected) {
  const std::string msg = error_of(write_temp("ok.yaml", "name: x\n"), {"train.epoch=3"});
  EXPECT_NE(msg.find("--set train.epoch"), std::string::npos) << msg;
}

TEST(ConfigTest, WrongTypeNamesKeyAndValue) {
  const std::string msg = error_of(write_temp("type.yaml", "train:\n  epochs: abc\n"));
  EXPECT_NE(msg.find("type.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.epochs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'abc'"), std::string::npos) << msg;
}

TEST(ConfigTest, SectionGivenAsScalarIsRejected) {
  const std::string msg = error_of(write_temp("sec.yaml", "train: 3\n"));
  EXPECT_NE(msg.find("'train'"), std::string::npos) << msg;
}

TEST(ConfigTest, RangeChecks) {
  const auto f = write_temp("r.yaml", "name: x\n");
  EXPECT_NE(error_of(f, {"train.epochs=-1"}).find("--set train.epochs"), std::string::npos);
  EXPECT_NE(error_of(f, {"train.epochs=0"}).find("must be > 0"), std::string::npos);
  EXPECT_NE(error_of(f, {"train.batch=0"}).find("train.batch"), std::string::npos);
  EXPECT_NE(error_of(f, {"train.optimizer.lr=-0.1"}).find("train.optimizer.lr"), std::string::npos);
  EXPECT_NE(error_of(f, {"train.optimizer.momentum=1.5"}).find("momentum"), std::string::npos);
  EXPECT_NE(error_of(f, {"model.activation=tanh"}).find("'tanh' is not one of"), std::string::npos);
  EXPECT_NE(error_of(f, {"model.noisy_softplus.k=0"}).find("model.noisy_softplus.k"), std::string::npos);
  EXPECT_NE(error_of(f, {"dataset.validation=1.5"}).find("dataset.validation"), std::string::npos);
  EXPECT_NE(error_of(f, {"device=tpu"}).find("device"), std::string::npos);
}

TEST(ConfigTest, DottedKeyAtTopLevelIsUnknown) {
  // `train.epochs: 2` is not `train: {epochs: 2}`; accepting it silently would train 20 epochs.
  const std::string msg = error_of(write_temp("dotted.yaml", "train.epochs: 2\n"));
  EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.epochs"), std::string::npos) << msg;
}

TEST(ConfigTest, EmptyValueIsAnErrorNotTheDefault) {
  EXPECT_NE(error_of(write_temp("empty.yaml", "train:\n  epochs:\n")).find("has no value"), std::string::npos);
  EXPECT_NE(error_of(write_temp("ok2.yaml", "name: x\n"), {"train.epochs="}).find("train.epochs"), std::string::npos);
}

TEST(ConfigTest, NonFiniteAndPathLikeValuesAreRejected) {
  const auto f = write_temp("inf.yaml", "name: x\n");
  EXPECT_NE(error_of(f, {"train.optimizer.lr=.inf"}).find("train.optimizer.lr"), std::string::npos);
  EXPECT_NE(error_of(f, {"train.optimizer.decay=.inf"}).find("train.optimizer.decay"), std::string::npos);
  EXPECT_NE(error_of(f, {"model.noisy_softplus.sigma=.inf"}).find("sigma"), std::string::npos);
  EXPECT_NE(error_of(f, {"name=.."}).find("must be a folder name"), std::string::npos);
  EXPECT_NE(error_of(f, {"threads=100000"}).find("threads"), std::string::npos);
}

TEST(ConfigTest, DirectoryIsNotAConfig) {
  const auto dir = std::filesystem::temp_directory_path() / "spikeforge_config_test";
  std::filesystem::create_directories(dir);
  EXPECT_NE(error_of(dir.string()).find("not a regular file"), std::string::npos);
}

TEST(ConfigTest, NullOverrideRemovesTheKey) {
  const auto f = write_temp("null.yaml", "train:\n  epochs: 5\n  optimizer: {type: sgd, momentum: 0.5, lr: 0.3}\n");
  EXPECT_EQ(load_experiment(f, {"train.epochs=null"}).train.epochs, 20);
  // The seed's --optimizer ada on a file written for SGD: momentum must go, lr falls back to Adadelta's 1.0.
  const Experiment e =
      load_experiment(f, {"train.optimizer.type=ada", "train.optimizer.momentum=null", "train.optimizer.lr=null"});
  EXPECT_EQ(e.train.optimizer.type, "adadelta");
  EXPECT_DOUBLE_EQ(e.train.optimizer.lr, 1.0);
}

TEST(ConfigTest, OverridesReachIntoListsOfSections) {
  const auto f = write_temp("list.yaml", "finetune:\n  - {epochs: 1, activation: noisy_softplus, lr: 0.05}\n");
  EXPECT_DOUBLE_EQ(load_experiment(f, {"finetune.0.lr=0.5"}).finetune.at(0).lr, 0.5);
  EXPECT_NE(error_of(f, {"finetune.2.lr=0.5"}).find("not an item"), std::string::npos);
  EXPECT_NE(error_of(f, {"finetune.0.lrr=0.5"}).find("--set finetune.0.lrr"), std::string::npos);
  const std::string msg = error_of(write_temp("list0.yaml", "finetune:\n  - {epochs: 0}\n"));
  EXPECT_NE(msg.find("list0.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("finetune.0.epochs"), std::string::npos) << msg;
  EXPECT_NE(error_of(write_temp("list1.yaml", "finetune: 3\n")).find("list of sections"), std::string::npos);
  // A whole item: replaced, or deleted with null; an index is required.
  EXPECT_EQ(load_experiment(f, {"finetune.0={epochs: 2, activation: relu}"}).finetune.at(0).epochs, 2);
  EXPECT_TRUE(load_experiment(f, {"finetune.0=null"}).finetune.empty());
  EXPECT_NE(error_of(f, {"finetune.lr=0.1"}).find("--set finetune.lr"), std::string::npos);
}

TEST(ConfigTest, BadOverrideSyntax) {
  const auto f = write_temp("s.yaml", "name: x\n");
  EXPECT_NE(error_of(f, {"train.epochs"}).find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(error_of(f, {"name.x=3"}).find("not a section"), std::string::npos);
}

// A list or map used as a key used to escape as "internal error: yaml-cpp: bad conversion" (exit 1).
TEST(ConfigTest, ListOrMapKeyIsBadInputNamingFileAndLine) {
  std::string msg = error_of(write_temp("lkey.yaml", "name: x\n[a]: 1\n"));
  EXPECT_NE(msg.find("lkey.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("top-level key is a list"), std::string::npos) << msg;

  msg = error_of(write_temp("mkey.yaml", "train:\n  lr_multipliers:\n    conv1: 0.5\n    {a: 1}: 2\n"));
  EXPECT_NE(msg.find("mkey.yaml:4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'train.lr_multipliers' is a map"), std::string::npos) << msg;

  // In a list item, and in an override's value.
  msg = error_of(write_temp("fkey.yaml", "finetune:\n  - epochs: 1\n    [lr]: 2\n"));
  EXPECT_NE(msg.find("fkey.yaml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'finetune.0'"), std::string::npos) << msg;
  msg = error_of(write_temp("okey.yaml", "name: x\n"), {"train.lr_multipliers={[conv1]: 1}"});
  EXPECT_NE(msg.find("--set train.lr_multipliers"), std::string::npos) << msg;
  EXPECT_NE(msg.find("is a list"), std::string::npos) << msg;
}

// `--set finetune.0.lr=…` where item 0 is a plain value escaped as yaml-cpp's untyped bad subscript.
TEST(ConfigTest, OverrideIntoPlainListItemIsBadInput) {
  const auto f = write_temp("plain_item.yaml", "finetune: [3]\n");
  std::string msg = error_of(f, {"finetune.0.lr=0.5"});
  EXPECT_NE(msg.find("--set finetune.0.lr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'finetune.0' is a value, not a section"), std::string::npos) << msg;
  msg = error_of(f, {"finetune.0.a.b=1"});
  EXPECT_NE(msg.find("'finetune.0' is a value"), std::string::npos) << msg;
}

// Aliases can describe a tree exponentially larger than the file; every walk over it would take forever.
TEST(ConfigTest, AliasExpansionIsBounded) {
  std::string text = "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n";
  for (int i = 1; i < 12; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += (k ? ", " : "") + prev;
    text += "]\n";
  }
  const std::string msg = error_of(write_temp("bomb.yaml", text));
  EXPECT_NE(msg.find("bomb.yaml: more than"), std::string::npos) << msg;
  EXPECT_NE(msg.find("aliases"), std::string::npos) << msg;
}

// deterministic (core/device.h's switch for the GPU kernels): off by default, kept by the resolved file, and a
// value that is no boolean names the key.
TEST(ConfigTest, DeterministicIsABooleanThatRoundTrips) {
  const auto f = write_temp("det.yaml", "name: det\n");
  EXPECT_FALSE(load_experiment(f).deterministic);
  const Experiment a = load_experiment(f, {"deterministic=true"});
  EXPECT_TRUE(a.deterministic);
  EXPECT_TRUE(load_experiment(write_temp("det_resolved.yaml", to_yaml(a))).deterministic);
  EXPECT_NE(error_of(f, {"deterministic=maybe"}).find("deterministic"), std::string::npos);
}

TEST(ConfigTest, ResolvedYamlRoundTrips) {
  const Experiment a =
      load_experiment(write_temp("rt.yaml", "name: rt\nseed: 7\n"), {"model.activation=noisy_softplus"});
  const Experiment b = load_experiment(write_temp("rt_resolved.yaml", to_yaml(a)));
  EXPECT_EQ(to_yaml(a), to_yaml(b));
  EXPECT_EQ(b.seed, 7u);
  EXPECT_EQ(b.model.activation, "noisy_softplus");
}

TEST(ConfigTest, AugmentationWorkersAndParallelRoundTripAndAreChecked) {
  const Experiment a = load_experiment(write_temp(
      "aug.yaml",
      "dataset:\n  augment:\n    - {type: random_crop, size: 28, padding: 2}\n"
      "    - {type: hflip, p: 0.25}\ntrain: {workers: 3, parallel: op_parallel, sync_every: 25, cuda_graph: false}\n"));
  ASSERT_EQ(a.data.augment.size(), 2u);
  EXPECT_EQ(a.data.augment[0].padding, 2);
  EXPECT_EQ(a.data.augment[1].p, 0.25);
  EXPECT_EQ(a.train.workers, 3);
  EXPECT_EQ(a.train.parallel, "op_parallel");
  EXPECT_EQ(a.train.sync_every, 25);
  EXPECT_FALSE(a.train.cuda_graph);
  const Experiment b = load_experiment(write_temp("aug_resolved.yaml", to_yaml(a)));
  EXPECT_EQ(to_yaml(a), to_yaml(b));
  EXPECT_NE(error_of(write_temp("w.yaml", "train: {workers: -2}\n")).find("train.workers"), std::string::npos);
  EXPECT_NE(error_of(write_temp("p.yaml", "train: {parallel: gpus}\n")).find("train.parallel"), std::string::npos);
  EXPECT_NE(error_of(write_temp("s.yaml", "train: {sync_every: -1}\n")).find("train.sync_every"), std::string::npos);
  EXPECT_NE(error_of(write_temp("g.yaml", "train: {cuda_graph: maybe}\n")).find("train.cuda_graph"), std::string::npos);
  EXPECT_NE(error_of(write_temp("r.yaml", "train: {recompute: sometimes}\n")).find("train.recompute"),
            std::string::npos);
  EXPECT_NE(error_of(write_temp("a.yaml", "dataset: {augment: [{type: hflip, padding: 2}]}\n")).find("padding"),
            std::string::npos);
}

TEST(ConfigTest, TheModelTakesItsInputShapeAndClassesFromTheDataset) {
  const Experiment e = load_experiment(write_temp("fm.yaml", "dataset: {name: fashion_mnist}\n"));
  EXPECT_EQ(e.model.input, (Shape{1, 28, 28}));
  EXPECT_EQ(e.model.classes, 10);
}

TEST(ConfigTest, ShippedExperimentsParse) {
  for (const char* name : {"mnist_relu", "mnist_softplus", "mnist_noisy_softplus", "fashion_mnist_relu",
                           "mnist_relu_liu", "mnist_relu_then_nsp", "mnist_nsp_liu", "mnist_ldr"}) {
    const std::string path = std::string(SPIKEFORGE_SOURCE_DIR) + "/experiments/" + name + ".yaml";
    const Experiment e = load_experiment(path);
    EXPECT_EQ(e.name, name);
    EXPECT_EQ(e.train.epochs, 20);
    EXPECT_EQ(e.train.batch, 50);
  }
}

}  // namespace
}  // namespace sf
