// The device-independent core: device primitives against plain loops, a device plugged in at run time,
// train/eval mode and state buffers through the graph, the trainer and checkpoints, the parallel strategy and
// the gradient reducer.
#include <gtest/gtest.h>
#include <omp.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/primitives.h"
#include "core/rng.h"
#include "models/model.h"
#include "ops/registry.h"
#include "optim/optimizer.h"
#include "tests/support.h"
#include "train/experiment.h"
#include "train/parallel.h"
#include "train/trainer.h"

namespace sf {
namespace {

using test::error_message;

Tensor random_tensor(Shape s, uint64_t seed, double lo = -2, double hi = 2) {
  Tensor t(std::move(s));
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.uniform(lo, hi));
  return t;
}

// ---------------------------------------------------------------- primitives against plain loops

// Sizes around the parallel grain (65,536) so both the direct and the threaded path run.
class PrimitiveTest : public ::testing::TestWithParam<int64_t> {};

TEST_P(PrimitiveTest, ElementwiseMatchPlainLoops) {
  const int64_t n = GetParam();
  const Tensor x = random_tensor({n}, 1), y0 = random_tensor({n}, 2);

  Tensor y = y0.clone();
  axpy(0.375f, x, y);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], y0[i] + 0.375f * x[i]) << i;

  Tensor s = x.clone();
  scale(s, -1.5f);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(s[i], -1.5f * x[i]) << i;

  Tensor c = x.clone();
  clamp(c, -0.5f, 0.25f);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(c[i], std::min(0.25f, std::max(-0.5f, x[i]))) << i;

  Tensor f({n});
  f.fill(3.25f);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(f[i], 3.25f) << i;

  double want = 0;
  for (int64_t i = 0; i < n; ++i) want += x[i];
  EXPECT_NEAR(sum(x), want, 1e-9 * (1 + n));  // in double: order changes only the last bits
  EXPECT_EQ(sum(x), sum(x.clone()));          // ... and the order is fixed
}

TEST_P(PrimitiveTest, FirstNonFiniteFindsTheFirstNanOrInf) {
  const int64_t n = GetParam();
  Tensor x = random_tensor({n}, 3);
  EXPECT_EQ(first_non_finite(x), -1);
  if (n == 0) return;
  x[n - 1] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(first_non_finite(x), n - 1);
  x[n / 2] = std::nanf("");
  EXPECT_EQ(first_non_finite(x), n / 2);
}

TEST_P(PrimitiveTest, WeightPenaltyMatchesKerasRegulariser) {
  const int64_t n = GetParam();
  const Tensor w = random_tensor({n}, 4);
  Tensor g = random_tensor({n}, 5), g0 = g.clone();
  const double l1 = 1e-3, l2 = 5e-4;
  double want = 0;
  for (int64_t i = 0; i < n; ++i) want += l1 * std::fabs(w[i]) + l2 * double(w[i]) * w[i];
  EXPECT_EQ(weight_penalty(w, &g, l1, l2), want);
  for (int64_t i = 0; i < n; ++i) {
    const float sign = static_cast<float>((w[i] > 0) - (w[i] < 0));
    const float l1_term = static_cast<float>(l1) * sign, l2_term = 2.0f * static_cast<float>(l2) * w[i];
    // The compiler may contract either side into FMAs differently: a few ulp of the terms' magnitude.
    const float tol =
        4 * std::numeric_limits<float>::epsilon() * (std::fabs(g0[i]) + std::fabs(l1_term) + std::fabs(l2_term));
    ASSERT_NEAR(g[i], g0[i] + l1_term + l2_term, tol) << i;
  }
  EXPECT_EQ(weight_penalty(w, nullptr, l1, l2), want);  // value only: nothing written
}

INSTANTIATE_TEST_SUITE_P(Sizes, PrimitiveTest, ::testing::Values(0, 1, 17, 65536, 100003));

TEST(PrimitiveTest, CountArgmaxEqualTakesTheFirstMaximumOfEachRow) {
  // Row 0: logits argmax 2, target 2 → correct. Row 1: tie at 0 and 1, first wins (0) vs target 1 → wrong.
  // Row 2: shifted one-hot target (0.01 / 1.01) at 0, logits argmax 0 → correct. Row 3 is not counted.
  const Tensor logits = Tensor::from({4, 3}, {0, 1, 5, 2, 2, 1, 9, 0, 0, 0, 0, 1});
  const Tensor targets = Tensor::from({4, 3}, {0, 0, 1, 0, 1, 0, 1.01f, 0.01f, 0.01f, 0, 0, 1});
  EXPECT_EQ(count_top_k(logits, targets, 3), 2);
  EXPECT_EQ(count_top_k(logits, targets, 4), 3);
  EXPECT_THROW(count_top_k(logits, targets, 5), Error);
}

TEST(PrimitiveTest, CountTopKRanksTheTargetAmongTheLogits) {
  // Targets 3, 0, 4, 1. Row 0: target ranks 2nd. Row 1: 4th. Row 2: 1st. Row 3: tie with class 0 (lower index
  // ahead) and two larger → 4th. Row 4 has a NaN logit at its target: never counted.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor logits = Tensor::from(
      {5, 5}, {1, 2, 0, 3, 4, /**/ 1, 3, 4, 5, 0, /**/ 0, 1, 2, 3, 9, /**/ 2, 2, 5, 6, 0, /**/ 0, nan, 0, 0, 0});
  std::vector<float> t(25, 0.0f);
  for (const auto& [row, cls] : {std::pair{0, 3}, {1, 0}, {2, 4}, {3, 1}, {4, 1}}) t[row * 5 + cls] = 1.0f;
  const Tensor targets = Tensor::from({5, 5}, t);
  EXPECT_EQ(count_top_k(logits, targets, 5, 1), 1);
  EXPECT_EQ(count_top_k(logits, targets, 5, 2), 2);
  EXPECT_EQ(count_top_k(logits, targets, 5, 4), 4);
  EXPECT_EQ(count_top_k(logits, targets, 5, 5), 4);
}

TEST(PrimitiveTest, GatherRowsCopiesTheIndexedRows) {
  const Tensor src = random_tensor({5, 7}, 6);
  Tensor dst({3, 7});
  const int64_t index[] = {4, 0, 4};
  primitives(Device::cpu).gather_rows(dst.raw(), src.raw(), index, 3, 7);
  for (int r = 0; r < 3; ++r)
    for (int j = 0; j < 7; ++j) ASSERT_EQ(dst[r * 7 + j], src[index[r] * 7 + j]);
}

// Clipping must not hide a diverged weight: NaN stays NaN (std::clamp's rule, shared with the GPU).
TEST(PrimitiveTest, ClampKeepsNan) {
  Tensor x = Tensor::from({3}, {std::nanf(""), -5.0f, 5.0f});
  clamp(x, -1.0f, 1.0f);
  EXPECT_TRUE(std::isnan(x[0]));
  EXPECT_EQ(x[1], -1.0f);
  EXPECT_EQ(x[2], 1.0f);
}

// The accumulating forms add what the returning ones return, into doubles on the device; a mark keeps the
// first value it was given.
TEST(PrimitiveTest, AccumulatingFormsAddWhatTheReturningFormsReturn) {
  const DevicePrimitives& p = primitives(Device::cpu);
  DeviceDoubles acc(4, Device::cpu);
  EXPECT_EQ(acc.read(), std::vector<double>(4, 0.0));
  acc.set(0, 2.5);
  const Tensor logits = Tensor::from({2, 3}, {1, 5, 2, 9, 0, 1}), targets = Tensor::from({2, 3}, {0, 1, 0, 0, 0, 1});
  p.add_top_k(acc.data(), logits.raw(), targets.raw(), 2, 3, 1);
  p.add_top_k(acc.data(), logits.raw(), targets.raw(), 2, 3, 2);
  EXPECT_EQ(acc.read()[0], 2.5 + 1 + 2);
  Tensor w = Tensor::from({2}, {0.5f, -2.0f}), g = Tensor::zeros({2});
  p.add_weight_penalty(acc.data() + 1, w.raw(), g.raw(), 2, 0.1, 0.01);
  EXPECT_DOUBLE_EQ(acc.read()[1], 0.1 * 2.5 + 0.01 * 4.25);
  EXPECT_FLOAT_EQ(g[1], -0.1f - 0.04f);
  const Tensor loss = Tensor::from({1}, {0.75f});
  DeviceDoubles steps(1, Device::cpu);
  steps.set(0, 6.0);
  p.add_step_loss(acc.data() + 2, loss.raw(), 4.0, acc.data() + 1, 8.0, steps.data());
  std::vector<double> now = acc.read();
  EXPECT_EQ(now[2], 0.75 * 4.0 + 8.0 * (0.1 * 2.5 + 0.01 * 4.25));
  EXPECT_EQ(now[1], 0.0) << "the step's penalty is used up";
  EXPECT_EQ(steps.read()[0], 7.0) << "and the step counted";
  const Tensor finite = Tensor::from({3}, {1, 2, 3}), bad = Tensor::from({3}, {1, NAN, 3});
  p.mark_non_finite(acc.data() + 3, finite.raw(), 3, steps.data());
  EXPECT_EQ(acc.read()[3], 0.0);
  p.mark_non_finite(acc.data() + 3, bad.raw(), 3, steps.data());
  steps.set(0, 9.0);
  p.mark_non_finite(acc.data() + 3, bad.raw(), 3, steps.data());
  EXPECT_EQ(acc.read()[3], 7.0) << "the first mark stays";
  acc.zero();
  EXPECT_EQ(acc.read(), std::vector<double>(4, 0.0));
}

TEST(PrimitiveTest, MismatchedOperandsAreRejected) {
  Tensor a({3}), b({4});
  EXPECT_THROW(axpy(1.0f, a, b), Error);
}

// ---------------------------------------------------------------- a device plugged in at run time

// Host memory posing as a second device: what a CUDA build registers, with the CPU's loops.
class FakeDeviceAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes, size_t slack) override {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    std::memset(static_cast<char*>(p) + bytes - slack, 0, slack);
    return p;
  }
  void deallocate(void* p) override { std::free(p); }
};

struct FakeDevice {
  FakeDeviceAllocator allocator;
  DevicePrimitives table = primitives(Device::cpu);
  FakeDevice() {
    register_allocator(Device::cuda, &allocator);
    register_primitives(Device::cuda, &table);
  }
  ~FakeDevice() {
    register_allocator(Device::cuda, nullptr);
    register_primitives(Device::cuda, nullptr);
  }
};

// What device_unavailable_reason(cuda) says where there is no GPU to use: the build option, or the runtime's
// reason in a CUDA build.
void expect_says_why_no_gpu(const std::string& msg) {
#if SPIKEFORGE_CUDA
  EXPECT_NE(msg.find("CUDA GPU"), std::string::npos) << msg;
#else
  EXPECT_NE(msg.find("SPIKEFORGE_CUDA=ON"), std::string::npos) << msg;
#endif
}

TEST(DeviceTest, ATensorOnAnotherDeviceRefusesHostAccessAndCopiesBack) {
  if (device_available(Device::cuda)) GTEST_SKIP() << "a real GPU is registered; this test plugs in a fake one";
  {
    FakeDevice fake;
    EXPECT_TRUE(device_available(Device::cuda));
    const Tensor host = random_tensor({2, 3}, 7);
    Tensor dev = host.to(Device::cuda);
    EXPECT_EQ(dev.device(), Device::cuda);
    EXPECT_NE(dev.raw(), nullptr);
    EXPECT_THROW(dev.data(), Error);
    EXPECT_THROW((void)std::as_const(dev)[0], Error);
    EXPECT_EQ(dev.to(Device::cpu).to_vector(), host.to_vector());
    EXPECT_EQ(dev.to_vector(), host.to_vector());
    dev.fill(2.0f);
    EXPECT_EQ(dev.to_vector(), std::vector<float>(6, 2.0f));
    Tensor wrong_device({2, 3});
    EXPECT_THROW(axpy(1.0f, dev, wrong_device), Error);
  }
  EXPECT_FALSE(device_available(Device::cuda));
  expect_says_why_no_gpu(device_unavailable_reason(Device::cuda));
  expect_says_why_no_gpu(error_message([] { Tensor({4}, Device::cuda); }));
}

TEST(DeviceTest, AnExperimentOnAnUnavailableDeviceNamesTheKeyAndWhy) {
  if (device_available(Device::cuda)) GTEST_SKIP() << "this machine has a GPU";
  const auto path = std::filesystem::temp_directory_path() / "spikeforge_test_core_device.yaml";
  std::ofstream(path) << "seed: 1\ndevice: cuda\n";
  try {
    load_experiment(path.string());
    FAIL() << "device: cuda loaded without a GPU to run on";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("device"), std::string::npos) << msg;
    EXPECT_NE(msg.find(":2"), std::string::npos) << msg;  // the line
    expect_says_why_no_gpu(msg);
  }
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------- modes and state buffers

// y = x in eval mode, x + 1 in train mode; each train-mode forward with update_state adds 1 to its one
// state buffer and the row count to a second one. Backward passes the gradient through.
class StepCounterOp final : public Op {
 public:
  const char* type() const override { return "test_step_counter"; }
  const char* impl() const override { return "reference"; }
  Shape prepare(std::span<const Shape> in) override { return in[0]; }
  void bind_state(std::span<const Tensor> state) override {
    if (state.size() != 2) fail_internal("test_step_counter wants two buffers");
    steps_ = state[0], rows_ = state[1];
  }
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float add = ctx.training() ? 1.0f : 0.0f;
    for (int64_t i = 0; i < out.numel(); ++i) out[i] = (*in[0])[i] + add;
    if (ctx.training() && ctx.update_state && steps_.defined()) {
      steps_[0] += 1;
      rows_[0] += static_cast<float>(in[0]->dim(0));
    }
  }
  void backward(const ExecContext&, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (gin[0]) gin[0]->copy_from(gout);
  }

 private:
  Tensor steps_, rows_;
};

void register_step_counter() {
  static bool done = false;
  if (done) return;
  OpRegistry::instance().add({"test_step_counter", Device::cpu, "reference", 0,
                              [](const Attrs&) -> OpPtr { return std::make_unique<StepCounterOp>(); }});
  done = true;
}

Model counter_model() {
  register_step_counter();
  Model m({1, 2, 2});
  m.add("flat", "flatten");
  m.add("count", "test_step_counter");
  m.add("dense", "dense", {}, {{"weight", {3, 4}}, {"bias", {3}}});
  m.add_buffer("count", "steps", Tensor::zeros({1}));
  m.add_buffer("count", "rows", Tensor::zeros({1}));
  Rng rng(1);
  glorot_uniform(m.parameters()[0]->value, rng);
  return m;
}

Dataset tiny_data(int64_t n) {
  Dataset d;
  d.name = "tiny";
  d.num_classes = 3;
  d.images = random_tensor({n, 1, 2, 2}, 8, 0, 1);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 3));
  return d;
}

TEST(ModeTest, TheGraphRunsItsOpsInTheModeOfItsContext) {
  const Model m = counter_model();
  Graph g;
  const NodeId x = g.input("x", {2, 1, 2, 2});
  const NodeId y = m.build(g, x, false);
  const Tensor in = random_tensor({2, 1, 2, 2}, 9);
  g.value(x).copy_from(in);
  g.forward();
  const std::vector<float> eval = g.value(y).to_vector();
  EXPECT_EQ(m.layers()[1].buffers[0].value[0], 0.0f) << "eval mode must not update state";
  g.context().mode = Mode::train;
  g.forward();
  EXPECT_NE(g.value(y).to_vector(), eval);
  EXPECT_EQ(m.layers()[1].buffers[0].value[0], 1.0f);
  g.context().update_state = false;
  g.forward();
  EXPECT_EQ(m.layers()[1].buffers[0].value[0], 1.0f) << "update_state = false must leave state alone";
}

TEST(ModeTest, TrainerUpdatesStateOncePerStepInTrainModeAndNeverInEvaluation) {
  omp_set_num_threads(2);
  Model m = counter_model();
  TrainSpec spec;
  spec.epochs = 2;
  spec.batch = 4;  // 10 samples: batches of 4, 4, 2, each split over 2 threads
  spec.parallel = "batch_split";
  Trainer t(m, spec, Device::cpu, 1);
  const Dataset d = tiny_data(10);
  t.fit(d, nullptr);
  // Only shard 0 updates: 6 steps, and shard 0 holds 2 + 2 + 1 rows per epoch.
  EXPECT_EQ(m.layers()[1].buffers[0].value[0], 6.0f);
  EXPECT_EQ(m.layers()[1].buffers[1].value[0], 10.0f);
  t.evaluate(d);
  EXPECT_EQ(m.layers()[1].buffers[0].value[0], 6.0f);
}

TEST(BufferTest, NoOptimiserTouchesBuffers) {
  for (const char* type : {"sgd", "adam", "adadelta"}) {
    SCOPED_TRACE(type);
    Model m = counter_model();
    m.buffers()[0]->value[0] = 5.0f;
    const std::vector<float> before = m.parameters()[0]->value.to_vector();
    for (auto* p : m.parameters()) p->grad.fill(1.0f);
    OptimizerSpec spec;
    spec.type = type;
    auto opt = make_optimizer(spec, 1);
    EXPECT_EQ(m.parameters().size(), 2u);  // weight, bias: no buffer
    opt->step(m.parameters());
    EXPECT_NE(m.parameters()[0]->value.to_vector(), before);
    EXPECT_EQ(m.buffers()[0]->value[0], 5.0f);
    EXPECT_EQ(m.buffers()[1]->value[0], 0.0f);
  }
}

std::filesystem::path temp_file(const char* name) { return std::filesystem::temp_directory_path() / name; }

TEST(BufferTest, BuffersAreSavedAndLoadedWithTheParameters) {
  Model a = counter_model();
  a.buffers()[0]->value[0] = 42.0f;
  a.buffers()[1]->value[0] = -3.5f;
  const auto path = temp_file("spikeforge_test_core_buffers.sfm");
  save_checkpoint(path.string(), {"arch", a.state()});
  Model b = counter_model();
  b.load_state(load_checkpoint(path.string()), path.string());
  EXPECT_EQ(b.buffers()[0]->value[0], 42.0f);
  EXPECT_EQ(b.buffers()[1]->value[0], -3.5f);
  EXPECT_EQ(b.parameters()[0]->value.to_vector(), a.parameters()[0]->value.to_vector());
  std::filesystem::remove(path);
}

// A version-1 file (written before buffers existed) has the same layout: only the version word differs.
void rewrite_as_version_1(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), {});
  in.close();
  const uint32_t v1 = 1;
  std::memcpy(bytes.data() + 8, &v1, 4);  // after the 8-byte magic
  const uint32_t crc = static_cast<uint32_t>(crc32(0, bytes.data(), static_cast<uInt>(bytes.size() - 4)));
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

TEST(BufferTest, AVersion1CheckpointWithoutBuffersNamesTheMissingTensorAndTheVersion) {
  Model a = counter_model();
  std::vector<NamedTensor> params_only;
  for (auto& nt : a.state())
    if (nt.name.find("count.") != 0) params_only.push_back(nt);
  const auto path = temp_file("spikeforge_test_core_v1.sfm");
  save_checkpoint(path.string(), {"arch", params_only});
  rewrite_as_version_1(path);
  const Checkpoint ckpt = load_checkpoint(path.string());
  EXPECT_EQ(ckpt.version, 1u);
  Model b = counter_model();
  try {
    b.load_state(ckpt, path.string());
    FAIL() << "a model with buffers loaded a checkpoint without them";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("count.steps"), std::string::npos) << msg;
    EXPECT_NE(msg.find("version 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  }
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------- parallel strategy and reducer

TEST(ParallelTest, AutoSplitsSmallNetsOverThreadsAndLetsLargeOnesParalleliseTheirOps) {
  EXPECT_EQ(training_shards(ParallelStrategy::automatic, 290'000, 50, 2), 2);
  EXPECT_EQ(training_shards(ParallelStrategy::automatic, 46'000'000, 64, 2), 1);
  EXPECT_EQ(training_shards(ParallelStrategy::op_parallel, 290'000, 50, 2), 1);
  EXPECT_EQ(training_shards(ParallelStrategy::batch_split, 46'000'000, 50, 4), 4);
  EXPECT_EQ(training_shards(ParallelStrategy::batch_split, 1, 3, 8), 3);  // never more shards than samples
  try {
    parse_parallel_strategy("threads");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.parallel"), std::string::npos);
  }
}

TEST(ParallelTest, LocalReducerWeighsShardsInOrder) {
  const Tensor a = random_tensor({5}, 10), b = random_tensor({5}, 11), c = random_tensor({5}, 12);
  std::vector<std::vector<Tensor>> shards{{a.clone()}, {b}, {c}};
  const Tensor model_grad = shards[0][0];  // shares storage: the model's own gradient
  const std::vector<float> w{0.5f, 0.25f, 0.25f};
  std::vector<Tensor> model{model_grad};
  LocalReducer().reduce(shards, w, model);
  for (int i = 0; i < 5; ++i) {
    float want = a[i] * 0.5f;
    want += 0.25f * b[i];
    want += 0.25f * c[i];
    EXPECT_EQ(model_grad[i], want);
  }
}

TEST(ParallelTest, OpParallelAndBatchSplitTrainTheSameNetToTheSameAccuracyClass) {
  // Without batch norm the two strategies differ only in the order gradients are summed.
  omp_set_num_threads(2);
  const Dataset d = tiny_data(40);
  std::vector<float> weights[2];
  int k = 0;
  for (const char* strategy : {"batch_split", "op_parallel"}) {
    Model m = counter_model();
    TrainSpec spec;
    spec.epochs = 1;
    spec.batch = 8;
    spec.parallel = strategy;
    Trainer(m, spec, Device::cpu, 1).fit(d, nullptr);
    weights[k++] = m.parameters()[0]->value.to_vector();
  }
  for (size_t i = 0; i < weights[0].size(); ++i) EXPECT_NEAR(weights[0][i], weights[1][i], 1e-5f) << i;
}

}  // namespace
}  // namespace sf
