// The execution context every op's forward and backward receives: where it runs, in which mode, with which
// randomness and scratch memory. Ops hold no such state of their own, so one op instance serves training and
// evaluation alike and a CUDA kernel finds its stream and workspace in the same place a CPU kernel finds
// nothing to do with them.
#pragma once
#include <cstdint>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"

namespace sf {

enum class Mode { train, eval };

// Batch norm over a batch split into data-parallel shards (threads of a process, and ranks with
// train.sync_batchnorm): every shard's per-channel statistics.
class StatGather {
 public:
  virtual ~StatGather() = default;
  // Every shard's `values` (the same length everywhere), concatenated in shard order. A collective: each
  // shard's graph calls it at the same ops in the same order.
  virtual std::vector<double> gather(const std::vector<double>& values) = 0;
};

// Grow-only workspace (cuDNN algorithms, im2col buffers): ops ask for what prepare() computed they need; the
// memory is reused by every op of the graph, one after the other.
class Workspace {
 public:
  explicit Workspace(Device device = Device::cpu) : device_(device) {}
  // At least `floats` floats on the workspace's device, valid until the next call.
  float* get(int64_t floats) {
    if (!buffer_.defined() || buffer_.numel() < floats) buffer_ = Tensor({floats}, device_);
    return buffer_.raw();
  }
  int64_t capacity() const { return buffer_.defined() ? buffer_.numel() : 0; }

 private:
  Device device_;
  Tensor buffer_;
};

struct ExecContext {
  Device device = Device::cpu;
  void* stream = nullptr;  // cudaStream_t on CUDA; unused on the CPU
  Mode mode = Mode::eval;
  // Whether train-mode ops may update model state (batch-norm running statistics). Data-parallel replicas
  // after the first leave the shared running statistics alone, so the result does not depend on the order the
  // replicas finish in.
  bool update_state = true;
  // Key of this step's random stream (dropout masks): stream_seed(seed, Stream::dropout, epoch, batch) from
  // the trainer. Ops derive per-sample streams from it and the sample's index in the whole batch
  // (first_sample + row), so results do not depend on how a batch is split over threads.
  uint64_t random_key = 0;
  // The same key in the graph's device memory, where the trainer puts it there (a recorded step, core/capture.h):
  // kernels that use the key read it there when this is set, rather than take random_key as an argument, so
  // that each replay draws with its own step's key. Null: use random_key.
  const uint64_t* device_random_key = nullptr;
  int64_t first_sample = 0;  // this graph's first row within the step's batch (data-parallel shards)
  Workspace* workspace = nullptr;
  // Where batchnorm ops with attribute sync = 1 get the other shards' statistics in train mode; null: the
  // batch is this graph's alone.
  StatGather* sync_stats = nullptr;

  bool training() const { return mode == Mode::train; }
};

}  // namespace sf
