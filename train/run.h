// One experiment, end to end: load data, build the model, train, evaluate on the test set, and write the
// run folder — config.yaml (resolved), history.csv (Keras CSVLogger columns + seconds), summary.json and
// model.sfm. Every file is written atomically; history.csv is rewritten after each epoch so a long run
// can be watched, and a killed run can be continued from its checkpoint.sfm (train/resume.h).
#pragma once
#include <string>

#include "train/experiment.h"
#include "train/trainer.h"

namespace sf {

struct PhaseResult {
  std::string name;  // "train", then each fine-tuning phase
  std::string activation;
  EvalResult test;
};

struct RunResult {
  std::string out_dir;
  std::vector<PhaseResult> phases;
  std::vector<EpochStats> history;
  EvalResult test;
  double train_seconds = 0;
  int64_t parameters = 0;
  int ranks = 1;                     // processes of a distributed run (mpirun / srun)
  double communication_seconds = 0;  // inside the collectives (gradients, batch totals, sync BN), waiting included
  Trainer::GraphMemory graph_memory;  // of the last phase's graphs (rank 0's)
  double peak_rss_mib = 0;            // the process's peak memory (rank 0's)
  // Undecodable images replaced during the run (dataset.skip_bad_images), each counted once, and the first of
  // them ("path: reason"); summary.json reports both.
  int64_t skipped_images = 0;
  std::vector<std::string> skipped_files;
};

struct RunOptions {
  std::string out_dir;  // empty: runs/<experiment name>
  TrainObserver* observer = nullptr;
  bool resume = false;  // continue from out_dir's checkpoint.sfm (train/resume.h); e must be its experiment
  bool force = false;   // start over in a folder that holds another run (else refused)
};

// While training, out_dir/checkpoint.sfm is kept for --resume (train/resume.h). When the run ends,
// summary.json says "status": "completed", or "failed" with the "reason" (the error is rethrown).
RunResult run_experiment(const Experiment& e, const RunOptions& opts);

// Checkpoint architecture text: the model section plus what evaluation needs (loss, dataset).
// class_names: the dataset's, in label order (image folders); empty for MNIST and CIFAR.
std::string checkpoint_architecture(const Experiment& e, const std::vector<std::string>& class_names = {});

struct LoadedModel {
  ModelSpec spec;
  std::string loss;
  double l1 = 0, l2 = 0;  // penalties the reported loss includes (Keras)
  std::string dataset;
  DataSpec data;                         // the dataset section it was trained with (its eval transforms)
  std::vector<std::string> class_names;  // image folders' classes in label order; else empty
  Model model;
};
LoadedModel load_model(const std::string& checkpoint_path);
// The architecture text alone, parsed, validated and built (weights untrained); `checkpoint_path` is for
// messages. load_model is this plus the checkpoint's tensors.
LoadedModel model_from_architecture(const std::string& text, const std::string& checkpoint_path);

std::string history_csv(const std::vector<EpochStats>& history);

// `evaluate --predictions`: image,label,predicted,output_0..output_{K-1}, one row per image in data order
// (outputs to 9 significant digits, enough to round-trip a float).
std::string predictions_csv(const Predictions& p);

void set_threads(int threads);  // 0 leaves the OpenMP default (all cores)

}  // namespace sf
