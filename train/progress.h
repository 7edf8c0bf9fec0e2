// Console reporting of a training run: on a terminal a live bar per epoch (loss, acc, images/s); otherwise
// (CI logs, pipes) exactly one line per epoch.
#pragma once
#include <chrono>
#include <cstdio>

#include "train/trainer.h"

namespace sf {

class ConsoleProgress final : public TrainObserver {
 public:
  ConsoleProgress(std::FILE* out, bool terminal) : out_(out), terminal_(terminal) {}
  void epoch_begin(int epoch, int epochs, int64_t batches) override;
  void batch_end(int64_t done, int64_t batches, double loss, double acc, double images_per_second) override;
  void epoch_end(const EpochStats& s) override;

 private:
  std::FILE* out_;
  bool terminal_;
  int epoch_ = 0, epochs_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace sf
