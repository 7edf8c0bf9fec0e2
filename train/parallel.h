// How a training step uses the machine's cores, and how the gradients of the parts are summed.
//
// batch_split: a batch is cut into one shard per thread, each run through its own single-threaded graph
//   (its own activations and gradient buffers), and the shards' gradients are reduced. Right for small nets:
//   at 0.2 MMAC per image a per-op parallel region costs more in fork/join than the op computes.
// op_parallel: one graph for the whole batch; each op parallelises itself (oneDNN, OpenMP loops). Right
//   once an op has enough work per image to amortise a parallel region (a MobileNet layer).
// auto picks by the model's MACs per sample.
//
// Batch norm under batch_split: each shard normalises with its own shard's statistics (as PyTorch's DDP
// without SyncBatchNorm), and only shard 0 updates the running statistics (ExecContext::update_state), so a
// result depends on the thread count but not on timing. op_parallel normalises over the whole batch.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sf {

enum class ParallelStrategy { automatic, batch_split, op_parallel };

ParallelStrategy parse_parallel_strategy(const std::string& name);  // auto | batch_split | op_parallel

// Models below this many MACs per sample train batch_split under `auto`. The Liu nets (0.29 M and 2.3 M)
// measured fastest that way; the crossover for wider nets is for the MobileNet work to measure.
constexpr int64_t kBatchSplitMaxMacs = 10'000'000;

// Shards a training batch of `batch` samples is cut into on `threads` threads.
int64_t training_shards(ParallelStrategy s, int64_t model_macs, int64_t batch, int threads);

// Sums data-parallel gradients into the model's own. An MPI (or NCCL) reducer implements the same interface:
// it reduces the process's shards, then all-reduces the result across processes, in rank order.
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  // shards[s][k] is shard s's gradient of parameter k, and shards[0] are the model's own gradient tensors;
  // weights[s] is shard s's share of the batch. On return shards[0][k] = Σ_s weights[s]·shards[s][k].
  virtual void reduce(std::span<const std::vector<Tensor>> shards, std::span<const float> weights) = 0;
};

// Within one process, through the device primitives, summed in shard order (deterministic).
class LocalReducer final : public GradientReducer {
 public:
  void reduce(std::span<const std::vector<Tensor>> shards, std::span<const float> weights) override;
};

}  // namespace sf
