// An experiment file (experiments/*.yaml) parsed and validated into plain structs. Defaults are the seed's
// (dnn_microbench generate_mnist_model: batch 50, 20 epochs, MSE on one-hot labels, SGD lr 0.1,
// momentum 0.9). to_yaml() writes the fully resolved config (every default spelled out) for config.yaml.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "datasets/open.h"
#include "datasets/transform_spec.h"
#include "models/model_spec.h"
#include "optim/optimizer_spec.h"
#include "train/schedule.h"

namespace sf {

struct TrainSpec {
  int epochs = 20;
  int batch = 50;
  std::string loss = "mse";  // mse (on the linear outputs) | crossentropy (softmax inside the loss)
  bool shuffle = true;
  int eval_batch = 1000;
  std::string parallel = "auto";  // auto | batch_split | op_parallel (train/parallel.h)
  // Recompute batch norm (and its fused activation; the loops kernel) in backward instead of holding its output
  // through the step (core/graph.h): auto does it where a training graph's arena (one shard's activations and
  // gradients) would pass 1 GiB without.
  std::string recompute = "auto";  // auto | always | never
  int workers =
      -1;           // loader threads (Keras fit's workers): -1 auto (0 for in-memory data without augmentation, else 2)
  double l1 = 0.0;  // Keras kernel regularisers on every weight tensor (not biases): loss += l1·Σ|w| + l2·Σw²
  double l2 = 0.0;
  double clip_conv_weights = 0.0;                // Liu: after every step clip conv weights to ±c (0 = off)
  std::map<std::string, double> lr_multipliers;  // per layer name (Liu: conv1 0.1, conv2 1.0, dense 0.1 of lr)
  // train.schedule (step | cosine), train.warmup_epochs, train.min_lr_factor, train.step_decay {factor, every}
  ScheduleSpec schedule;
  double label_smoothing = 0.0;  // targets (1 − ε)·one_hot + ε/K (Szegedy et al. 2016; Keras, PyTorch)
  // Keras kernel regularisers skip batch-norm scale and shift (and biases); true adds l1/l2 to BN gamma/beta too.
  bool regularize_batchnorm = false;
  // Distributed runs: batch norm over every process's part of the batch (PyTorch's SyncBatchNorm), instead of
  // each process's own (DDP's default). Needs one shard per process (op_parallel, or one thread).
  bool sync_batchnorm = false;
  double label_shift = 0.0;  // targets t + shift (Liu's NSP fine-tuning: 0.01)
  // How often the host reads the step totals (loss, accuracy, the divergence check) back from the device: every
  // this many steps, or 0 for auto (every step on the CPU, where reading costs nothing; on a GPU when ~0.1 s
  // has passed since the last read). The run's results do not depend on it (Trainer::fit).
  int64_t sync_every = 0;
  // On a GPU, record a training step once as a CUDA graph and replay it (where the step allows: one shard, the
  // totals on the device, no gradient noise; Trainer::records_steps). Results do not depend on it.
  bool cuda_graph = true;
  // Resume checkpoints (train/resume.h) are written at every epoch end and, when > 0, every this many steps.
  int64_t checkpoint_every = 0;
  // Start from this checkpoint's weights and batch-norm statistics instead of random ones (Keras load_weights
  // before fit; `spikeforge import` sets it to the imported model.sfm). Empty: random initialisation.
  std::string init_from;
  OptimizerSpec optimizer;
};

// A fine-tuning phase run after `train`, continuing from its weights (Liu: train ReLU, then one epoch of
// Noisy Softplus with labels shifted by +0.01). Unset fields keep the training values.
struct PhaseSpec {
  std::string name;
  int epochs = 1;
  std::string activation;  // "" keeps the model's
  double label_shift = 0.0;
  double lr = 0.0;  // 0 keeps train.optimizer.lr
};

struct DataSpec {
  std::string name = "mnist";       // mnist | fashion_mnist | cifar10 | cifar100 | image_folder
  std::string path;                 // empty: the dataset's default folder
  std::string validation = "test";  // test | none | a fraction of the training set held out, e.g. 0.1
  std::string label = "fine";       // cifar100: fine (100 classes) | coarse (20)
  bool skip_bad_images = false;     // image_folder: replace and count undecodable images instead of failing
  // Applied to every split before the transforms below (0 = off): resize (bilinear) or zero-pad to a square,
  // then repeat a grey channel `channels` times — MNIST as 3×32×32 for a CIFAR-shaped net.
  int64_t resize = 0, pad = 0, channels = 0;
  std::vector<TransformSpec> augment;          // per-sample training transforms (datasets/transform_spec.h)
  std::vector<TransformSpec> eval_transforms;  // validation and test transforms; the same output shape
};

// What datasets/open.h needs to open the data a DataSpec names.
DatasetOptions dataset_options(const DataSpec& d);
// resize or pad, then channels, as transforms.
std::vector<TransformSpec> base_transforms(const DataSpec& d);
// The per-sample pipelines: base_transforms then augment (training) or eval_transforms (validation, test).
Pipeline train_pipeline(const DataSpec& d);
Pipeline eval_pipeline(const DataSpec& d);

struct Experiment {
  std::string name;
  std::string source;  // the file it came from
  uint64_t seed = 1;
  int threads = 0;  // 0: all cores
  std::string device = "cpu";
  bool deterministic = false;  // GPU kernels: only bit-reproducible algorithms (core/device.h)
  DataSpec data;
  ModelSpec model;
  TrainSpec train;
  std::vector<PhaseSpec> finetune;
};

Experiment load_experiment(const std::string& file, const std::vector<std::string>& overrides = {});
ModelSpec parse_model_spec(const ConfigNode& model);

std::string to_yaml(const Experiment& e);
std::string to_yaml(const ModelSpec& m);  // the model section alone (stored in checkpoints)
std::string to_yaml(const DataSpec& d);   // the dataset section alone (stored in checkpoints)
// The dataset section's keys, checked, without reading the data (parse_data in load_experiment adds the
// shapes the data and the transforms make).
DataSpec parse_data_spec(const ConfigNode& dataset);

}  // namespace sf
