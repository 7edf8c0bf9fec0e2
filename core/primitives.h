// Device primitives: the glue around ops that every device implements (tinygrad's idea of a few primitives
// each backend provides; ggml's backend table). The graph's fan-out sums, the gradient reduction, the
// regulariser, weight clipping, accuracy counting and the divergence checks are written against this table
// only, so a CUDA build adds one table and the trainer does not change. Pointers are on the table's device.
#pragma once
#include <cstdint>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"

namespace sf {

struct DevicePrimitives {
  void (*fill)(float* x, int64_t n, float value);
  void (*copy)(float* dst, const float* src, int64_t n);       // both on this device
  void (*scale)(float* x, int64_t n, float a);                 // x ← a·x
  void (*axpy)(float a, const float* x, float* y, int64_t n);  // y ← y + a·x
  double (*sum)(const float* x, int64_t n);                    // in double, in a fixed order (deterministic)
  int64_t (*first_non_finite)(const float* x, int64_t n);      // index of the first NaN/Inf, or −1
  void (*clamp)(float* x, int64_t n, float lo, float hi);
  // Rows (of k) whose target class — the target row's first maximum — ranks among the `top` largest logits,
  // ties going to the lower index (top 1: the logits' first maximum is the target's): the correct (top-1) or
  // top-5 classifications when targets are one-hot (shifted or smoothed, too).
  int64_t (*count_top_k)(const float* logits, const float* targets, int64_t rows, int64_t k, int64_t top);
  // Keras kernel regularisers in one pass: returns l1·Σ|w| + l2·Σw²; when g is non-null, also
  // g ← g + l1·sign(w) + 2·l2·w.
  double (*weight_penalty)(const float* w, float* g, int64_t n, double l1, double l2);
  // dst[i, :] = src[index[i], :] for i < count, rows of `row` floats; `index` is host memory.
  void (*gather_rows)(float* dst, const float* src, const int64_t* index, int64_t count, int64_t row);
  // Host ↔ device transfers (plain memcpy on the CPU).
  void (*to_host)(float* host, const float* src, int64_t n);
  void (*from_host)(float* dst, const float* host, int64_t n);
  // from_host that the host does not wait for (a training step's batch): ordered before the device work queued
  // after it; `host` may be reused on return (CUDA: staged through pinned memory on a copy stream).
  void (*upload)(float* dst, const float* host, int64_t n);

  // Totals kept in device memory (DeviceDoubles below), so that a training step adds to them without the host
  // waiting for the device; `acc`, `mark` and `penalty` point at doubles on this device.
  // *acc += count_top_k(...), *acc += weight_penalty(...):
  void (*add_top_k)(double* acc, const float* logits, const float* targets, int64_t rows, int64_t k, int64_t top);
  void (*add_weight_penalty)(double* acc, const float* w, float* g, int64_t n, double l1, double l2);
  // One step's Σ loss·n as the host adds it (Trainer): *acc += loss[0]·count + whole·*penalty, then
  // *penalty = 0, and the step is counted: *steps += 1.
  void (*add_step_loss)(double* acc, const float* loss, double count, double* penalty, double whole, double* steps);
  // *mark = *value if *mark is 0 and any x is NaN or ±Inf: the first bad step's number (a count of steps on the
  // device, so that a recorded step marks with each step's own), kept.
  void (*mark_non_finite)(double* mark, const float* x, int64_t n, const double* value);
};

// A few doubles in a device's memory that kernels add to, read back in one copy (one host wait on a GPU). Held
// in a float Tensor, the one allocation every device offers (64-byte aligned on the CPU, 256 on CUDA).
class DeviceDoubles {
 public:
  DeviceDoubles() = default;
  DeviceDoubles(int64_t n, Device device) : storage_(Tensor::zeros({2 * n}, device)) {}
  double* data() { return reinterpret_cast<double*>(storage_.raw()); }
  int64_t size() const { return storage_.numel() / 2; }
  Device device() const { return storage_.device(); }
  void zero() { storage_.fill(0.0f); }  // all-zero bits are 0.0
  std::vector<double> read() const;
  void set(int64_t i, double value);

 private:
  Tensor storage_;
};

// The table of `device`; an internal error naming the build option when this build lacks the device.
const DevicePrimitives& primitives(Device device);
void register_primitives(Device device, const DevicePrimitives* table);  // a CUDA build registers its own

// Copies n floats between any two devices (through the host when neither side is the CPU).
void copy_between(float* dst, Device dst_device, const float* src, Device src_device, int64_t n);

// Tensor-level forms, dispatched on the tensors' device (all operands must share it).
void axpy(float a, const Tensor& x, Tensor& y);
void scale(Tensor& x, float a);
double sum(const Tensor& x);
int64_t first_non_finite(const Tensor& x);
void clamp(Tensor& x, float lo, float hi);
int64_t count_top_k(const Tensor& logits, const Tensor& targets, int64_t rows, int64_t top = 1);
double weight_penalty(const Tensor& w, Tensor* grad, double l1, double l2);

}  // namespace sf
