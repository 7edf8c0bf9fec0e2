#include "train/trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/capture.h"
#include "core/error.h"
#include "core/primitives.h"
#include "core/rng.h"
#include "ops/registry.h"
#include "train/schedule.h"

namespace sf {
namespace {

using Clock = std::chrono::steady_clock;

// The OpenMP threads of this thread, for a scope.
struct ThreadsFor {
  int saved = omp_get_max_threads();
  explicit ThreadsFor(int n) { omp_set_num_threads(n); }
  ~ThreadsFor() { omp_set_num_threads(saved); }
};

// The threads a net of `shards` graphs prepares, and so must run, each graph's ops with (see Trainer::net).
int threads_per_shard(size_t shards) { return shards > 1 ? 1 : omp_get_max_threads(); }

// train.recompute as Graph::reuse_memory's threshold.
int64_t recompute_above_bytes(const std::string& policy) {
  if (policy == "always") return 0;
  if (policy == "never") return Graph::kNever;
  return int64_t{1} << 30;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// With sync_every auto on a GPU, the host reads the step totals when this much time has passed since its last
// read: often enough for a progress bar, rare enough that a 1 ms step of the Liu net waits once in ~100.
constexpr double kAutoReadSeconds = 0.1;

}  // namespace

std::string loss_op(const std::string& loss) {
  if (loss == "mse") return "mse_loss";
  if (loss == "crossentropy") return "softmax_cross_entropy";
  fail_input("train.loss", "unknown loss '" + loss + "' (expected mse or crossentropy)");
}

// One data-parallel shard of a batch: its own graph (batch = shard size) and, for shards after the first,
// its own gradient buffers. Shard 0 writes straight into the model's gradients.
struct Trainer::Replica {
  Graph graph;
  NodeId images = -1, targets = -1, output = -1, loss = -1;
  std::vector<Tensor> grads;
  int64_t first = 0, count = 0;
  double seconds = 0;  // inside the parallel region, when profiling
  explicit Replica(Device d) : graph(d) {}
  // The batch's loss from the graph's device: a load on the CPU, a 4-byte copy (and so a wait) on a GPU.
  float loss_value() const {
    const Tensor& l = graph.value(loss);
    return l.on_host() ? l[0] : l.to_vector()[0];
  }
};

struct Trainer::Net {
  std::unique_ptr<ShardStatGather> sync;  // where the shards' batch norms meet (train/parallel.h), if they do;
                                          // first, so that it outlives the graphs that point to it
  std::vector<std::unique_ptr<Replica>> shards;
  double region_seconds = 0;  // the whole parallel region, when profiling
  // A training step recorded once (Trainer::device_step), for the graph's buffer layout it was recorded with.
  std::unique_ptr<CapturedWork> recorded;
  uint64_t recorded_layout = 0;
  int64_t steps = 0;          // training steps run through device_step
  bool unrecordable = false;  // a recording failed: the steps run as they are
};

Trainer::Trainer(Model& model, const TrainSpec& spec, Device device, uint64_t seed)
    : model_(model),
      spec_(spec),
      device_(device),
      seed_(seed),
      strategy_(parse_parallel_strategy(spec.parallel)),
      comm_(world()),
      optimizer_(make_optimizer(spec.optimizer, seed)) {
  model_.to(device_);  // trained in place on the trainer's device
  const char* env = std::getenv("SPIKEFORGE_PROFILE");
  profiling_ = env && *env && std::string(env) != "0";
  // Kernels called inside a replica's thread must run single-threaded (oneDNN does so inside a parallel
  // region; our OpenMP loops need nesting off). Shards need a thread each: no dynamic team sizes.
  omp_set_max_active_levels(1);
  omp_set_dynamic(0);
  // This process's part of a batch is what its threads share. On a GPU it is one graph: shards would only
  // queue their kernels behind each other on the one device (measured on an H200: the Liu net's 16 shards,
  // one per CPU thread, made an epoch 7x slower than PyTorch's).
  const bool on_cpu = device_ == Device::cpu;
  shards_per_rank_ = on_cpu
                         ? training_shards(strategy_, model_.macs(), std::max<int64_t>(1, spec_.batch / comm_.size()),
                                           std::min(omp_get_max_threads(), omp_get_thread_limit()))
                         : 1;
  const bool split = on_cpu && resolve_strategy(strategy_, model_.macs()) == ParallelStrategy::batch_split;
  if (comm_.distributed()) {
    // The global shard order (train/parallel.h) needs the same count in every process.
    const auto counts = comm_.allgather_value(shards_per_rank_);
    for (size_t r = 1; r < counts.size(); ++r)
      if (counts[r] != counts[0])
        throw Error(ErrorKind::BadInput, "train.threads: rank 0 cuts its part of a batch into " +
                                             std::to_string(counts[0]) + " shards and rank " + std::to_string(r) +
                                             " into " + std::to_string(counts[r]) +
                                             " (its thread count): give every rank the same --threads")
            .on_every_rank();
    reducer_ = std::make_unique<DistributedReducer>(comm_, shards_per_rank_);
  } else {
    reducer_ = std::make_unique<LocalReducer>();
  }
  // Batch norm normalises over the process's whole batch: under batch_split its shards meet inside every batch
  // norm (a thread split is this machine's business, not the recipe's). With train.sync_batchnorm in a
  // distributed run, over every rank's part too.
  const bool has_batchnorm =
      std::any_of(model_.layers().begin(), model_.layers().end(), [](const Layer& l) { return l.type == "batchnorm"; });
  sync_threads_ = has_batchnorm && shards_per_rank_ > 1;
  sync_ranks_ = has_batchnorm && spec_.sync_batchnorm && comm_.distributed();
  if (has_batchnorm && (split || spec_.sync_batchnorm)) {
    // The attribute steers the kernel choice (oneDNN's batch norm cannot take outside statistics), so a
    // batch_split or sync_batchnorm recipe uses the same kernels at one thread or one rank as at several. The
    // model keeps it (its evaluation then runs the loops kernel too; the attribute acts in train mode only).
    for (Layer& l : model_.layers())
      if (l.type == "batchnorm") l.attrs.set("sync", int64_t{1});
  }
  // Per-layer learning-rate multipliers, by layer name, expanded to one scale per parameter.
  if (spec_.lr_multipliers.empty()) return;
  for (const auto& [name, factor] : spec_.lr_multipliers) {
    const Layer* l = model_.find(name);
    if (!l || l->params.empty())
      fail_input("train.lr_multipliers",
                 "no layer with weights named '" + name + "' (this model has: " + model_.weighted_layer_names() + ")");
  }
  std::vector<float> scales;
  for (const auto& layer : model_.layers()) {
    const auto it = spec_.lr_multipliers.find(layer.name);
    scales.insert(scales.end(), layer.params.size(),
                  it == spec_.lr_multipliers.end() ? 1.0f : static_cast<float>(it->second));
  }
  optimizer_->set_lr_scales(std::move(scales));
}

Trainer::~Trainer() {
  if (profiling_) std::fputs(profile_report().c_str(), stderr);
}

Trainer::GraphMemory Trainer::graph_memory() const {
  GraphMemory m;
  for (const auto& [key, net] : nets_)
    for (const auto& r : net->shards) {
      const Graph::MemoryStats& s = r->graph.memory_stats();
      int64_t& plan = key.second ? m.training_bytes : m.evaluation_bytes;
      plan = std::max(plan, s.arena_bytes);
      if (key.second) m.recomputed = std::max(m.recomputed, s.recomputed);
    }
  for (const auto& a : arenas_) m.arena_bytes += a->buffer.numel() * static_cast<int64_t>(sizeof(float));
  return m;
}

std::string Trainer::profile_report() const {
  // Under batch_split shard 0's batch-norm times include waiting for the other shards at the exchanges.
  std::string out =
      "profile (training graphs, per step, shard 0; batch norm includes waiting for the other "
      "shards):\n";
  char line[200];
  for (const auto& [key, net] : nets_) {
    if (!key.second || net->shards.empty()) continue;
    const Graph& g = net->shards[0]->graph;
    double total = 0;
    int64_t steps = 0;
    for (NodeId i = 0; i < g.size(); ++i) steps = std::max(steps, g.timing(i).calls);
    if (!steps) continue;
    std::snprintf(line, sizeof line, "batch %lld in %zu shards, %lld steps\n%-10s %-22s %10s %10s\n",
                  (long long)key.first, net->shards.size(), (long long)steps, "node", "op/impl", "fwd us", "bwd us");
    out += line;
    for (NodeId i = 0; i < g.size(); ++i) {
      if (!g.op(i)) continue;
      const auto t = g.timing(i);
      total += t.forward_s + t.backward_s;
      std::snprintf(line, sizeof line, "%-10s %-22s %10.1f %10.1f\n", g.name(i).c_str(),
                    (std::string(g.op(i)->type()) + "/" + g.op(i)->impl()).c_str(), 1e6 * t.forward_s / steps,
                    1e6 * t.backward_s / steps);
      out += line;
    }
    std::snprintf(line, sizeof line, "ops total %.1f us per step\n", 1e6 * total / steps);
    out += line;
    for (size_t sh = 0; sh < net->shards.size(); ++sh) {
      std::snprintf(line, sizeof line, "shard %zu: %.1f us per step (fill, forward, backward)\n", sh,
                    1e6 * net->shards[sh]->seconds / steps);
      out += line;
    }
    std::snprintf(line, sizeof line, "parallel region: %.1f us per step\n", 1e6 * net->region_seconds / steps);
    out += line;
  }
  return out;
}

// `batch` is the whole batch, all processes' slices together.
// A net that does not fit on the device is refused naming the key, the batch and (Graph) the layer.
Trainer::Net& Trainer::net(int64_t batch, bool training) {
  if (const auto it = nets_.find({batch, training}); it != nets_.end()) return *it->second;
  try {
    return build_net(batch, training);
  } catch (const OutOfMemory& e) {
    batch_does_not_fit(e, batch, training);
  }
}

void Trainer::batch_does_not_fit(const OutOfMemory& e, int64_t batch, bool training) const {
  const char* key = training ? "train.batch" : "train.eval_batch";
  const int64_t shards = training ? shards_per_rank_ * comm_.size() : 1;
  throw OutOfMemory(std::string(key) + ": " + e.what() + "; the batch of " + std::to_string(batch) +
                    (shards > 1 ? " (in " + std::to_string(shards) + " shards)" : std::string()) + " does not fit on " +
                    std::string(to_string(device_)) + ": use a smaller " + key);
}

Trainer::Net& Trainer::build_net(int64_t batch, bool training) {
  auto slot = std::make_unique<Net>();  // into nets_ once whole: a net that failed to build is not kept
  // Training follows the parallel strategy, across the processes' shards in one global order
  // (train/parallel.h); a shard left empty by a small last batch has no graph. Evaluation batches are this
  // process's own (evaluate shards by batches) and large, so ops parallelise themselves.
  const int64_t local = training ? shards_per_rank_ : 1, shards = training ? local * comm_.size() : 1,
                first_shard = training ? comm_.rank() * local : 0;
  // Each shard runs on one thread. oneDNN fixes a primitive's thread count when the primitive is created: built
  // for the machine's threads and then run on one, its kernels wait at barriers for threads that never come
  // (weight-gradient reductions hang). So the shards' ops are prepared with one thread.
  int64_t filled = 0;
  for (int64_t s = first_shard; s < first_shard + local; ++s) filled += shard_range(batch, shards, s).count > 0;
  const ThreadsFor one_thread(threads_per_shard(static_cast<size_t>(filled)));  // as run_batch will run them
  if (training && ((sync_threads_ && filled > 1) || sync_ranks_))
    slot->sync = std::make_unique<ShardStatGather>(filled, sync_ranks_ ? &comm_ : nullptr);
  const auto params = model_.parameters();
  for (int64_t s = first_shard; s < first_shard + local; ++s) {
    const Range part = shard_range(batch, shards, s);
    if (part.count == 0) continue;
    auto r = std::make_unique<Replica>(device_);
    r->graph.reuse_memory(recompute_above_bytes(spec_.recompute));
    const size_t position = slot->shards.size();
    if (arenas_.size() <= position) arenas_.push_back(std::make_shared<Graph::SharedArena>());
    r->graph.share_arena(arenas_[position]);
    r->graph.context().mode = training ? Mode::train : Mode::eval;
    r->graph.context().update_state = s == 0;  // the running statistics follow the batch's first shard alone
    r->graph.context().first_sample = part.first;
    if (slot->sync) r->graph.context().sync_stats = slot->sync->shard(static_cast<int64_t>(slot->shards.size()));
    r->first = part.first;
    r->count = part.count;
    const bool own_grads = slot->shards.empty();  // the first local shard writes into the model's gradients
    for (auto* p : params)
      r->grads.push_back(!training ? Tensor() : own_grads ? p->grad : Tensor::zeros(p->grad.shape(), device_));
    Shape in = model_.input_shape();
    in.insert(in.begin(), r->count);
    r->images = r->graph.input("images", in);
    r->output = model_.build(r->graph, r->images, r->grads);
    r->targets = r->graph.input("targets", r->graph.shape(r->output));
    r->loss = r->graph.apply("loss", make_op(loss_op(spec_.loss), {}, device_), {r->output, r->targets});
    r->graph.keep(r->output);  // read for the accuracy and the predictions
    r->graph.keep(r->loss);
    r->graph.set_profiling(profiling_);
    r->graph.allocate();  // now, not at the first step
    slot->shards.push_back(std::move(r));
  }
  return *(nets_[{batch, training}] = std::move(slot));
}

// Training step b's random key (dropout masks), as every path that runs the step must draw it.
uint64_t Trainer::dropout_key(int epoch, int64_t b) const {
  return stream_seed(seed_, Stream::dropout, static_cast<uint64_t>(epoch), b);
}

// The step's one-hot targets, into targets_. Shifted labels are a training target; losses are reported against
// the true one-hot labels, so they compare across phases and match `spikeforge evaluate`.
void Trainer::stage_targets(const Batch& batch, bool training) {
  const int64_t classes = numel(model_.output_shape());
  const double eps = training ? spec_.label_smoothing : 0.0, shift = training ? spec_.label_shift : 0.0;
  const auto off = static_cast<float>(shift + eps / static_cast<double>(classes));
  const auto on = static_cast<float>(shift + 1.0 - eps + eps / static_cast<double>(classes));
  targets_.resize(static_cast<size_t>(batch.size * classes));
  batch.one_hot(targets_.data(), static_cast<int>(classes), on, off);
}

// The batch is host memory (the loader's slice, from batch.offset on); the graph's inputs live on the
// graph's device. On a GPU the upload overlaps the previous step's kernels and the host does not wait.
void Trainer::upload_inputs(Replica& r, const Batch& batch) {
  const int64_t sample = numel(model_.input_shape()), classes = numel(model_.output_shape());
  const int64_t row = r.first - batch.offset;
  const DevicePrimitives& on = primitives(device_);
  on.upload(r.graph.value(r.images).raw(), batch.images.data() + row * sample, r.count * sample);
  on.upload(r.graph.value(r.targets).raw(), targets_.data() + row * classes, r.count * classes);
}

// Uploads batch b to every local shard and runs forward (and backward when training), one thread per shard.
// always_backward: no host read of the loss first (a non-finite loss is marked on the device instead).
void Trainer::run_shards(Net& net, const Batch& batch, bool training, int epoch, bool always_backward) {
  const int64_t b = batch.index;
  const int64_t shards = static_cast<int64_t>(net.shards.size());
  stage_targets(batch, training);
  const auto t0 = Clock::now();
  const uint64_t key = training ? dropout_key(epoch, b) : 0;
  for (auto& r : net.shards) {
    r->graph.context().random_key = key;
    r->graph.context().device_random_key = nullptr;  // a recorded step's copy (device_step) is not this step's
  }
  auto run_shard = [&](int64_t s) {
    const auto ts = Clock::now();
    // This thread's ICV only (each implicit task has its own): oneDNN kernels that size their work by
    // omp_get_max_threads() at run time then split it for the one thread they get.
    if (shards > 1) omp_set_num_threads(1);
    Replica& r = *net.shards[s];
    upload_inputs(r, batch);
    r.graph.forward();
    // A non-finite loss skips backward (run_batch reports the divergence), except where the shards' batch
    // norms meet: the others would wait for this one. On a GPU backward always runs: reading the loss first
    // would make the host wait for the forward pass before it could queue the backward one.
    if (training && (always_backward || net.sync || device_ != Device::cpu || std::isfinite(r.loss_value())))
      r.graph.backward(r.loss);
    if (profiling_ && training) r.seconds += seconds_since(ts);
  };
  if (shards == 1) {
    try {
      run_shard(0);
    } catch (const OutOfMemory& e) {  // the upload's staging buffers, allocated at a batch size's first step
      batch_does_not_fit(e, batch.whole, training);
    }
  } else {
    // One thread per shard, shard s on thread s (shard 0 on this, the main, thread: the only one that calls
    // MPI). The shards' batch norms wait for each other, so a team smaller than the shards (OMP_THREAD_LIMIT,
    // a caller's parallel region) must not run them one after another: it runs none and is reported.
    int team = 0;
#pragma omp parallel num_threads(shards)
    {
#pragma omp single
      team = omp_get_num_threads();
      if (team == shards) run_shard(omp_get_thread_num());
    }
    if (team != shards)
      fail_internal("training: OpenMP gave " + std::to_string(team) + " threads for " + std::to_string(shards) +
                    " shards (OMP_THREAD_LIMIT, or training inside a parallel region?)");
  }
  if (profiling_ && training) net.region_seconds += seconds_since(t0);
}

// Runs forward (and backward when training) of batch b on every local shard, one thread per shard, and
// returns the whole batch's totals (every process's, in a distributed run). The model's gradients end up as
// the batch mean: Σ_s (n_s / n)·grad_s, folded in shard order (each process its own, then the processes in
// rank order), so the result is deterministic.
Trainer::Totals Trainer::run_batch(Net& net, const Batch& batch, bool training, int epoch) {
  const int64_t b = batch.index;
  const int64_t shards = static_cast<int64_t>(net.shards.size());
  run_shards(net, batch, training, epoch, false);
  Totals local;
  for (const auto& r : net.shards) local.loss_sum += r->loss_value() * static_cast<double>(r->count);
  local.correct = correct(net);
  if (!training) local.top5 = correct(net, 5);

  Totals total = local;
  if (training) {
    // Every process learns whether any diverged before any of them throws (one alone would leave the others
    // waiting in the reduction), and the batch's totals, summed in rank order.
    struct Shared {
      Totals totals;
      int64_t bad;
    };
    const Shared mine{local, first_bad_shard(net)};
    const std::vector<Shared> all = comm_.distributed() ? comm_.allgather_value(mine) : std::vector<Shared>{mine};
    total = {};
    for (size_t r = 0; r < all.size(); ++r) {
      if (all[r].bad >= 0) throw_diverged(net, b, epoch, static_cast<int>(r));
      total.loss_sum += all[r].totals.loss_sum;
      total.correct += all[r].totals.correct;
    }
    if (shards > 1 || comm_.distributed()) {
      std::vector<std::vector<Tensor>> grads;
      std::vector<float> weights;
      for (const auto& r : net.shards) {
        grads.push_back(r->grads);
        weights.push_back(static_cast<float>(r->count) / static_cast<float>(batch.whole));
      }
      std::vector<Tensor> model;
      for (auto* p : model_.parameters()) model.push_back(p->grad);
      reducer_->reduce(grads, weights, model);
    }
  }
  // Keras reports the regularised loss, in training and in evaluation alike.
  // One fused multiply-add, so that a compiler's choice to contract (or not) cannot part this sum from the
  // device's (add_step_loss, which rounds the same way).
  total.loss_sum = std::fma(static_cast<double>(batch.whole), penalty(training), total.loss_sum);
  if (training) check_gradients(net, b, epoch);
  return total;
}

// One process, one shard: nothing to agree with others on before a step's update, so its totals can wait on
// the device. sync_every 1 (the CPU's auto) reads them after every step instead, through run_batch.
bool Trainer::totals_on_device() const {
  const int64_t every = spec_.sync_every > 0 ? spec_.sync_every : (device_ == Device::cpu ? 1 : 0);
  return every != 1 && shards_per_rank_ == 1 && !comm_.distributed();
}

// run_batch's totals and checks for one shard, as device work the host does not wait for: the same sums in
// the same order (so a read of them equals run_batch's), the regulariser's gradient, and the step's mark when
// its loss or a gradient is not finite, which makes the optimiser skip this step and every later one. Only
// what stays the same from step to step is passed by value (`whole`: the net's batch size), so that a
// recorded step adds as a step run as it is.
void Trainer::add_step_totals(Net& net, int64_t whole) {
  const DevicePrimitives& on = primitives(device_);
  double* t = totals_.data();
  Replica& r = *net.shards[0];
  const Tensor &out = r.graph.value(r.output), &loss = r.graph.value(r.loss);
  on.add_top_k(t + kCorrect, out.raw(), r.graph.value(r.targets).raw(), r.count, out.dim(1), 1);
  if (spec_.l1 != 0 || spec_.l2 != 0)
    for (auto& layer : model_.layers())
      for (auto& p : layer.params)
        if (p.name == "weight" || (spec_.regularize_batchnorm && layer.type == "batchnorm"))
          on.add_weight_penalty(t + kPenalty, p.value.raw(), p.grad.raw(), p.value.numel(), spec_.l1, spec_.l2);
  on.add_step_loss(t + kLossSum, loss.raw(), static_cast<double>(r.count), t + kPenalty, static_cast<double>(whole),
                   t + kSteps);
  on.mark_non_finite(t + kMark, loss.raw(), 1, t + kSteps);
  for (auto* p : model_.parameters()) on.mark_non_finite(t + kMark, p->grad.raw(), p->grad.numel(), t + kSteps);
}

// The optimiser's first step allocates its state, as a net's first step its workspaces: named alike.
void Trainer::step_optimizer(const std::vector<Parameter*>& params, const double* skip, int64_t whole) {
  try {
    optimizer_->step(params, skip);
  } catch (const OutOfMemory& e) {
    batch_does_not_fit(e, whole, true);
  }
}

// Whether device_step records `net`'s step once and replays it (train.cuda_graph): on a device that records
// (core/capture.h, a GPU), with nothing in the step that the host must read (the totals on the device, one
// shard), nothing that changes from step to step passed by value (not the host's gradient noise; dropout
// reads its key from device memory, ExecContext::device_random_key), and no per-op timing (SPIKEFORGE_PROFILE
// times each op's launch).
bool Trainer::records_steps(const Net& net) const {
  return spec_.cuda_graph && capturer(device_) && totals_on_device() && !profiling_ && !net.unrecordable &&
         net.shards.size() == 1 && optimizer_->replayable();
}

// A net's first step runs as it is: it sizes every buffer that grows on first use (workspaces, kernel scratch,
// the optimiser's state). The second is recorded, and replayed from then on; recorded again when the graph's
// buffers have moved (an evaluation grew the arena the graphs share). Around a replay the host only uploads
// the batch, the dropout key and the optimiser's rates, and launches it.
void Trainer::device_step(Net& net, const Batch& batch, int epoch, const std::vector<Parameter*>& params) {
  const int64_t whole = batch.whole;
  if (!records_steps(net)) {
    run_shards(net, batch, true, epoch, true);
    add_step_totals(net, whole);
    step_optimizer(params, totals_.data() + kMark, whole);
    if (spec_.clip_conv_weights > 0) clip_conv_weights();
    ++net.steps;
    return;
  }
  Replica& r = *net.shards[0];
  const auto queue_step = [this, &net, &r, params, whole] {  // what a recording holds: nothing of this step's
    r.graph.forward();
    r.graph.backward(r.loss);
    add_step_totals(net, whole);
    optimizer_->apply(params, totals_.data() + kMark);
    if (spec_.clip_conv_weights > 0) clip_conv_weights();
  };
  stage_targets(batch, true);
  // The step's dropout key, also in device memory, where the recording's kernels read it: its 8 bytes go up
  // as two floats' bits (an upload copies bytes and does no arithmetic).
  const uint64_t key = dropout_key(epoch, batch.index);
  float key_bits[2];
  static_assert(sizeof key_bits == sizeof key);
  std::memcpy(key_bits, &key, sizeof key);
  // What a net's first step allocates (its layout in a grown arena, the upload's staging, workspaces, the
  // optimiser's state) may not fit.
  try {
    const uint64_t layout = r.graph.lay_out();
    if (!step_key_.defined()) step_key_ = Tensor({2}, device_);
    r.graph.context().random_key = key;
    r.graph.context().device_random_key = reinterpret_cast<const uint64_t*>(step_key_.raw());
    upload_inputs(r, batch);
    primitives(device_).upload(step_key_.raw(), key_bits, 2);
    optimizer_->stage(params);
    if (net.steps > 0 && (!net.recorded || net.recorded_layout != layout)) {
      net.recorded.reset();
      try {
        net.recorded = capturer(device_)(queue_step);
        net.recorded_layout = layout;
      } catch (const CaptureFailed& e) {
        net.unrecordable = true;
        if (!told_unrecordable_)
          std::fprintf(stderr,
                       "spikeforge: train.cuda_graph: the training step of batch %lld could not be recorded "
                       "(%s); its steps run kernel by kernel\n",
                       static_cast<long long>(whole), e.what());
        told_unrecordable_ = true;
      }
    }
    if (net.recorded) {
      net.recorded->replay();
      ++replayed_;
    } else {
      queue_step();
    }
  } catch (const OutOfMemory& e) {
    batch_does_not_fit(e, whole, true);
  }
  optimizer_->advance();
  ++net.steps;
}

// A read of the device totals found step `bad` marked: the updates since were skipped, so the weights are the
// ones that step saw, and rerunning it through run_batch (same batch, same dropout key) finds and names
// what went non-finite as a step checked on the host would. The loader reads (and augments) the epoch's
// batches up to it again: an error path's cost. Batch norm's running statistics did move in the skipped
// steps; the run ends here, so nothing reads them.
void Trainer::rerun_diverged(const DataSource& train, const Pipeline& augment, const LoaderOptions& options, int epoch,
                             int64_t bad) {
  DataLoader again(train, augment, options);
  again.start_epoch(epoch);
  for (int64_t b = 0; b < bad; ++b) again.batch(b);  // the loader hands batches out in order
  const Batch& batch = again.batch(bad);
  run_batch(net(batch.whole, true), batch, true, epoch);
  throw Error(ErrorKind::Numeric, "training diverged at epoch " + std::to_string(epoch) + ", batch " +
                                      std::to_string(bad + 1) +
                                      ": its loss or a gradient was not finite on the device, but was when the "
                                      "step ran again (a non-deterministic kernel?) — lower train.optimizer.lr or "
                                      "add decay");
}

int64_t Trainer::first_bad_shard(const Net& net) const {
  for (size_t s = 0; s < net.shards.size(); ++s)
    if (!std::isfinite(net.shards[s]->loss_value())) return static_cast<int64_t>(s);
  return -1;
}

// Thrown by every process alike; the process whose shard diverged names the op.
void Trainer::throw_diverged(const Net& net, int64_t b, int epoch, int bad_rank) const {
  const std::string at = " at epoch " + std::to_string(epoch) + ", batch " + std::to_string(b + 1);
  const std::string fix = " — lower train.optimizer.lr or add decay";
  if (bad_rank != comm_.rank())
    throw Error(ErrorKind::Numeric, "training diverged" + at + " in rank " + std::to_string(bad_rank) +
                                        "'s part of the batch (its message names the op)" + fix)
        .on_every_rank();
  Replica& r = *net.shards[static_cast<size_t>(first_bad_shard(net))];
  const float loss = r.loss_value();
  const ThreadsFor as_built(threads_per_shard(net.shards.size()));  // a forward pass runs again
  const NodeId bad = r.graph.first_non_finite();
  std::string culprit = bad >= 0 ? r.graph.name(bad) : "loss";
  if (bad >= 0 && r.graph.op(bad)) culprit += " (" + std::string(r.graph.op(bad)->type()) + ")";
  throw Error(ErrorKind::Numeric, "training diverged: loss is " + std::string(std::isnan(loss) ? "NaN" : "Inf") + at +
                                      "; first non-finite output in op '" + culprit + "'" + fix)
      .on_every_rank();
}

// Liu's recipe: after every step, convolution weights are clipped to ±c.
void Trainer::clip_conv_weights() {
  const float c = static_cast<float>(spec_.clip_conv_weights);
  for (auto& layer : model_.layers())
    if (layer.type == "conv2d")
      for (auto& p : layer.params)
        if (p.name == "weight") clamp(p.value, -c, c);
}

// Keras kernel regularisers on every weight tensor: returns l1·Σ|w| + l2·Σw² and, when training, adds
// l1·sign(w) + 2·l2·w to the weight gradients.
double Trainer::penalty(bool add_gradient) {
  if (spec_.l1 == 0 && spec_.l2 == 0) return 0.0;
  double total = 0;
  for (auto& layer : model_.layers())
    for (auto& p : layer.params)
      if (p.name == "weight" || (spec_.regularize_batchnorm && layer.type == "batchnorm"))
        total += weight_penalty(p.value, add_gradient ? &p.grad : nullptr, spec_.l1, spec_.l2);
  return total;
}

// A finite loss does not prove a healthy step: ReLU maps NaN to 0, so a NaN weight or activation can hide
// behind a finite loss. The gradients are tiny next to the step's compute (3,880 floats for the small
// net); scan them all before the optimiser applies them.
void Trainer::check_gradients(const Net& net, int64_t b, int epoch) const {
  for (const auto& layer : model_.layers())
    for (const auto& p : layer.params) {
      const int64_t i = first_non_finite(p.grad);
      if (i < 0) continue;
      std::string culprit = "none (activations are finite)";
      const ThreadsFor as_built(threads_per_shard(net.shards.size()));  // forward passes run again
      for (const auto& r : net.shards)
        if (const NodeId bad = r->graph.first_non_finite(); bad >= 0) {
          culprit = "'" + r->graph.name(bad) + "'";
          break;
        }
      const float bad_value = p.grad.to_vector()[static_cast<size_t>(i)];
      throw Error(ErrorKind::Numeric, "training diverged: gradient of " + layer.name + "." + p.name + " is " +
                                          (std::isnan(bad_value) ? "NaN" : "Inf") + " at epoch " +
                                          std::to_string(epoch) + ", batch " + std::to_string(b + 1) +
                                          "; first non-finite output in op " + culprit +
                                          " — lower train.optimizer.lr or add decay")
          .on_every_rank();  // the reduced gradients are every process's
    }
}

int64_t Trainer::correct(const Net& net, int64_t top) const {
  int64_t c = 0;
  for (const auto& r : net.shards)
    c += count_top_k(r->graph.value(r->output), r->graph.value(r->targets), r->count, top);
  return c;
}

void Trainer::check_input(const DataLoader& loader, const std::string& name) const {
  if (loader.sample_shape() != model_.input_shape())
    fail_input(name, "samples are " + to_string(loader.sample_shape()) + " but the model expects " +
                         to_string(model_.input_shape()) + " (channels, height, width)");
}

LoaderOptions Trainer::loader_options(int64_t batch, bool shuffle, bool augmenting, bool in_memory) const {
  LoaderOptions o;
  o.batch = batch;
  o.shuffle = shuffle;
  o.seed = seed_;
  // auto: nothing to overlap when the samples are in memory and untouched (a hand-off per batch would cost
  // more than the copy it hides); otherwise two loader threads beside the training threads.
  o.workers = spec_.workers >= 0 ? spec_.workers : (in_memory && !augmenting ? 0 : 2);
  return o;
}

std::vector<EpochStats> Trainer::fit(const Dataset& train, const Dataset* val, TrainObserver* observer, int first_epoch,
                                     const FitPosition* from) {
  const MemorySource train_source(train);
  if (!val) return fit(train_source, Pipeline(), nullptr, observer, first_epoch, from);
  const MemorySource val_source(*val);
  return fit(train_source, Pipeline(), &val_source, observer, first_epoch, from);
}

std::vector<EpochStats> Trainer::fit(const DataSource& train, const Pipeline& augment, const DataSource* val,
                                     TrainObserver* observer, int first_epoch, const FitPosition* from) {
  const bool in_memory = dynamic_cast<const MemorySource*>(&train) != nullptr;
  LoaderOptions lo = loader_options(spec_.batch, spec_.shuffle, augment.size() > 0, in_memory);
  // This process reads its own shards of every batch only.
  lo.parts = shards_per_rank_ * comm_.size();
  lo.part = shards_per_rank_ * comm_.rank();
  lo.part_count = shards_per_rank_;
  DataLoader loader(train, augment, lo);
  check_input(loader, train.name());
  check_same_size(train);
  check_shards_filled(loader);
  const auto params = model_.parameters();
  std::vector<EpochStats> history;
  // Build every graph this run needs before the clock starts: primitive creation is one-time work.
  for (int64_t b = 0; b < loader.batches(); ++b) net(loader.whole_batch_size(b), true);
  const bool on_device = totals_on_device();
  if (on_device && totals_.size() == 0) totals_ = DeviceDoubles(kTotalSlots, device_);

  const int last_epoch = first_epoch + spec_.epochs - 1;
  for (int epoch = from ? from->epoch : first_epoch; epoch <= last_epoch; ++epoch) {
    const bool resumed = from && epoch == from->epoch;
    const auto t0 = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(resumed ? from->train_seconds : 0.0));
    loader.start_epoch(epoch);
    if (observer) observer->epoch_begin(epoch, last_epoch, loader.batches());
    double loss_sum = resumed ? from->loss_sum : 0;
    int64_t correct = resumed ? from->correct : 0, seen = resumed ? from->seen : 0;
    const int64_t start = resumed ? from->batch : 0;
    // The loader hands batches out in order: a resumed epoch reads (and drops) the batches it already trained.
    for (int64_t b = 0; b < start; ++b) loader.batch(b);
    if (on_device) {  // the totals start where the host's would, so that they add up in the same order
      totals_.zero();
      totals_.set(kLossSum, loss_sum);
      totals_.set(kCorrect, static_cast<double>(correct));
      totals_.set(kSteps, static_cast<double>(start));
    }
    auto last_read = Clock::now();
    int64_t unread = 0;  // steps since the host last read the device totals
    for (int64_t b = start; b < loader.batches(); ++b) {
      const Batch& batch = loader.batch(b);
      Net& net = this->net(batch.whole, true);
      optimizer_->set_schedule(schedule_factor(spec_.schedule, epoch - first_epoch, b, loader.batches(), spec_.epochs));
      seen += batch.whole;
      if (on_device) {
        device_step(net, batch, epoch, params);
      } else {
        const Totals t = run_batch(net, batch, true, epoch);
        loss_sum += t.loss_sum;
        correct += t.correct;
        step_optimizer(params, nullptr, batch.whole);
        if (spec_.clip_conv_weights > 0) clip_conv_weights();
      }
      bool read = !on_device;
      if (on_device) {
        ++unread;
        read = b + 1 == loader.batches() || (observer && observer->wants_totals()) ||
               (spec_.sync_every > 0 ? unread >= spec_.sync_every : seconds_since(last_read) >= kAutoReadSeconds);
        if (read) {
          const std::vector<double> at = totals_.read();  // waits for the device
          if (at[kMark] != 0) rerun_diverged(train, augment, lo, epoch, static_cast<int64_t>(at[kMark]) - 1);
          loss_sum = at[kLossSum];
          correct = static_cast<int64_t>(at[kCorrect]);
          unread = 0;
          last_read = Clock::now();
        }
      }
      if (observer) {
        if (read)
          observer->batch_end(b + 1, loader.batches(), loss_sum / seen, double(correct) / seen,
                              seen / seconds_since(t0));
        observer->step_end({epoch, b + 1, loss_sum, correct, seen, seconds_since(t0)});
      }
    }
    EpochStats s;
    s.epoch = epoch;
    s.train_seconds = seconds_since(t0);
    s.loss = loss_sum / seen;
    s.acc = double(correct) / seen;
    s.images_per_second = seen / s.train_seconds;
    if (val) {
      const EvalResult r = evaluate(*val);
      s.val_loss = r.loss, s.val_acc = r.accuracy;
    }
    s.seconds = seconds_since(t0);
    history.push_back(s);
    if (observer) observer->epoch_end(s);
  }
  return history;
}

EvalResult Trainer::evaluate(const Dataset& data, Predictions* predictions) {
  return evaluate(MemorySource(data), predictions);
}

// Every process counts the same batches and steps only if every process sees the same data; nodes with
// their own copies of an image folder might not.
void Trainer::check_same_size(const DataSource& data) const {
  if (!comm_.distributed()) return;
  struct Seen {
    int64_t samples, classes;
  };
  const auto all = comm_.allgather_value(Seen{data.size(), data.num_classes()});
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r].samples != all[0].samples || all[r].classes != all[0].classes)
      throw Error(ErrorKind::BadInput, data.name() + ": rank " + std::to_string(r) + " reads " +
                                           std::to_string(all[r].samples) + " samples of " +
                                           std::to_string(all[r].classes) + " classes, rank 0 " +
                                           std::to_string(all[0].samples) + " of " + std::to_string(all[0].classes) +
                                           ": every rank must see the same data")
          .on_every_rank();
}

// Ranks under sync_batchnorm meet inside every batch norm, each with all its shards: an empty one (a last
// batch smaller than the shard count) would never come. (A process's own threads meet in as many shards as
// a batch fills.)
void Trainer::check_shards_filled(const DataLoader& loader) const {
  if (!sync_ranks_ || loader.batches() == 0) return;
  const int64_t shards = shards_per_rank_ * comm_.size(), last = loader.whole_batch_size(loader.batches() - 1);
  if (last < shards)
    throw Error(ErrorKind::BadInput, "train.sync_batchnorm: the last batch has " + std::to_string(last) +
                                         " samples, fewer than the " + std::to_string(shards) +
                                         " shards (threads × ranks) it is cut into; choose another train.batch")
        .on_every_rank();
}

// Only the first shard of a batch updates the running statistics (batch norm), so in a distributed run only
// rank 0's are current; evaluation uses them on every rank.
void Trainer::share_buffers() {
  if (!comm_.distributed()) return;
  for (Buffer* b : model_.buffers()) {
    std::vector<float> host = b->value.to_vector();
    comm_.broadcast(host.data(), static_cast<int64_t>(host.size() * sizeof(float)));
    copy_between(b->value.raw(), b->value.device(), host.data(), Device::cpu, b->value.numel());
  }
}

// In a distributed run each process evaluates a contiguous run of whole batches, and the per-batch totals are
// summed in batch order: the same sums, bit for bit, as one process's.
EvalResult Trainer::evaluate(const DataSource& data, Predictions* predictions) {
  if (spec_.eval_batch < 1)
    fail_input("train.eval_batch", "must be at least 1, got " + std::to_string(spec_.eval_batch));
  share_buffers();
  check_same_size(data);
  if (predictions) *predictions = Predictions{};
  const Range mine = unit_share(data.size(), spec_.eval_batch, comm_.size(), comm_.rank());
  const SubsetSource part(data, mine.first, mine.count, data.name());
  const bool in_memory = dynamic_cast<const MemorySource*>(&data) != nullptr;
  DataLoader loader(part, Pipeline(), loader_options(spec_.eval_batch, false, false, in_memory));
  check_input(loader, data.name());
  loader.start_epoch(0);
  std::vector<Totals> per_batch;
  for (int64_t b = 0; b < loader.batches(); ++b) {
    const Batch& batch = loader.batch(b);
    Net& net = this->net(batch.size, false);
    per_batch.push_back(run_batch(net, batch, false, 0));
    if (!predictions) continue;
    const int64_t classes = numel(model_.output_shape());
    for (const auto& r : net.shards) {
      const std::vector<float> out = r->graph.value(r->output).to_vector();
      predictions->outputs.insert(predictions->outputs.end(), out.begin(), out.begin() + r->count * classes);
    }
    predictions->labels.insert(predictions->labels.end(), batch.labels.begin(), batch.labels.end());
  }
  if (comm_.distributed()) per_batch = comm_.allgather_vector(per_batch);
  if (predictions) {
    predictions->classes = numel(model_.output_shape());
    if (comm_.distributed()) {
      predictions->outputs = comm_.gather_vector(predictions->outputs);
      predictions->labels = comm_.gather_vector(predictions->labels);
    }
  }
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0, top5 = 0;
  for (const Totals& t : per_batch) {
    loss_sum += t.loss_sum;
    correct += t.correct;
    top5 += t.top5;
  }
  r.count = data.size();
  if (r.count) {
    r.loss = loss_sum / r.count;
    r.accuracy = double(correct) / r.count;
    r.top5 = double(top5) / r.count;
  }
  return r;
}

}  // namespace sf
