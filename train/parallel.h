// How a training step uses the machine's cores, and how the gradients of the parts are summed.
//
// batch_split: a batch is cut into one shard per thread, each run through its own single-threaded graph
//   (its own activations and gradient buffers), and the shards' gradients are reduced. Right for small nets:
//   at 0.2 MMAC per image a per-op parallel region costs more in fork/join than the op computes.
// op_parallel: one graph for the whole batch; each op parallelises itself (oneDNN, OpenMP loops). Right
//   once an op has enough work per image to amortise a parallel region (a MobileNet layer): on 2 threads,
//   batch 64 at 32×32, op_parallel trained 1.11× (α 1.0) and 1.10× (α 0.5) batch_split's images/s on a quiet
//   machine, though 0.87× and 0.66× in an earlier, busier run (bench/mobilenet_vs_pytorch.sh, medians of 3).
// auto picks by the model's MACs per sample.
//
// Batch norm normalises over the process's whole batch either way: under batch_split the shards exchange
// their statistics inside every batch norm (ShardStatGather below), and only shard 0 updates the running
// statistics (ExecContext::update_state). In a distributed run each rank normalises over its own part, as
// PyTorch's DDP does, or with train.sync_batchnorm over the whole batch.
#pragma once
#include <barrier>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/distributed.h"
#include "core/primitives.h"
#include "core/tensor.h"

namespace sf {

enum class ParallelStrategy { automatic, batch_split, op_parallel };

ParallelStrategy parse_parallel_strategy(const std::string& name);  // auto | batch_split | op_parallel

// Models below this many MACs per sample train batch_split under `auto`: the Liu nets (0.29 M and 2.3 M)
// measured fastest that way, MobileNet (46 M at α 1.0 on 32×32) with op_parallel.
constexpr int64_t kBatchSplitMaxMacs = 10'000'000;

// What `auto` means for a model of `model_macs` MACs per sample (any other strategy is returned as it is).
ParallelStrategy resolve_strategy(ParallelStrategy s, int64_t model_macs);

// Shards a process's part of a training batch, `batch` samples, is cut into on `threads` threads. A run of R
// processes cuts every batch into R times as many, in one global order: process r holds shards
// [r·T, (r + 1)·T), and shard s has the samples shard_range(batch, R·T, s) (core/parallel.h).
int64_t training_shards(ParallelStrategy s, int64_t model_macs, int64_t batch, int threads);

// Sums data-parallel gradients into the model's own.
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  // shards[s][k] is this process's shard s's gradient of parameter k; weights[s] is the shard's share of the
  // whole batch (all processes'). `model[k]` are the model's gradient tensors, which shards[0] shares when this
  // process has shards; it may have none (a last batch smaller than the shard count). On return, on every
  // process, model[k] = Σ_s weights[s]·shards[s][k] over every process's shards.
  virtual void reduce(std::span<const std::vector<Tensor>> shards, std::span<const float> weights,
                      std::span<Tensor> model) = 0;
};

// The fold both reducers compute, in shard order: y = w₀·g₀, then y ← y + w_s·g_s (the device's scale and
// axpy), one fixed sequence of roundings whatever the threads.
void fold_shards(const DevicePrimitives& p, float* y, std::span<const float* const> shards,
                 std::span<const float> weights, int64_t n);

// Within one process, through the device primitives, summed in shard order (deterministic).
class LocalReducer final : public GradientReducer {
 public:
  void reduce(std::span<const std::vector<Tensor>> shards, std::span<const float> weights,
              std::span<Tensor> model) override;
};

// Across the processes of a distributed run (MPI). Each process first folds its own shards (LocalReducer, as
// fractions of its part), then the processes' partial gradients are folded in rank order, weighted by their
// parts: with one shard per process exactly the fold one process makes of as many shards, so R processes ×
// 1 thread give the gradients of 1 process × R threads bit for bit (with T threads each, the same sum
// associated per process: equal to rounding). The flattened gradient is cut into R chunks; an all-to-all
// sends chunk j of every partial (and its weight) to process j, which folds it; an all-gather returns the
// folded chunks to everyone. Each process sends and receives 2(R − 1)/R of the gradient, a ring all-reduce's
// volume, whatever its thread count. One bucket, after backward: overlap with backward is not done (the
// exchange measured 1 % of a MobileNet step on one host).
class DistributedReducer final : public GradientReducer {
 public:
  DistributedReducer(Communicator& comm, int64_t shards_per_rank);
  void reduce(std::span<const std::vector<Tensor>> shards, std::span<const float> weights,
              std::span<Tensor> model) override;

 private:
  Communicator& comm_;
  int64_t per_rank_;
  std::vector<float> send_, recv_, folded_, gathered_;
};

// Batch norm's statistics from every shard of the batch: the threads' of this process (batch_split) and, in a
// distributed run with train.sync_batchnorm, every process's, concatenated in the global shard order. Each
// shard's graph holds its own view (shard(t)); the shards of a process meet at a barrier inside every batch
// norm, and shard 0, on the main thread (MPI_THREAD_FUNNELED), exchanges the process's rows with the others.
// It is sized to the shards that have samples (an empty one would never arrive); across ranks every rank must
// fill all of its shards (Trainer refuses batches that do not).
class ShardStatGather {
 public:
  ShardStatGather(int64_t shards, Communicator* comm);
  StatGather* shard(int64_t t) { return &views_[static_cast<size_t>(t)]; }

 private:
  struct View final : StatGather {
    ShardStatGather* owner = nullptr;
    int64_t t = 0;
    std::vector<double> gather(const std::vector<double>& values) override { return owner->gather(t, values); }
  };
  std::vector<double> gather(int64_t t, const std::vector<double>& values);
  Communicator* comm_;
  std::vector<View> views_;
  std::vector<std::vector<double>> slots_;  // each shard's values of the current call
  std::vector<double> result_;              // written by shard 0 between the two barriers
  std::barrier<> barrier_;
};

}  // namespace sf
