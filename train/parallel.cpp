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

ParallelStrategy resolve_strategy(ParallelStrategy s, int64_t model_macs) {
  if (s != ParallelStrategy::automatic) return s;
  return model_macs < kBatchSplitMaxMacs ? ParallelStrategy::batch_split : ParallelStrategy::op_parallel;
}

int64_t training_shards(ParallelStrategy s, int64_t model_macs, int64_t batch, int threads) {
  if (resolve_strategy(s, model_macs) == ParallelStrategy::op_parallel) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(threads, batch));
}

void fold_shards(const DevicePrimitives& p, float* y, std::span<const float* const> shards,
                 std::span<const float> weights, int64_t n) {
  if (shards.size() != weights.size()) fail_internal("reduce: one weight per shard expected");
  if (n <= 0) return;
  if (shards.empty()) return p.fill(y, n, 0.0f);
  if (shards[0] != y) p.copy(y, shards[0], n);
  p.scale(y, n, weights[0]);
  for (size_t s = 1; s < shards.size(); ++s) p.axpy(weights[s], shards[s], y, n);
}

void LocalReducer::reduce(std::span<const std::vector<Tensor>> shards, std::span<const float> weights,
                          std::span<Tensor> model) {
  if (shards.size() != weights.size()) fail_internal("reduce: one weight per shard expected");
  if (shards.size() == 1 && weights[0] == 1.0f) return;  // the whole batch: the model's gradient already
  std::vector<const float*> parts(shards.size());
  for (size_t k = 0; k < model.size(); ++k) {
    for (size_t s = 0; s < shards.size(); ++s) parts[s] = shards[s][k].raw();
    fold_shards(primitives(model[k].device()), model[k].raw(), parts, weights, model[k].numel());
  }
}

DistributedReducer::DistributedReducer(Communicator& comm, int64_t shards_per_rank)
    : comm_(comm), per_rank_(shards_per_rank) {}

void DistributedReducer::reduce(std::span<const std::vector<Tensor>> shards, std::span<const float> weights,
                                std::span<Tensor> model) {
  if (shards.size() != weights.size() || static_cast<int64_t>(shards.size()) > per_rank_)
    fail_internal("reduce: at most " + std::to_string(per_rank_) + " shards, one weight each, expected");
  // This process's shards first, into the model's gradients, as the shards' share of this process's part:
  // Σ_t (w_t / W)·g_t with W = Σ_t w_t (with one shard, w/W = 1: the gradient as it is).
  float share = 0;
  for (float w : weights) share += w;
  if (shards.empty()) {
    for (Tensor& g : model) primitives(g.device()).fill(g.raw(), g.numel(), 0.0f);
  } else {
    std::vector<float> within(weights.begin(), weights.end());
    for (float& w : within) w /= share;
    LocalReducer().reduce(shards, within, model);
  }
  const int64_t ranks = comm_.size();
  int64_t total = 0;
  for (const Tensor& g : model) total += g.numel();
  const int64_t chunk = (total + ranks - 1) / ranks, slot = 1 + chunk;  // a slot: the process's share, a chunk
  // send_[j]: this process's share and chunk j of its gradient.
  send_.assign(static_cast<size_t>(ranks * slot), 0.0f);
  for (int64_t j = 0; j < ranks; ++j) send_[static_cast<size_t>(j * slot)] = share;
  int64_t at = 0;  // flat position of parameter k's first element
  for (const Tensor& g : model) {
    const std::vector<float> host = g.device() == Device::cpu ? std::vector<float>() : g.to_vector();
    const float* src = g.device() == Device::cpu ? g.raw() : host.data();
    for (int64_t i = 0; i < g.numel();) {
      const int64_t p = at + i, j = p / chunk, off = p % chunk, run = std::min(chunk - off, g.numel() - i);
      std::copy_n(src + i, run, send_.data() + j * slot + 1 + off);
      i += run;
    }
    at += g.numel();
  }
  recv_.resize(send_.size());
  comm_.alltoall(send_.data(), slot * static_cast<int64_t>(sizeof(float)), recv_.data());
  // recv_[i] is rank i's chunk comm_.rank(): folded in rank order, weighted by the ranks' shares.
  const int64_t mine = std::clamp<int64_t>(total - comm_.rank() * chunk, 0, chunk);
  std::vector<const float*> parts;
  std::vector<float> w;
  for (int64_t i = 0; i < ranks; ++i) {
    const float* from = recv_.data() + i * slot;
    if (from[0] == 0.0f) continue;  // a process without samples in this batch
    w.push_back(from[0]);
    parts.push_back(from + 1);
  }
  folded_.resize(static_cast<size_t>(chunk));
  fold_shards(primitives(Device::cpu), folded_.data(), parts, w, mine);
  gathered_.resize(static_cast<size_t>(ranks * chunk));
  comm_.allgather(folded_.data(), chunk * static_cast<int64_t>(sizeof(float)), gathered_.data());
  at = 0;
  for (Tensor& g : model) {
    copy_between(g.raw(), g.device(), gathered_.data() + at, Device::cpu, g.numel());
    at += g.numel();
  }
}

ShardStatGather::ShardStatGather(int64_t shards, Communicator* comm)
    : comm_(comm && comm->distributed() ? comm : nullptr),
      views_(static_cast<size_t>(shards)),
      slots_(static_cast<size_t>(shards)),
      barrier_(static_cast<std::ptrdiff_t>(shards)) {
  for (int64_t t = 0; t < shards; ++t)
    views_[static_cast<size_t>(t)].owner = this, views_[static_cast<size_t>(t)].t = t;
}

// Two barriers per call: after the first every slot is written, after the second the result is. A shard's
// next call writes only its own slot, which shard 0 has read by then, and shard 0 rewrites the result only
// after the next first barrier, which every shard reaches after reading this one.
std::vector<double> ShardStatGather::gather(int64_t t, const std::vector<double>& values) {
  slots_[static_cast<size_t>(t)] = values;
  barrier_.arrive_and_wait();
  if (t == 0) {
    std::vector<double> local;
    for (const auto& v : slots_) {
      if (v.size() != values.size()) fail_internal("sync_batchnorm: the shards gathered statistics of different sizes");
      local.insert(local.end(), v.begin(), v.end());
    }
    if (comm_) {
      result_.resize(local.size() * static_cast<size_t>(comm_->size()));
      comm_->allgather(local.data(), static_cast<int64_t>(local.size() * sizeof(double)), result_.data());
    } else {
      result_ = std::move(local);
    }
  }
  barrier_.arrive_and_wait();
  return result_;
}

}  // namespace sf
