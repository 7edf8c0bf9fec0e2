// Resuming a killed run (`spikeforge train --resume DIR`) and the run folder's life cycle.
//
// While it trains, run_experiment keeps DIR/checkpoint.sfm, rewritten atomically at every epoch end and, with
// train.checkpoint_every = N > 0, after every N-th step. It is an ordinary .sfm file (core/checkpoint.h: CRC,
// lengths, version 2): the architecture text of the phase's model plus a `resume:` section, the model's
// tensors, and the optimiser's state tensors as "optimizer/<slot>/<layer>.<param>". The `resume:` section holds
// the resolved experiment it belongs to, the fine-tuning phase, the position inside the epoch (batches done
// and the epoch's running sums), the optimiser's iteration count, schedule and gradient-noise generator, the
// history so far and the finished phases' test results; doubles are written as hex floats, so they come back
// bit for bit. Everything else random in a run (shuffle, dropout, augmentation) is keyed by (seed, epoch,
// batch), so a resumed run, with the same thread count, repeats the uninterrupted one exactly.
//
// The folder: summary.json is written only when the run ends, with "status": "completed" or "failed" (and a
// "reason"). A killed run has no summary.json, only its checkpoint. checkpoint.sfm is removed once model.sfm
// and the summary are written.
#pragma once
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "models/model.h"
#include "optim/optimizer.h"
#include "train/experiment.h"
#include "train/run.h"
#include "train/trainer.h"

namespace sf {

inline constexpr const char* kResumeCheckpointFile = "checkpoint.sfm";

// The state of an interrupted run_experiment.
struct ResumeState {
  std::string config;  // to_yaml(experiment) of the run it belongs to
  int phase = 0;       // 0: train, k: finetune[k - 1]
  FitPosition at;      // where that phase's fit() continues
  int64_t steps = 0;   // training steps of the whole run so far (train.checkpoint_every counts them)
  OptimizerState optimizer;
  std::vector<std::string> slot_names;  // "<layer>.<param>" of each optimizer state tensor, in order
  std::vector<EpochStats> history;      // every finished epoch of the run
  std::vector<PhaseResult> phases;      // the finished phases' test results
};

// Writes the checkpoint atomically. `architecture` is checkpoint_architecture() of the phase's model.
void save_resume_checkpoint(const std::string& path, const std::string& architecture, const Model& model,
                            const ResumeState& state);

struct LoadedResume {
  ResumeState state;
  Checkpoint model;  // the model's part: what Model::load_state and `evaluate` read
};
// BadInput naming the file when it is missing, corrupt, or not a resume checkpoint.
LoadedResume load_resume_checkpoint(const std::string& path);

// A .sfm with a `resume:` section, reduced to the model checkpoint it contains (else returned unchanged).
Checkpoint model_part(Checkpoint ckpt);

// Puts the saved optimiser state into `opt`, checking its tensors against the model's parameters by name.
void restore_optimizer(Optimizer& opt, const LoadedResume& saved, Model& model, const std::string& path);

// Before a fresh run into `dir`: refuses (BadInput naming the folder and --force) a folder that holds a
// completed, failed or unfinished run; with force, removes that run's files (and stale temp files) instead.
void prepare_run_folder(const std::string& dir, bool force);

// Deletes the temp files (<run file>.tmp.<pid>) a writer killed inside write_file_atomic left in dir.
void remove_stale_temp_files(const std::string& dir);

// `train --resume DIR`: the experiment of DIR/config.yaml (BadInput naming the file when it is missing).
Experiment resume_experiment(const std::string& dir);

// Checks before resuming: not completed, checkpoint present and valid, and saved from experiment `e`; then
// removes stale temp files.
LoadedResume open_resume(const std::string& dir, const Experiment& e);

// "completed", "failed", or "" when dir/summary.json is absent (an unfinished or killed run).
std::string run_status(const std::string& dir);

}  // namespace sf
