// Distributed runs: the batch and image partitions and the reducers in one process, then the built binary
// under `mpirun -np 2` on real MNIST (data/mnist): 2 ranks × 1 thread against 1 process × 2 threads, a
// sharded convert against one process, ranks that disagree on the config, and a rank killed mid-run.
// The mpirun tests skip, saying why, where this build has no MPI or mpirun is not installed.
#include <gtest/gtest.h>
#include <omp.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backends/sharded_simulation.h"
#include "core/checkpoint.h"
#include "core/distributed.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "datasets/loader.h"
#include "datasets/pipeline.h"
#include "datasets/source.h"
#include "datasets/transforms.h"
#include "models/zoo.h"
#include "ops/registry.h"
#include "support.h"
#include "train/parallel.h"
#include "train/trainer.h"

namespace sf {
namespace {

namespace fs = std::filesystem;

TEST(ShardRangeTest, PartsAreContiguousAndTheFirstOnesLonger) {
  for (int64_t n : {0, 1, 7, 50, 64})
    for (int64_t parts : {1, 2, 3, 8}) {
      int64_t next = 0;
      for (int64_t i = 0; i < parts; ++i) {
        const Range r = shard_range(n, parts, i);
        EXPECT_EQ(r.first, next) << n << " in " << parts;
        EXPECT_EQ(r.count, n / parts + (i < n % parts ? 1 : 0));
        next += r.count;
      }
      EXPECT_EQ(next, n);
    }
}

// Slices of every batch, made by separate loaders as separate ranks would, put together are the whole
// batches: the same samples, in the same order, with the same augmentation.
TEST(ShardRangeTest, LoaderSlicesTogetherAreTheWholeBatch) {
  Dataset d;
  d.name = "slices";
  d.num_classes = 3;
  const int64_t n = 23;
  d.images = Tensor({n, 1, 4, 4});
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = static_cast<float>(i);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 3));
  const MemorySource src(d);
  Pipeline augment;
  augment.add(std::make_unique<RandomCrop>(4, 4, 1));
  LoaderOptions whole_opts;
  whole_opts.batch = 10;
  whole_opts.seed = 7;
  DataLoader whole(src, augment, whole_opts);
  std::vector<std::unique_ptr<DataLoader>> parts;
  for (int64_t p = 0; p < 3; ++p) {  // 3 ranks × 2 shards of every batch
    LoaderOptions o = whole_opts;
    o.parts = 6, o.part = 2 * p, o.part_count = 2;
    parts.push_back(std::make_unique<DataLoader>(src, augment, o));
  }
  whole.start_epoch(2);
  for (auto& l : parts) l->start_epoch(2);
  for (int64_t b = 0; b < whole.batches(); ++b) {
    const Batch& all = whole.batch(b);
    std::vector<float> images;
    std::vector<int64_t> samples;
    int64_t at = 0;
    for (auto& l : parts) {
      const Batch& s = l->batch(b);
      EXPECT_EQ(s.offset, at);
      EXPECT_EQ(s.whole, all.size);
      at += s.size;
      images.insert(images.end(), s.images.begin(), s.images.end());
      samples.insert(samples.end(), s.samples.begin(), s.samples.end());
    }
    EXPECT_EQ(samples, all.samples) << "batch " << b;
    EXPECT_EQ(images, all.images) << "batch " << b;
  }
}

TEST(ShardRangeTest, ImageSharesAreWholeBatchesWhileEveryRankGetsOne) {
  // 100 images, batches of 32, 2 ranks: [0, 64) and [64, 100), so every batch is one process's batch.
  EXPECT_EQ(image_share(100, 32, 0, 2).first, 0);
  EXPECT_EQ(image_share(100, 32, 0, 2).count, 64);
  EXPECT_EQ(image_share(100, 32, 1, 2).first, 64);
  EXPECT_EQ(image_share(100, 32, 1, 2).count, 36);
  // Fewer images than 2 batches: single images, shared evenly.
  EXPECT_EQ(image_share(40, 32, 1, 2).first, 20);
  EXPECT_EQ(image_share(40, 32, 1, 2).count, 20);
  const std::string msg = test::bad_input([] { image_share(1, 1, 0, 2); });
  EXPECT_NE(msg.find("--images"), std::string::npos) << msg;
}

// In one process the distributed reducer's chunking and fold give LocalReducer's result bit for bit.
TEST(DistributedReducerTest, OneProcessFoldsLikeTheLocalReducer) {
  Rng rng(5);
  auto random = [&](Shape s) {
    Tensor t(s);
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.uniform() * 2 - 1);
    return t;
  };
  const std::vector<Shape> shapes{{3, 5}, {7}, {2, 2, 2}};
  std::vector<std::vector<Tensor>> local(3), dist(3);
  for (size_t s = 0; s < 3; ++s)
    for (const Shape& sh : shapes) {
      local[s].push_back(random(sh));
      dist[s].push_back(local[s].back().clone());
    }
  const std::vector<float> w{0.4f, 0.35f, 0.25f};
  std::vector<Tensor> local_model = local[0], dist_model;
  for (const Shape& sh : shapes) dist_model.push_back(Tensor(sh));
  LocalReducer().reduce(local, w, local_model);
  DistributedReducer(world(), 3).reduce(dist, w, dist_model);
  for (size_t k = 0; k < shapes.size(); ++k) EXPECT_EQ(dist_model[k].to_vector(), local_model[k].to_vector()) << k;
  // A process without shards (a batch smaller than the shard count) contributes zeros.
  DistributedReducer(world(), 3).reduce({}, {}, dist_model);
  for (const Tensor& g : dist_model)
    for (float v : g.to_vector()) EXPECT_EQ(v, 0.0f);
}

// ---- helpers for the mpirun tests ------------------------------------------------------------------------

struct Shell {
  int code = -1;
  std::string out, err;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Shell shell(const test::TempDir& tmp, const std::string& cmd) {
  const std::string out = tmp.file("sh.stdout"), err = tmp.file("sh.stderr");
  const int status = std::system((cmd + " >" + out + " 2>" + err + " </dev/null").c_str());
  return {status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(out), read_text(err)};
}

// Why the mpirun tests cannot run here, or "".
std::string mpi_missing() {
  if (!built_with_mpi()) return "this build has no MPI (install libopenmpi-dev: scripts/setup.sh, then rebuild)";
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) return "mpirun is not installed (openmpi-bin)";
  if (!fs::exists(std::string(SPIKEFORGE_SOURCE_DIR) + "/data/mnist"))
    return "real MNIST is not in data/mnist (scripts/fetch_data.sh mnist)";
  return "";
}

#define SKIP_WITHOUT_MPI() \
  if (const std::string why = mpi_missing(); !why.empty()) GTEST_SKIP() << why

// Root may run mpirun; shared memory between the two ranks only (no network needed).
const std::string kMpirun = "mpirun --allow-run-as-root --oversubscribe --mca btl self,vader -np ";

std::string bin() { return SPIKEFORGE_BIN; }

std::string train_args(const std::string& out, const std::string& extra = "") {
  return " train " + std::string(SPIKEFORGE_SOURCE_DIR) +
         "/experiments/mnist_relu.yaml --set dataset.path=" + SPIKEFORGE_SOURCE_DIR + "/data/mnist " + extra +
         " --out " + out;
}

// history.csv without its wall-time column.
std::string history_without_seconds(const std::string& dir) {
  std::istringstream in(read_text(dir + "/history.csv"));
  std::string out;
  for (std::string line; std::getline(in, line);) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

// ---- synchronised batch norm -----------------------------------------------------------------------------

// One batch of 7 (parts of 4 and 3: unequal shares) through a batchnorm op, train mode, forward and backward.
struct BnCase {
  std::string impl, layout, act;
  static constexpr int64_t n = 7, c = 3, h = 4, w = 4;
  Shape shape(int64_t rows) const { return layout == "nhwc" ? Shape{rows, h, w, c} : Shape{rows, c, h, w}; }
  int64_t row() const { return c * h * w; }
};
struct BnPass {
  Tensor y, dx, dgamma, dbeta, rm, rv;
};
struct BnData {
  Tensor x, gamma, beta, upstream;  // upstream: each sample's loss gradient at the output
};

BnData bn_data(const BnCase& k) {
  Rng rng(11);
  auto random = [&](Shape sh, double scale, double offset) {
    Tensor t(sh);
    for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(offset + scale * rng.normal());
    return t;
  };
  return {random(k.shape(k.n), 2.0, 1.0), random({k.c}, 0.5, 1.0), random({k.c}, 0.5, 0.0),
          random(k.shape(k.n), 1.0, 0.0)};
}

// Rows [part.first, +count) of the batch, as a shard whose loss is the mean over its own samples; sync 1 with
// `stats` (null and the whole batch: one process's reference).
BnPass bn_pass(const BnCase& k, const BnData& d, Range part, StatGather* stats) {
  Tensor x(k.shape(part.count)), dy(k.shape(part.count));
  for (int64_t i = 0; i < x.numel(); ++i) {
    x[i] = d.x[part.first * k.row() + i];
    dy[i] = d.upstream[part.first * k.row() + i] / static_cast<float>(part.count);
  }
  OpPtr op = make_op("batchnorm", {{"layout", k.layout}, {"activation", k.act}, {"sync", int64_t{stats ? 1 : 0}}},
                     Device::cpu, k.impl);
  const std::vector<Shape> shapes{x.shape(), {k.c}, {k.c}};
  op->prepare(shapes);
  BnPass p{Tensor(x.shape()), Tensor(x.shape()), Tensor({k.c}), Tensor({k.c}), Tensor::zeros({k.c}), Tensor({k.c})};
  for (int64_t j = 0; j < k.c; ++j) p.rv[j] = 1.0f;
  const std::vector<Tensor> state{p.rm, p.rv};
  op->bind_state(state);
  ExecContext ctx;
  ctx.mode = Mode::train;
  ctx.sync_stats = stats;
  const std::vector<const Tensor*> in{&x, &d.gamma, &d.beta};
  op->forward(ctx, in, p.y);
  std::vector<Tensor*> gin{&p.dx, &p.dgamma, &p.dbeta};
  op->backward(ctx, in, p.y, dy, gin);
  return p;
}

// Part `part` of a synchronised pass against the whole batch's: its output rows, share·dx (the gradient
// reducer weighs a part by its share) and the running statistics. dγ, dβ: the caller sums share·dγ_p.
void expect_part_of_whole(const BnCase& k, const BnPass& whole, const BnPass& got, Range part) {
  const double share = static_cast<double>(part.count) / k.n;
  for (int64_t i = 0; i < got.y.numel(); ++i) {
    EXPECT_NEAR(got.y[i], whole.y[part.first * k.row() + i], 1e-5) << "y " << i;
    EXPECT_NEAR(share * got.dx[i], whole.dx[part.first * k.row() + i], 1e-6) << "dx " << i;
  }
  for (int64_t j = 0; j < k.c; ++j) {
    EXPECT_NEAR(got.rm[j], whole.rm[j], 1e-6) << "running mean " << j;
    EXPECT_NEAR(got.rv[j], whole.rv[j], 1e-6) << "running var " << j;
  }
}

std::vector<BnCase> bn_cases() {
  std::vector<BnCase> cases;
  for (const char* layout : {"nchw", "nhwc"})
    for (const char* act : {"none", "relu6"})
      for (const char* impl : {"reference", "loops"}) cases.push_back({impl, layout, act});
  return cases;
}

// Two shards on two threads of one process (batch_split): each normalises its rows with
// the other's statistics, and together they are one pass over the whole batch: every kernel that takes sync,
// both layouts, with and without the fused ReLU6.
TEST(SyncBatchNormTest, TwoShardsOnThreadsAreTheWholeBatch) {
  for (const BnCase& k : bn_cases()) {
    SCOPED_TRACE(k.impl + " " + k.layout + " " + k.act);
    const BnData d = bn_data(k);
    const BnPass whole = bn_pass(k, d, {0, k.n}, nullptr);
    ShardStatGather gather(2, nullptr);
    BnPass parts[2];
    std::thread other([&] { parts[1] = bn_pass(k, d, shard_range(k.n, 2, 1), gather.shard(1)); });
    parts[0] = bn_pass(k, d, shard_range(k.n, 2, 0), gather.shard(0));
    other.join();
    for (int p = 0; p < 2; ++p) expect_part_of_whole(k, whole, parts[p], shard_range(k.n, 2, p));
    for (int64_t j = 0; j < k.c; ++j) {
      EXPECT_NEAR(4.0 / 7 * parts[0].dgamma[j] + 3.0 / 7 * parts[1].dgamma[j], whole.dgamma[j], 1e-5) << j;
      EXPECT_NEAR(4.0 / 7 * parts[0].dbeta[j] + 3.0 / 7 * parts[1].dbeta[j], whole.dbeta[j], 1e-5) << j;
    }
  }
}

// The same over two processes: started by MpiTest.SyncBatchNormOverTwoRanksIsTheWholeBatchs under mpirun
// (skipped otherwise).
TEST(MpiWorker, SyncBatchNormHalvesAreTheWholeBatch) {
  if (!std::getenv("SPIKEFORGE_MPI_WORKER")) GTEST_SKIP() << "runs under mpirun, started by MpiTest";
  int argc = 0;
  char** argv = nullptr;
  start_distributed(&argc, &argv);
  Communicator& comm = world();
  ASSERT_EQ(comm.size(), 2);
  ShardStatGather gather(1, &comm);
  for (const BnCase& k : bn_cases()) {
    SCOPED_TRACE(k.impl + " " + k.layout + " " + k.act);
    const BnData d = bn_data(k);
    const BnPass whole = bn_pass(k, d, {0, k.n}, nullptr);
    const Range mine = shard_range(k.n, 2, comm.rank());
    const BnPass got = bn_pass(k, d, mine, gather.shard(0));
    expect_part_of_whole(k, whole, got, mine);
    const double share = static_cast<double>(mine.count) / k.n;
    std::vector<double> grads;
    for (int64_t j = 0; j < k.c; ++j) grads.push_back(share * got.dgamma[j]), grads.push_back(share * got.dbeta[j]);
    const std::vector<double> all = comm.allgather_vector(grads);
    for (int64_t j = 0; j < k.c; ++j) {
      EXPECT_NEAR(all[2 * j] + all[2 * k.c + 2 * j], whole.dgamma[j], 1e-5) << "dgamma " << j;
      EXPECT_NEAR(all[2 * j + 1] + all[2 * k.c + 2 * j + 1], whole.dbeta[j], 1e-5) << "dbeta " << j;
    }
  }
  stop_distributed();
}

// A small MobileNet (α 0.25, 16×16, 3 classes) and 48 random samples: enough batch norms to exercise the
// exchanges, small enough for a unit test.
ModelSpec small_mobilenet() {
  ModelSpec spec;
  spec.arch = "mobilenet_v1";
  spec.alpha = 0.25;
  spec.activation = "relu6";
  spec.data_format = "channels_last";
  spec.input = {1, 16, 16};
  spec.classes = 3;
  return spec;
}

// Trains it from seed 3 on `samples` random samples in batches of 16 with `threads` threads; returns its state.
std::vector<NamedTensor> train_small_mobilenet(const std::string& parallel, bool sync, int threads, int64_t samples) {
  Model model = build_model(small_mobilenet(), 3);
  Dataset d;
  d.name = "random";
  d.num_classes = 3;
  d.images = Tensor({samples, 1, 16, 16});
  Rng rng(4);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = static_cast<float>(rng.uniform());
  for (int64_t i = 0; i < samples; ++i) d.labels.push_back(static_cast<int32_t>(i % 3));
  TrainSpec t;
  t.epochs = 1, t.batch = 16, t.loss = "crossentropy", t.shuffle = false;
  t.parallel = parallel;
  t.sync_batchnorm = sync;
  t.optimizer.lr = 0.05;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  Trainer(model, t, Device::cpu, 1).fit(d, nullptr);
  omp_set_num_threads(saved);
  return model.state();
}

// A trainer-level check of the thread rendezvous: one step on two batch_split shards updates the weights as
// the one-shard (whole-batch) step does, to rounding. (Per-shard statistics, with the exchange cut out, are
// 2.8 × the update off; and over more steps this net amplifies rounding: one and two threads of the same
// op_parallel run drift apart too.)
// The largest difference of `got` from `want` in any trained tensor, against the largest entry of that
// tensor's update from `before`.
double worst_against_update(const std::vector<NamedTensor>& before, const std::vector<NamedTensor>& want,
                            const std::vector<NamedTensor>& got) {
  double worst = 0;
  for (size_t k = 0; k < before.size(); ++k) {
    if (before[k].name.find("running_") != std::string::npos) continue;
    const auto b = before[k].tensor.to_vector(), a = want[k].tensor.to_vector(), g = got[k].tensor.to_vector();
    double diff = 0, update = 0;
    for (size_t i = 0; i < b.size(); ++i)
      diff = std::max(diff, std::fabs(double(g[i]) - a[i])), update = std::max(update, std::fabs(double(a[i]) - b[i]));
    if (update > 0) worst = std::max(worst, diff / update);
  }
  return worst;
}

TEST(SyncBatchNormTest, BatchSplitShardsStepLikeOneShard) {
  const std::vector<NamedTensor> before = build_model(small_mobilenet(), 3).state();
  const auto whole = train_small_mobilenet("op_parallel", false, 2, 16);
  const auto split = train_small_mobilenet("batch_split", false, 2, 16);
  EXPECT_LT(worst_against_update(before, whole, split), 2e-3) << "two shards should step as one";
}

// Started by the MpiTest cases below under mpirun: the small MobileNet with sync_batchnorm on 2 ranks of
// $SPIKEFORGE_MPI_THREADS threads, on $SPIKEFORGE_MPI_SAMPLES samples; rank 0 writes the state to
// $SPIKEFORGE_MPI_OUT.
TEST(MpiWorker, SmallMobileNetWithSyncBatchNorm) {
  if (!std::getenv("SPIKEFORGE_MPI_WORKER")) GTEST_SKIP() << "runs under mpirun, started by MpiTest";
  int argc = 0;
  char** argv = nullptr;
  start_distributed(&argc, &argv);
  ASSERT_EQ(world().size(), 2);
  const auto state = train_small_mobilenet("auto", true, std::atoi(std::getenv("SPIKEFORGE_MPI_THREADS")),
                                           std::atoi(std::getenv("SPIKEFORGE_MPI_SAMPLES")));
  if (world().root()) save_checkpoint(std::getenv("SPIKEFORGE_MPI_OUT"), {"small mobilenet", state});
  stop_distributed();
}

// The small MobileNet with sync_batchnorm on 2 ranks × `threads` threads, in batches of 16.
std::vector<NamedTensor> small_mobilenet_on_two_ranks(const test::TempDir& tmp, int threads, int samples) {
  const std::string out = tmp.file("ranks" + std::to_string(threads) + ".sfm");
  const Shell r = shell(tmp, "SPIKEFORGE_MPI_WORKER=1 SPIKEFORGE_MPI_OUT=" + out + " SPIKEFORGE_MPI_THREADS=" +
                                 std::to_string(threads) + " SPIKEFORGE_MPI_SAMPLES=" + std::to_string(samples) + " " +
                                 kMpirun + "2 --bind-to none " + ::testing::internal::GetArgvs()[0] +
                                 " --gtest_color=no --gtest_filter=MpiWorker.SmallMobileNetWithSyncBatchNorm");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  return r.code == 0 ? load_checkpoint(out).tensors : std::vector<NamedTensor>{};
}

// ---- under mpirun ---------------------------------------------------------------------------------------

// 2 ranks × 1 thread against 1 process × 2 threads: the same shards, folded in the same order. (With T threads
// per rank each rank folds its own shards first: equal to 1 × 2T threads to rounding only.)
TEST(MpiTest, TwoRanksOfOneThreadTrainWhatOneProcessOfTwoThreadsTrains) {
  SKIP_WITHOUT_MPI();
  test::TempDir tmp("mpi");
  {
    const std::string one = tmp.file("one"), two = tmp.file("two");
    // Two epochs: the epoch boundary (decay and shuffle continue) is crossed.
    const Shell a = shell(tmp, bin() + train_args(one, "--set train.epochs=2 --threads 2"));
    ASSERT_EQ(a.code, 0) << a.err;
    const Shell b = shell(tmp, kMpirun + "2 " + bin() + train_args(two, "--set train.epochs=2 --threads 1"));
    ASSERT_EQ(b.code, 0) << b.err;
    EXPECT_EQ(history_without_seconds(two), history_without_seconds(one));
    EXPECT_TRUE(read_text(two + "/model.sfm") == read_text(one + "/model.sfm")) << "the checkpoints differ";
    const auto summary = nlohmann::json::parse(read_text(two + "/summary.json"));
    EXPECT_EQ(summary.at("ranks"), 2);
    EXPECT_EQ(summary.at("test_accuracy"), nlohmann::json::parse(read_text(one + "/summary.json")).at("test_accuracy"));
    // Rank 0 alone wrote the folder, and the output: the run's files, no temp files, one result line.
    std::vector<std::string> files;
    for (const auto& f : fs::directory_iterator(two)) files.push_back(f.path().filename().string());
    std::sort(files.begin(), files.end());
    EXPECT_EQ(files, (std::vector<std::string>{"config.yaml", "history.csv", "model.sfm", "summary.json"}));
    EXPECT_EQ(std::count(b.out.begin(), b.out.end(), '='), std::count(a.out.begin(), a.out.end(), '=')) << b.out;
    // evaluate --predictions: each rank's share of the images, gathered on rank 0 in image order.
    const std::string eval = " evaluate " + one + "/model.sfm --data-dir " + SPIKEFORGE_SOURCE_DIR + "/data/mnist";
    const Shell e1 = shell(tmp, bin() + eval + " --predictions " + tmp.file("p1.csv"));
    ASSERT_EQ(e1.code, 0) << e1.err;
    const Shell e2 = shell(tmp, kMpirun + "2 " + bin() + eval + " --threads 1 --predictions " + tmp.file("p2.csv"));
    ASSERT_EQ(e2.code, 0) << e2.err;
    EXPECT_TRUE(read_text(tmp.file("p1.csv")) == read_text(tmp.file("p2.csv"))) << "the predictions differ";
    EXPECT_EQ(std::count(e1.out.begin(), e1.out.end(), '\n'), 2) << e1.out;
  }
}

TEST(MpiTest, SyncBatchNormOverTwoRanksIsTheWholeBatchs) {
  SKIP_WITHOUT_MPI();
  test::TempDir tmp("mpi");
  const std::string worker = std::string(::testing::internal::GetArgvs()[0]);
  const Shell r = shell(tmp, "SPIKEFORGE_MPI_WORKER=1 " + kMpirun + "2 " + worker +
                                 " --gtest_color=no --gtest_filter=MpiWorker.SyncBatchNormHalvesAreTheWholeBatch");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out;
}

// With sync_batchnorm the ranks' batch norms see the whole batch, as two threads' shards of one process do:
// the same exchanges in the same order, the same folds, so the same weights bit for bit.
TEST(MpiTest, SyncBatchNormTrainsOnTwoRanksWhatTwoThreadsTrain) {
  SKIP_WITHOUT_MPI();
  test::TempDir tmp("mpi");
  const std::vector<NamedTensor> ranks = small_mobilenet_on_two_ranks(tmp, 1, 48);
  const std::vector<NamedTensor> threads = train_small_mobilenet("batch_split", false, 2, 48);
  ASSERT_EQ(ranks.size(), threads.size());
  for (size_t k = 0; k < ranks.size(); ++k)
    EXPECT_EQ(ranks[k].tensor.to_vector(), threads[k].tensor.to_vector()) << ranks[k].name;
}

// Two threads per rank: each rank folds its shards first, and shard 0 exchanges the batch-norm rows with the
// other rank inside the threads' region (MPI_THREAD_FUNNELED). A step equals 1 process × 4 threads' to
// rounding.
TEST(MpiTest, TwoRanksOfTwoThreadsStepLikeOneProcessOfFour) {
  SKIP_WITHOUT_MPI();
  test::TempDir tmp("mpi");
  const std::vector<NamedTensor> ranks = small_mobilenet_on_two_ranks(tmp, 2, 16);
  const std::vector<NamedTensor> threads = train_small_mobilenet("batch_split", false, 4, 16);
  ASSERT_EQ(ranks.size(), threads.size());
  EXPECT_LT(worst_against_update(build_model(small_mobilenet(), 3).state(), threads, ranks), 2e-3);
}

TEST(MpiTest, ConvertOnTwoRanksWritesWhatOneProcessWrites) {
  SKIP_WITHOUT_MPI();
  test::TempDir tmp("mpi");
  const std::string run = tmp.file("run");
  ASSERT_EQ(shell(tmp, bin() + train_args(run, "--set train.epochs=1 --threads 2")).code, 0);
  for (const char* propagation : {"event", "dense"}) {
    const std::string args = " convert " + run + "/model.sfm --norm robust --steps 120 --images 300 --threads 1 " +
                             "--propagation " + propagation + " --out ";
    const Shell a = shell(tmp, bin() + args + tmp.file(std::string("one_") + propagation));
    ASSERT_EQ(a.code, 0) << a.err;
    const Shell b = shell(tmp, kMpirun + "2 " + bin() + args + tmp.file(std::string("two_") + propagation));
    ASSERT_EQ(b.code, 0) << b.err;
    for (const char* f : {"predictions.csv", "layers.csv", "accuracy_vs_time.csv", "network.json"})
      EXPECT_EQ(read_text(tmp.file(std::string("two_") + propagation + "/" + f)),
                read_text(tmp.file(std::string("one_") + propagation + "/" + f)))
          << f << " (" << propagation << ")";
    const auto s = nlohmann::json::parse(read_text(tmp.file(std::string("two_") + propagation + "/summary.json")));
    EXPECT_EQ(s.at("ranks"), 2);
    EXPECT_EQ(s.at("images"), 300);
  }
}

TEST(MpiTest, RanksGivenDifferentConfigsFailOnEveryRank) {
  SKIP_WITHOUT_MPI();
  test::TempDir tmp("mpi");
  // Rank 1 trains another seed.
  const Shell r = shell(
      tmp, kMpirun + "2 sh -c '" + bin() +
               train_args(tmp.file("run"), "--set train.epochs=1 --set seed=$((1 + OMPI_COMM_WORLD_RANK))") + "'");
  EXPECT_EQ(r.code, 2) << r.err;
  for (const char* who : {"rank 0/2", "rank 1/2"})
    EXPECT_NE(r.err.find(std::string("spikeforge: ") + who + ": error: the ranks disagree on the experiment"),
              std::string::npos)
        << who << " should say why:\n"
        << r.err;
  EXPECT_FALSE(fs::exists(tmp.file("run") + "/summary.json"));
}

// Rank 1 is killed (SIGKILL) once the first resume checkpoint is on disk. The job must end non-zero, the
// folder must hold a good checkpoint and no summary, and `train --resume` must end where an uninterrupted
// run ends.
TEST(MpiTest, AKilledRankEndsTheJobAndTheRunResumesToTheSameResult) {
  SKIP_WITHOUT_MPI();
  test::TempDir tmp("mpi");
  const std::string killed = tmp.file("killed"), whole = tmp.file("whole");
  const std::string args = "--set train.epochs=3 --set train.checkpoint_every=150 --threads 1";
  ASSERT_EQ(shell(tmp, kMpirun + "2 " + bin() + train_args(whole, args)).code, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string watch = "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then (while [ ! -e " + killed +
                            "/checkpoint.sfm ]; do sleep 0.01; done; kill -9 $$) & fi; exec ";
  const Shell k = shell(tmp, kMpirun + "2 sh -c '" + watch + bin() + train_args(killed, args) + "'");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(k.code, 0) << "the job went on without rank 1:\n" << k.out;
  EXPECT_NE(k.err.find("rank 1"), std::string::npos) << "mpirun should name the rank that died:\n" << k.err;
  EXPECT_LT(seconds, 60.0) << "the job hung after rank 1 died";
  EXPECT_TRUE(fs::exists(killed + "/checkpoint.sfm"));
  EXPECT_FALSE(fs::exists(killed + "/summary.json")) << "a killed run must not look finished";
  EXPECT_FALSE(fs::exists(killed + "/model.sfm"));
  const Shell resumed = shell(tmp, kMpirun + "2 " + bin() + " train --resume " + killed);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(history_without_seconds(killed), history_without_seconds(whole));
  EXPECT_TRUE(read_text(killed + "/model.sfm") == read_text(whole + "/model.sfm")) << "the checkpoints differ";
}

}  // namespace
}  // namespace sf
