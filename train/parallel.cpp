#include "train/parallel.h"

#include <algorithm>

#include "core/enum_names.h"
#include "core/error.h"
#include "core/primitives.h"

namespace sf {

namespace {
constexpr std::pair<ParallelStrategy, const char*> kStrategies[] = {{ParallelStrategy::automatic, "auto"},
                                                                    {ParallelStrategy::batch_split, "batch_split"},
                                                                    {ParallelStrategy::op_parallel, "op_parallel"}};
}  // namespace

ParallelStrategy parse_parallel_strategy(const std::string& name) {
  return parse_name(kStrategies, name, "train.parallel", "strategy");
}

int64_t training_shards(ParallelStrategy s, int64_t model_macs, int64_t batch, int threads) {
  if (s == ParallelStrategy::automatic)
    s = model_macs < kBatchSplitMaxMacs ? ParallelStrategy::batch_split : ParallelStrategy::op_parallel;
  if (s == ParallelStrategy::op_parallel) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(threads, batch));
}

void LocalReducer::reduce(std::span<const std::vector<Tensor>> shards, std::span<const float> weights) {
  if (shards.size() != weights.size()) fail_internal("reduce: one weight per shard expected");
  if (shards.size() <= 1) return;
  std::vector<Tensor> total = shards[0];  // shares storage: the model's gradients
  for (size_t k = 0; k < total.size(); ++k) {
    scale(total[k], weights[0]);
    for (size_t s = 1; s < shards.size(); ++s) axpy(weights[s], shards[s][k], total[k]);
  }
}

}  // namespace sf
