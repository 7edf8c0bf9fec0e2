// `spikeforge reproduce TABLE`: one command per paper table. Trains what it needs (or reuses the
// checkpoints already in its output folder), converts each net as the paper did, and prints a markdown
// table of our numbers (mean ± sample sd over trials, seeds 1..trials) beside the paper's; the same table
// goes to DIR/table.md and the raw numbers to DIR/results.json.
//   liu2017     — Liu's thesis MNIST table: ReLU / Noisy Softplus / Softplus small nets, LIF (IF_curr_exp,
//                 thesis parameters) with weights as nA, Poisson input at 200 Hz, 1 s per image.
//   tensor_genn — Diehl's data-based normalisation on IF neurons (reset to zero), 350 steps, as tensor_genn.
//   mobilenet   — the Fashion-MNIST MobileNet (α 0.5, 32×32; `--dataset cifar10`: cifar10_mobilenet.yaml) with
//                 ReLU6 → channel-wise robust norm and QCFS → θ = λ, IF-subtract, current input: ANN and SNN at
//                 T = 8…128.
#pragma once
#include <string>
#include <vector>

#include "backends/snn/network.h"

namespace sf {

struct ReproduceOptions {
  std::string table;
  int trials = 3;
  std::string out_dir;    // empty: runs/reproduce-<table>
  int64_t images = 0;     // test images per conversion; 0 = all
  std::string data_dir;   // the dataset's folder; empty = the default
  std::string dataset;    // mobilenet: fashion_mnist (default) or cifar10
  std::vector<std::string> sets;  // `--set KEY=VALUE` for every row's training (after the row's own)
  std::vector<std::string> lif;  // LIF parameter overrides, "key=value" (as `convert --lif`)
  double dt_ms = 0;              // 0: the paper's (1 ms); the run keeps the paper's duration in ms
};

struct ReproduceResult {
  std::string markdown;
  std::string out_dir;
};

ReproduceResult reproduce(const ReproduceOptions& opts);
std::vector<std::string> reproducible_tables();

// Applies "key=value" overrides to LIF parameters; BadInput naming the key.
void apply_lif_overrides(snn::LifParams& p, const std::vector<std::string>& overrides);

}  // namespace sf
