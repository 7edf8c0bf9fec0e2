// The training loop: batches from a DataLoader (datasets/loader.h) through a cached static graph (one per batch size),
// backward, optimiser step. Keras semantics for what is reported: loss/acc are means over the epoch's
// batches, val_* come from the validation set at the end of each epoch.
#pragma once
#include <cstdint>
#include <map>
#include <memory>

#include "core/graph.h"
#include "core/primitives.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/source.h"
#include "models/model.h"
#include "optim/optimizer.h"
#include "train/experiment.h"
#include "train/parallel.h"

namespace sf {

struct EpochStats {
  int epoch = 0;  // 1-based
  double loss = 0, acc = 0, val_loss = NAN, val_acc = NAN;
  double seconds = 0;        // whole epoch, validation included (Keras)
  double train_seconds = 0;  // the training loop alone
  double images_per_second = 0;
};

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
  double top5 = 0;  // the target among the 5 largest outputs (1 when there are 5 classes or fewer)
};

// Each image's network outputs (the logits; a softmax is inside the loss), in data order: what Keras's
// predict() gives, for comparing two implementations image by image.
struct Predictions {
  int64_t classes = 0;
  std::vector<float> outputs;  // [images × classes]
  std::vector<int32_t> labels;
};

// Where fit() stands between two steps: enough to continue an epoch mid-way (train/resume.h). The shuffle
// and every step's randomness are keyed by (seed, epoch, batch), so the position plus the model and
// optimiser state determine the rest of the run.
struct FitPosition {
  int epoch = 1;        // the epoch in progress, in the run's count (1-based)
  int64_t batch = 0;    // its batches already done
  double loss_sum = 0;  // over those batches: Σ loss·n, correct predictions, samples
  int64_t correct = 0, seen = 0;
  double train_seconds = 0;  // time spent on them
};

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void epoch_begin(int epoch, int epochs, int64_t batches) {}
  virtual void batch_end(int64_t done, int64_t batches, double loss, double acc, double images_per_second) {}
  virtual void epoch_end(const EpochStats& stats) {}
  // After every training step (weights updated), with the position just after it. Where the trainer keeps
  // the step totals on the device (TrainSpec::sync_every), the position's loss_sum and correct are as of the
  // host's last read of them, and batch_end is called after each read only; a step for which wants_totals()
  // says true is read before its step_end.
  virtual void step_end(const FitPosition& at) {}
  virtual bool wants_totals() const { return false; }
};

// Name of the loss op for a `train.loss` value.
std::string loss_op(const std::string& loss);

class Trainer {
 public:
  Trainer(Model& model, const TrainSpec& spec, Device device, uint64_t seed);
  ~Trainer();

  // Trains spec.epochs epochs; `val` may be null. Throws Error(Numeric) naming the first op whose output
  // went non-finite if the loss becomes NaN or Inf.
  // Epochs are numbered from first_epoch (a fine-tuning phase continues the count; shuffling follows it).
  // `from` continues an interrupted fit (same first_epoch) at a saved position; only the epochs finished by
  // this call are returned.
  std::vector<EpochStats> fit(const DataSource& train, const Pipeline& augment, const DataSource* val,
                              TrainObserver* observer = nullptr, int first_epoch = 1,
                              const FitPosition* from = nullptr);
  // In-memory datasets, no augmentation.
  std::vector<EpochStats> fit(const Dataset& train, const Dataset* val, TrainObserver* observer = nullptr,
                              int first_epoch = 1, const FitPosition* from = nullptr);
  // With `predictions`, also each image's outputs (on rank 0 of a distributed run; empty elsewhere).
  EvalResult evaluate(const DataSource& data, Predictions* predictions = nullptr);
  EvalResult evaluate(const Dataset& data, Predictions* predictions = nullptr);
  const Optimizer& optimizer() const { return *optimizer_; }
  Optimizer& optimizer() { return *optimizer_; }  // its state is saved and restored by resume checkpoints
  // The graphs' activations and gradients (core/graph.h): what the largest training and evaluation graph plan
  // needs, and what the arenas they share take.
  struct GraphMemory {
    int64_t training_bytes = 0, evaluation_bytes = 0, arena_bytes = 0;
    int recomputed = 0;  // outputs recomputed in backward, by the training graph that recomputes most
  };
  GraphMemory graph_memory() const;
  std::string profile_report() const;  // per-op times, when SPIKEFORGE_PROFILE is set
  // Training steps replayed from a recording (train.cuda_graph), over this trainer's life.
  int64_t replayed_steps() const { return replayed_; }

 private:
  struct Replica;
  struct Net;
  struct Totals {  // of a batch: Σ loss·n (penalty included), correct and top-5 predictions
    double loss_sum = 0;
    int64_t correct = 0, top5 = 0;
  };
  Net& net(int64_t batch, bool training);
  Net& build_net(int64_t batch, bool training);
  [[noreturn]] void batch_does_not_fit(const OutOfMemory& e, int64_t batch, bool training) const;
  uint64_t dropout_key(int epoch, int64_t b) const;
  void stage_targets(const Batch& batch, bool training);
  void upload_inputs(Replica& r, const Batch& batch);
  void run_shards(Net& net, const Batch& batch, bool training, int epoch, bool always_backward);
  Totals run_batch(Net& net, const Batch& batch, bool training, int epoch);
  // The step totals kept on the device: whether fit() keeps them there, one step's additions, and the
  // divergence a read of them finds, rerun on the host to name the op (it throws).
  bool totals_on_device() const;
  void add_step_totals(Net& net, int64_t whole);
  // A step with its totals on the device, recorded once and replayed where records_steps() (core/capture.h).
  void device_step(Net& net, const Batch& batch, int epoch, const std::vector<Parameter*>& params);
  bool records_steps(const Net& net) const;
  void step_optimizer(const std::vector<Parameter*>& params, const double* skip, int64_t whole);
  [[noreturn]] void rerun_diverged(const DataSource& train, const Pipeline& augment, const LoaderOptions& options,
                                   int epoch, int64_t bad);
  void throw_diverged(const Net& net, int64_t b, int epoch, int bad_rank) const;
  void share_buffers();
  void check_same_size(const DataSource& data) const;
  void check_shards_filled(const DataLoader& loader) const;
  LoaderOptions loader_options(int64_t batch, bool shuffle, bool augmenting, bool in_memory) const;
  int64_t correct(const Net& net, int64_t top = 1) const;
  int64_t first_bad_shard(const Net& net) const;  // whose loss is not finite, or -1
  void check_gradients(const Net& net, int64_t b, int epoch) const;
  void check_input(const DataLoader& loader, const std::string& name) const;
  double penalty(bool add_gradient);
  void clip_conv_weights();

  Model& model_;
  TrainSpec spec_;
  Device device_;
  uint64_t seed_;
  ParallelStrategy strategy_;
  Communicator& comm_;
  int64_t shards_per_rank_ = 1;  // training shards of a full batch in this process (train/parallel.h)
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<GradientReducer> reducer_;
  bool sync_threads_ = false;  // batch norm over the process's shards (batch_split)
  bool sync_ranks_ = false;    // and over the ranks' (train.sync_batchnorm)
  bool profiling_ = false;
  bool told_unrecordable_ = false;  // a step that could not be recorded has been reported
  int64_t replayed_ = 0;
  std::map<std::pair<int64_t, bool>, std::unique_ptr<Net>> nets_;
  // One per shard position, shared by that shard's graphs in every net: nets run one at a time, and a graph
  // holds nothing in its arena from one step to the next (core/graph.h).
  std::vector<std::shared_ptr<Graph::SharedArena>> arenas_;
  std::vector<float> targets_;  // the step's one-hot targets, host staging
  // An epoch's totals on the device (totals_on_device): Σ loss·n, correct classifications, the step's
  // regulariser, the epoch's steps so far, and the mark of the first step whose loss or gradients went
  // non-finite (its batch + 1, the step count then; optimiser updates are skipped from it on, so the rerun
  // sees the weights that step saw).
  enum TotalSlot { kLossSum, kCorrect, kPenalty, kSteps, kMark, kTotalSlots };
  DeviceDoubles totals_;
  Tensor step_key_;  // a recorded step's dropout key (ExecContext::device_random_key): 8 bytes on the device
};

}  // namespace sf
