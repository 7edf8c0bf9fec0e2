// The device primitives as CUDA kernels. Everything runs on the compute stream, as the ops do (upload's copy
// joins it through an event, core/cuda/upload.cpp); the ones that
// return a value to the host (sum, first_non_finite, count_top_k, weight_penalty) synchronise by copying it,
// the add_* forms leave theirs in device memory.
#include "core/cuda/buffer.h"
#include "core/cuda/check.h"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/primitives.h"
#include "core/cuda/reduce.cuh"
#include "core/cuda/stream.h"
#include "core/cuda/upload.h"
#include "core/primitive_math.h"

namespace sf::cuda {
namespace {

// Reductions (core/cuda/reduce.cuh) use a fixed grid: sum() is deterministic, as the CPU's is.

// Scratch that a primitive needs for one call: a result word, uploaded row indices. Per thread, like the
// CPU's workspaces.
DeviceBuffer& scratch() {
  thread_local DeviceBuffer s;
  return s;
}
// The reductions' partials and result, apart from scratch(): always this size, so never moved once allocated —
// a recorded step (core/capture.h) holds its address.
double* reduction_scratch() {
  thread_local DeviceBuffer s;
  return s.get<double>(kReduceBlocks + 1);
}

template <class F>
void elementwise(int64_t n, F f, const char* name) {
  launch_elementwise(n, compute_stream(), f, name);
}

template <class F>
double reduce(int64_t n, F term, const char* name) {
  if (n <= 0) return 0;
  double* partial = reduction_scratch();
  double* out = partial + kReduceBlocks;
  reduce_on_device(
      n, term, partial, [=] __device__(double s) { *out = s; }, name);
  double result = 0;
  check(cudaMemcpy(&result, out, sizeof(double), cudaMemcpyDeviceToHost), name);
  return result;
}

void fill(float* x, int64_t n, float v) {
  elementwise(
      n, [=] __device__(int64_t i) { x[i] = v; }, "fill");
}
void copy(float* dst, const float* src, int64_t n) {
  if (n) check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, compute_stream()), "copy");
}
void scale(float* x, int64_t n, float a) {
  elementwise(
      n, [=] __device__(int64_t i) { x[i] *= a; }, "scale");
}
void axpy(float a, const float* x, float* y, int64_t n) {
  elementwise(
      n, [=] __device__(int64_t i) { y[i] += a * x[i]; }, "axpy");
}
double sum(const float* x, int64_t n) {
  return reduce(
      n, [=] __device__(int64_t i) { return double(x[i]); }, "sum");
}
int64_t first_non_finite(const float* x, int64_t n) {
  if (n <= 0) return -1;
  auto* first = scratch().get<unsigned long long>(1);
  const unsigned long long none = static_cast<unsigned long long>(n);
  check(cudaMemcpy(first, &none, sizeof none, cudaMemcpyHostToDevice), "first_non_finite");
  elementwise(
      n,
      [=] __device__(int64_t i) {
        if (!(x[i] - x[i] == 0.0f)) atomicMin(first, static_cast<unsigned long long>(i));  // NaN or ±Inf
      },
      "first_non_finite");
  unsigned long long found = none;
  check(cudaMemcpy(&found, first, sizeof found, cudaMemcpyDeviceToHost), "first_non_finite");
  return found == none ? -1 : static_cast<int64_t>(found);
}
void clamp(float* x, int64_t n, float lo, float hi) {
  elementwise(
      n, [=] __device__(int64_t i) { x[i] = clamp_value(x[i], lo, hi); }, "clamp");
}
int64_t count_top_k(const float* logits, const float* targets, int64_t rows, int64_t k, int64_t top) {
  return static_cast<int64_t>(reduce(
      rows, [=] __device__(int64_t i) { return double(target_in_top_k(logits + i * k, targets + i * k, k, top)); },
      "count_top_k"));
}
double weight_penalty(const float* w, float* g, int64_t n, double l1, double l2) {
  const float l1f = static_cast<float>(l1), l2f = static_cast<float>(l2);
  return reduce(
      n,
      [=] __device__(int64_t i) {
        if (g) g[i] += weight_penalty_grad(w[i], l1f, l2f);
        return weight_penalty_of(w[i], l1, l2);
      },
      "weight_penalty");
}
void gather_rows(float* dst, const float* src, const int64_t* index, int64_t count, int64_t row) {
  if (count <= 0 || row <= 0) return;
  auto* idx = scratch().get<int64_t>(count);
  check(cudaMemcpy(idx, index, count * sizeof(int64_t), cudaMemcpyHostToDevice), "gather_rows");
  elementwise(
      count * row, [=] __device__(int64_t e) { dst[e] = src[idx[e / row] * row + e % row]; }, "gather_rows");
}
void to_host(float* host, const float* src, int64_t n) {
  if (n) check(cudaMemcpy(host, src, n * sizeof(float), cudaMemcpyDeviceToHost), "copy to the host");
}
void from_host(float* dst, const float* host, int64_t n) {
  if (n) check(cudaMemcpy(dst, host, n * sizeof(float), cudaMemcpyHostToDevice), "copy from the host");
}

// The accumulating forms: the same reductions, finished by adding into device memory (no copy, no wait).
void add_top_k(double* acc, const float* logits, const float* targets, int64_t rows, int64_t k, int64_t top) {
  if (rows <= 0) return;
  reduce_on_device(
      rows, [=] __device__(int64_t i) { return double(target_in_top_k(logits + i * k, targets + i * k, k, top)); },
      reduction_scratch(), [=] __device__(double s) { *acc += s; }, "count_top_k");
}
void add_weight_penalty(double* acc, const float* w, float* g, int64_t n, double l1, double l2) {
  if (n <= 0) return;
  const float l1f = static_cast<float>(l1), l2f = static_cast<float>(l2);
  reduce_on_device(
      n,
      [=] __device__(int64_t i) {
        if (g) g[i] += weight_penalty_grad(w[i], l1f, l2f);
        return weight_penalty_of(w[i], l1, l2);
      },
      reduction_scratch(), [=] __device__(double s) { *acc += s; }, "weight_penalty");
}
__global__ void step_loss_kernel(double* acc, const float* loss, double count, double* penalty, double whole,
                                 double* steps) {
  // Rounded as the host's sum (Trainer::run_batch): the product, one fused multiply-add, then the add.
  *acc = __dadd_rn(*acc, __fma_rn(whole, *penalty, __dmul_rn(double(*loss), count)));
  *penalty = 0;
  *steps += 1;
}
void add_step_loss(double* acc, const float* loss, double count, double* penalty, double whole, double* steps) {
  step_loss_kernel<<<1, 1, 0, compute_stream()>>>(acc, loss, count, penalty, whole, steps);
  check_launch("step loss");
}
void mark_non_finite(double* mark, const float* x, int64_t n, const double* value) {
  elementwise(
      n,
      [=] __device__(int64_t i) {
        if (!(x[i] - x[i] == 0.0f) && *mark == 0) *mark = *value;  // every writer writes the same value
      },
      "mark_non_finite");
}

const DevicePrimitives kTable = {fill,
                                 copy,
                                 scale,
                                 axpy,
                                 sum,
                                 first_non_finite,
                                 clamp,
                                 count_top_k,
                                 weight_penalty,
                                 gather_rows,
                                 to_host,
                                 from_host,
                                 cuda::upload,
                                 add_top_k,
                                 add_weight_penalty,
                                 add_step_loss,
                                 mark_non_finite};

}  // namespace

const DevicePrimitives& device_primitives() { return kTable; }

}  // namespace sf::cuda
