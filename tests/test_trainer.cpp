#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/capture.h"
#include "core/error.h"
#include "datasets/transform_spec.h"
#include "models/zoo.h"
#include "tests/support.h"
#include "train/trainer.h"

namespace sf {
namespace {

// A learnable 28×28 toy problem: class c is a bright 6×6 square at a class-dependent position plus noise.
Dataset toy(int64_t n, uint64_t seed) {
  Dataset d;
  d.name = "toy";
  d.num_classes = 10;
  d.images = Tensor::zeros({n, 1, 28, 28});
  Rng rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng.below(10));
    d.labels.push_back(c);
    float* img = d.images.data() + i * 784;
    for (int p = 0; p < 784; ++p) img[p] = static_cast<float>(0.2 * rng.uniform());
    const int r0 = 2 + (c / 5) * 12, c0 = 1 + (c % 5) * 5;
    for (int r = r0; r < r0 + 6; ++r)
      for (int s = c0; s < c0 + 5; ++s) img[r * 28 + s] = 1.0f;
  }
  return d;
}

TrainSpec small_spec(int epochs) {
  TrainSpec t;
  t.epochs = epochs;
  t.batch = 32;  // 300 / 32 leaves a partial last batch: the trainer must build a second graph
  t.eval_batch = 64;
  t.optimizer.lr = 0.2;
  return t;
}

// Softplus is left out: its 0.69 offset at 0 makes plain-SGD MSE training slow to start (on MNIST it needs
// lr ≤ 0.05 and hundreds of steps), more than this 40-step toy run gives it. mnist_softplus.yaml (cross-entropy) covers
// it.
TEST(TrainerTest, LearnsToyProblemWithReluAndNoisySoftplus) {
  const Dataset train = toy(300, 1), test = toy(200, 2);
  for (const char* act : {"relu", "noisy_softplus"}) {
    ModelSpec spec;
    spec.activation = act;
    Model m = build_model(spec, 3);
    Trainer t(m, small_spec(4), Device::cpu, 3);
    const auto history = t.fit(train, &test);
    ASSERT_EQ(history.size(), 4u);
    EXPECT_LT(history.back().loss, history.front().loss) << act;
    EXPECT_GT(t.evaluate(test).accuracy, 0.9) << act;
    EXPECT_NEAR(history.back().val_acc, t.evaluate(test).accuracy, 1e-12);
  }
}

TEST(TrainerTest, CrossEntropyTrainsToo) {
  const Dataset train = toy(300, 1), test = toy(200, 2);
  Model m = build_model(ModelSpec{}, 3);
  TrainSpec spec = small_spec(3);
  spec.loss = "crossentropy";
  spec.optimizer.lr = 0.05;
  Trainer t(m, spec, Device::cpu, 3);
  t.fit(train, nullptr);
  EXPECT_GT(t.evaluate(test).accuracy, 0.9);
}

TEST(TrainerTest, SameSeedGivesBitIdenticalHistory) {
  const Dataset train = toy(300, 1);
  auto run = [&](uint64_t seed) {
    Model m = build_model(ModelSpec{}, seed);
    Trainer t(m, small_spec(2), Device::cpu, seed);
    std::vector<double> out;
    for (const auto& s : t.fit(train, &train)) out.insert(out.end(), {s.loss, s.acc, s.val_loss, s.val_acc});
    for (float w : m.find("conv2")->params[0].value.to_vector()) out.push_back(w);
    return out;
  };
  const auto a = run(11), b = run(11), c = run(12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(TrainerTest, DivergenceNamesTheOp) {
  const Dataset train = toy(100, 1);
  Model m = build_model(ModelSpec{}, 3);
  TrainSpec spec = small_spec(1);
  spec.optimizer.lr = 1e30;
  Trainer t(m, spec, Device::cpu, 3);
  try {
    t.fit(train, nullptr);
    FAIL() << "expected divergence";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Numeric);
    const std::string msg = e.what();
    EXPECT_TRUE(msg.find("NaN") != std::string::npos || msg.find("Inf") != std::string::npos) << msg;
    EXPECT_NE(msg.find("first non-finite output in op"), std::string::npos) << msg;
  }
}

// Step totals kept on the device (train.sync_every > 1, or auto on a GPU) add up in the host's order: the
// history, the weights and every position an observer asks for equal a run that reads them after every step,
// whatever the read interval; batch_end comes after each read only.
struct Recorder final : TrainObserver {
  int64_t ask_every = 0, steps = 0, reads = 0;
  std::vector<FitPosition> asked;  // the positions at the steps wants_totals() asked for
  bool wants_totals() const override { return ask_every > 0 && (steps + 1) % ask_every == 0; }
  void batch_end(int64_t, int64_t, double, double, double) override { ++reads; }
  void step_end(const FitPosition& at) override {
    if (wants_totals()) asked.push_back(at);
    ++steps;
  }
};

TEST(TrainerTest, TotalsKeptOnTheDeviceEqualTheHostsStepByStep) {
  const Dataset train = toy(300, 1);
  struct Run {
    std::vector<double> history;
    std::vector<float> weights;
    Recorder seen;
  };
  auto run = [&](int64_t sync_every) {
    Model m = build_model(ModelSpec{}, 5);
    TrainSpec spec = small_spec(2);
    spec.parallel = "op_parallel";  // one shard: the case whose totals may stay on the device
    spec.sync_every = sync_every;
    spec.l2 = 1e-3, spec.label_smoothing = 0.1;  // the regulariser and the targets join the device sums too
    Run r;
    r.seen.ask_every = 4;
    for (const auto& e : Trainer(m, spec, Device::cpu, 5).fit(train, nullptr, &r.seen))
      r.history.insert(r.history.end(), {e.loss, e.acc});
    for (const auto* p : m.parameters()) {
      const std::vector<float> v = p->value.to_vector();
      r.weights.insert(r.weights.end(), v.begin(), v.end());
    }
    return r;
  };
  const Run host = run(1);
  EXPECT_EQ(host.seen.reads, 20) << "10 steps per epoch, batch_end after each";
  for (int64_t every : {3, 1000}) {
    SCOPED_TRACE("sync_every " + std::to_string(every));
    const Run dev = run(every);
    EXPECT_EQ(dev.history, host.history);
    EXPECT_EQ(dev.weights, host.weights);
    ASSERT_EQ(dev.seen.asked.size(), host.seen.asked.size());
    for (size_t i = 0; i < host.seen.asked.size(); ++i) {
      EXPECT_EQ(dev.seen.asked[i].loss_sum, host.seen.asked[i].loss_sum) << i;
      EXPECT_EQ(dev.seen.asked[i].correct, host.seen.asked[i].correct) << i;
    }
    // Reads: every `every` steps, at each asked step and at each epoch's end.
    EXPECT_EQ(dev.seen.reads, every == 3 ? 2 * 5 : 2 * 3) << "epoch 1 of 10 steps: 3, 4, 7, 8, 10 or 4, 8, 10";
  }
}

// The CPU records no steps (core/capture.h); these tests lend it a recorder that keeps the work and runs it
// again at each replay, to check the trainer's side of recording: which steps run as they are, which are
// recorded and which replayed, with the same result as a run that records nothing.
struct KeptWork final : CapturedWork {
  static inline int recordings = 0, replays = 0;
  static inline bool refuse = false;
  std::function<void()> work;
  explicit KeptWork(std::function<void()> w) : work(std::move(w)) {}
  void replay() override {
    ++replays;
    work();
  }
  static std::unique_ptr<CapturedWork> record(const std::function<void()>& work) {
    if (refuse) throw CaptureFailed("the test's recorder refuses");
    ++recordings;
    return std::make_unique<KeptWork>(work);
  }
};
struct LentRecorder {
  explicit LentRecorder(bool refuse) {
    KeptWork::recordings = KeptWork::replays = 0;
    KeptWork::refuse = refuse;
    register_capturer(Device::cpu, KeptWork::record);
  }
  ~LentRecorder() { register_capturer(Device::cpu, nullptr); }
};

TEST(TrainerTest, RecordedStepsReplayAsTheStepsRunAsTheyAre) {
  const Dataset train = toy(300, 1), val = toy(100, 2);
  for (const char* type : {"sgd", "adam"}) {
    SCOPED_TRACE(type);
    auto run = [&](bool cuda_graph, const Dataset* v) {
      Model m = build_model(ModelSpec{}, 5);
      TrainSpec spec = small_spec(2);
      spec.parallel = "op_parallel";
      spec.sync_every = 4;  // the totals on the device: what a recorded step needs
      spec.cuda_graph = cuda_graph;
      spec.optimizer.type = type;
      if (spec.optimizer.type == "adam") spec.optimizer.lr = 1e-3;
      spec.optimizer.decay = 0.05;                   // a rate that changes every step, and Adam's bias correction
      spec.l2 = 1e-3, spec.clip_conv_weights = 0.5;  // the regulariser and the clipping are in the recording
      std::vector<double> out;
      for (const auto& e : Trainer(m, spec, Device::cpu, 5).fit(train, v))
        out.insert(out.end(), {e.loss, e.acc, v ? e.val_loss : 0.0});  // NaN without validation
      for (const auto* p : m.parameters()) {
        const std::vector<float> w = p->value.to_vector();
        out.insert(out.end(), w.begin(), w.end());
      }
      return out;
    };
    const std::vector<double> as_they_are = run(false, nullptr);
    {
      LentRecorder lent(false);
      EXPECT_EQ(run(false, nullptr), as_they_are);
      EXPECT_EQ(KeptWork::recordings, 0) << "train.cuda_graph: false records nothing";
      EXPECT_EQ(run(true, nullptr), as_they_are);
      // Two nets (9 steps of 32, one of 12 per epoch), each recorded at its second step: the full one in
      // epoch 1 (then 8 + 9 replays), the last batch's in epoch 2 (1 replay).
      EXPECT_EQ(KeptWork::recordings, 2);
      EXPECT_EQ(KeptWork::replays, 18);
      // Validation between the epochs: its graph shares the arena, so the training steps may be recorded
      // again, and replay as before.
      const std::vector<double> with_val = run(false, &val);
      KeptWork::recordings = 0;
      EXPECT_EQ(run(true, &val), with_val);
      EXPECT_GE(KeptWork::recordings, 2);
    }
    {
      LentRecorder lent(true);  // a recording that fails: the steps run as they are
      EXPECT_EQ(run(true, nullptr), as_they_are);
      EXPECT_EQ(KeptWork::replays, 0);
    }
  }
}

// Dropout's mask changes every step: a recorded step reads the step's key from device memory
// (ExecContext::device_random_key), and batch norm's running statistics move at each replay as at each step.
TEST(TrainerTest, RecordedStepsDrawEachStepsDropoutMask) {
  ModelSpec ms;
  ms.arch = "mobilenet_v1", ms.activation = "relu6", ms.alpha = 0.25, ms.dropout = 0.3;
  ms.input = {3, 32, 32}, ms.classes = 10;
  const Dataset data = test::random_images(32, {3, 32, 32}, 10, 5);
  auto run = [&](bool cuda_graph) {
    Model m = build_model(ms, 9);
    TrainSpec t;
    t.epochs = 2, t.batch = 8, t.loss = "crossentropy", t.optimizer.lr = 0.05, t.optimizer.momentum = 0.9;
    t.parallel = "op_parallel", t.sync_every = 3, t.cuda_graph = cuda_graph;
    std::vector<double> out;
    for (const EpochStats& e : Trainer(m, t, Device::cpu, 9).fit(data, nullptr)) out.insert(out.end(), {e.loss, e.acc});
    for (const NamedTensor& nt : m.state()) {  // the running statistics too
      const std::vector<float> v = nt.tensor.to_vector();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  const std::vector<double> as_they_are = run(false);
  LentRecorder lent(false);
  EXPECT_EQ(run(true), as_they_are);
  EXPECT_EQ(KeptWork::recordings, 1);
  EXPECT_EQ(KeptWork::replays, 7) << "8 steps of 8: the first as it is";
}

// A step that goes non-finite while the totals wait on the device is not applied, nor is any after it; the
// next read reruns that step on the host, which names the batch and the op as a run read step by step does.
TEST(TrainerTest, DivergenceFoundOnTheDeviceNamesTheSameStepAndOp) {
  const Dataset train = toy(100, 1);
  auto message = [&](int64_t sync_every, bool poison) {
    Model m = build_model(ModelSpec{}, 3);
    if (poison)
      for (auto& l : m.layers())
        if (l.name == "conv1") l.params[0].value.fill(std::nanf(""));
    TrainSpec spec = small_spec(1);
    spec.parallel = "op_parallel";
    spec.sync_every = sync_every;
    if (!poison) spec.optimizer.lr = 1e30;  // the first update blows the weights up: batch 2 diverges
    try {
      Trainer(m, spec, Device::cpu, 3).fit(train, nullptr);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Numeric) << e.what();
      return std::string(e.what());
    }
    ADD_FAILURE() << "expected divergence";
    return std::string();
  };
  for (bool poison : {false, true}) {
    SCOPED_TRACE(poison ? "NaN weight, finite loss" : "lr 1e30");
    const std::string host = message(1, poison), device = message(4, poison);
    EXPECT_NE(host.find("training diverged"), std::string::npos) << host;
    EXPECT_NE(host.find(poison ? "batch 1" : "batch 2"), std::string::npos) << host;
    EXPECT_EQ(device, host);
  }
}

// A batch too large for the device is refused naming the key, the batch size and the layer whose output is
// the largest, before the first step.
TEST(TrainerTest, ABatchThatDoesNotFitNamesTheBatchAndTheLargestLayer) {
  const Dataset train = toy(4096, 1);
  Model m = build_model(ModelSpec{}, 3);
  TrainSpec spec = small_spec(1);
  spec.batch = 4096, spec.parallel = "op_parallel";
  std::string msg;
  {
    const test::BoundedAllocator bounded(size_t{64} << 20);  // the batch's 12.5 MiB of images fit, its activations not
    Trainer t(m, spec, Device::cpu, 3);
    try {
      t.fit(train, nullptr);
    } catch (const OutOfMemory& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      msg = e.what();
    }
  }
  for (const char* part : {"train.batch: out of host memory", "(the largest: the output of 'conv1' [4096,6,24,24]",
                           "the batch of 4096 does not fit on cpu", "use a smaller train.batch"})
    EXPECT_NE(msg.find(part), std::string::npos) << part << "\n" << msg;
  spec.batch = 64;  // and a batch that fits trains
  EXPECT_NO_THROW(Trainer(m, spec, Device::cpu, 3).fit(train, nullptr));
}

TEST(TrainerTest, ImageSizeMustMatchTheModel) {
  Dataset wrong;
  wrong.name = "wrong/train";
  wrong.num_classes = 10;
  wrong.images = Tensor::zeros({4, 1, 20, 20});
  wrong.labels = {0, 1, 2, 3};
  Model m = build_model(ModelSpec{}, 3);
  Trainer t(m, small_spec(1), Device::cpu, 3);
  try {
    t.fit(wrong, nullptr);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("wrong/train"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[1,28,28]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(t.evaluate(wrong), Error);
}

// ReLU turns a NaN input into 0, so a poisoned weight can leave the loss finite; the gradient scan must
// still stop the run.
TEST(TrainerTest, NonFiniteWeightIsCaughtEvenWhenTheLossStaysFinite) {
  const Dataset train = toy(100, 1);
  Model m = build_model(ModelSpec{}, 3);
  for (auto& l : m.layers())
    if (l.name == "conv1") l.params[0].value.fill(std::nanf(""));
  Trainer t(m, small_spec(1), Device::cpu, 3);
  try {
    t.fit(train, nullptr);
    FAIL() << "expected divergence";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Numeric);
    EXPECT_NE(std::string(e.what()).find("conv1"), std::string::npos) << e.what();
  }
}

TEST(TrainerTest, AugmentedTrainingIsIdenticalWhateverTheLoaderWorkerCount) {
  const Dataset train = toy(100, 1);
  const MemorySource source(train);
  std::vector<TransformSpec> specs(2);
  specs[0].type = TransformType::random_crop;
  specs[0].height = specs[0].width = 28;
  specs[0].padding = 2;
  specs[1].type = TransformType::hflip;
  const Pipeline augment = make_pipeline(specs);
  std::vector<float> weights[3];
  for (int workers : {0, 1, 3}) {
    Model m = build_model(ModelSpec{}, 3);
    TrainSpec spec = small_spec(1);
    spec.workers = workers;
    Trainer(m, spec, Device::cpu, 3).fit(source, augment, nullptr);
    weights[workers == 0 ? 0 : workers == 1 ? 1 : 2] = m.parameters()[0]->value.to_vector();
  }
  EXPECT_EQ(weights[0], weights[1]);
  EXPECT_EQ(weights[0], weights[2]);
  // ... and augmentation really changes what is trained on.
  Model plain = build_model(ModelSpec{}, 3);
  Trainer(plain, small_spec(1), Device::cpu, 3).fit(train, nullptr);
  EXPECT_NE(plain.parameters()[0]->value.to_vector(), weights[0]);
}

TEST(TrainerTest, LiuNetsTakeTheInputShapeAndClassCountOfTheirSpec) {
  ModelSpec spec;
  spec.input = {3, 32, 32};
  spec.classes = 100;
  const Model m = build_model(spec, 1);
  EXPECT_EQ(m.input_shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(m.output_shape(), (Shape{100}));
  EXPECT_EQ(m.find("conv1")->params[0].value.shape(), (Shape{6, 3, 5, 5}));
  spec.input = {1, 8, 8};
  EXPECT_THROW(build_model(spec, 1), Error);
}

}  // namespace
}  // namespace sf
