#include "core/primitives.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "core/primitive_math.h"

namespace sf {
namespace {

// Element-wise loops split over threads only past this size: below it a parallel region costs more than the
// loop (core/parallel.h); a MobileNet's 4 M-element gradient is well above it, a Liu net's 3,880 well below.
constexpr int64_t kGrain = 1 << 16;

template <class F>
void elementwise(int64_t n, F&& f) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi, int) {
#pragma omp simd
    for (int64_t i = lo; i < hi; ++i) f(i);
  });
}

void cpu_fill(float* x, int64_t n, float v) {
  elementwise(n, [=](int64_t i) { x[i] = v; });
}
void cpu_copy(float* dst, const float* src, int64_t n) {
  if (n) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void cpu_scale(float* x, int64_t n, float a) {
  elementwise(n, [=](int64_t i) { x[i] *= a; });
}
void cpu_axpy(float a, const float* x, float* y, int64_t n) {
  elementwise(n, [=](int64_t i) { y[i] += a * x[i]; });
}
// Eight running sums (lane i takes elements i, i + 8, ...), added up in a fixed order at the end: the
// result depends only on n, never on threads, and one dependent chain of adds no longer bounds the speed
// (measured 1.0 → 4.2 G elements/s on 4.2 M floats, bench/bench_primitives.cpp).
double cpu_sum(const float* x, int64_t n) {
  double lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) lane[k] += x[i + k];
  double s = 0;
  for (double l : lane) s += l;
  for (; i < n; ++i) s += x[i];
  return s;
}
// x − x is 0 for finite x and NaN for NaN or ±Inf, so a block is checked without a branch per element;
// only a block that holds one is scanned for its first.
int64_t cpu_first_non_finite(const float* x, int64_t n) {
  constexpr int64_t kBlock = 1024;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    float probe = 0;
#pragma omp simd reduction(+ : probe)
    for (int64_t i = b; i < e; ++i) probe += x[i] - x[i];
    if (probe == 0) continue;
    for (int64_t i = b; i < e; ++i)
      if (!std::isfinite(x[i])) return i;
  }
  return -1;
}
void cpu_clamp(float* x, int64_t n, float lo, float hi) {
  elementwise(n, [=](int64_t i) { x[i] = clamp_value(x[i], lo, hi); });
}
int64_t cpu_count_top_k(const float* logits, const float* targets, int64_t rows, int64_t k, int64_t top) {
  int64_t n = 0;
  for (int64_t i = 0; i < rows; ++i) n += target_in_top_k(logits + i * k, targets + i * k, k, top);
  return n;
}
double cpu_weight_penalty(const float* w, float* g, int64_t n, double l1, double l2) {
  const float l1f = static_cast<float>(l1), l2f = static_cast<float>(l2);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    total += weight_penalty_of(w[i], l1, l2);
    if (g) g[i] += weight_penalty_grad(w[i], l1f, l2f);
  }
  return total;
}
void cpu_gather_rows(float* dst, const float* src, const int64_t* index, int64_t count, int64_t row) {
  for (int64_t i = 0; i < count; ++i)
    std::memcpy(dst + i * row, src + index[i] * row, static_cast<size_t>(row) * sizeof(float));
}

void cpu_add_top_k(double* acc, const float* logits, const float* targets, int64_t rows, int64_t k, int64_t top) {
  *acc += static_cast<double>(cpu_count_top_k(logits, targets, rows, k, top));
}
void cpu_add_weight_penalty(double* acc, const float* w, float* g, int64_t n, double l1, double l2) {
  *acc += cpu_weight_penalty(w, g, n, l1, l2);
}
// Rounded as Trainer::run_batch's host sum is: the product, then one fused multiply-add for the penalty.
void cpu_add_step_loss(double* acc, const float* loss, double count, double* penalty, double whole, double* steps) {
  *acc += std::fma(whole, *penalty, static_cast<double>(*loss) * count);
  *penalty = 0;
  *steps += 1;
}
void cpu_mark_non_finite(double* mark, const float* x, int64_t n, const double* value) {
  if (*mark == 0 && cpu_first_non_finite(x, n) >= 0) *mark = *value;
}

const DevicePrimitives kCpu = {cpu_fill,
                               cpu_copy,
                               cpu_scale,
                               cpu_axpy,
                               cpu_sum,
                               cpu_first_non_finite,
                               cpu_clamp,
                               cpu_count_top_k,
                               cpu_weight_penalty,
                               cpu_gather_rows,
                               cpu_copy,  // to_host
                               cpu_copy,  // from_host
                               cpu_copy,  // upload
                               cpu_add_top_k,
                               cpu_add_weight_penalty,
                               cpu_add_step_loss,
                               cpu_mark_non_finite};

const DevicePrimitives*& slot(Device d) {
  static const DevicePrimitives* tables[] = {&kCpu, nullptr};
  return tables[static_cast<int>(d)];
}

Device common_device(const Tensor& a, const Tensor& b, const char* what) {
  if (a.device() != b.device())
    fail_internal(std::string(what) + ": operands on " + std::string(to_string(a.device())) + " and " +
                  std::string(to_string(b.device())));
  return a.device();
}

void same_numel(const Tensor& a, const Tensor& b, const char* what) {
  if (a.numel() != b.numel())
    fail_internal(std::string(what) + ": " + to_string(a.shape()) + " and " + to_string(b.shape()) + " differ in size");
}

}  // namespace

const DevicePrimitives& primitives(Device device) {
  register_device(device);
  const DevicePrimitives* t = slot(device);
  if (!t)
    fail_internal("no device primitives for " + std::string(to_string(device)) + ": " +
                  device_unavailable_reason(device));
  return *t;
}

void register_primitives(Device device, const DevicePrimitives* table) { slot(device) = table; }

void copy_between(float* dst, Device dst_device, const float* src, Device src_device, int64_t n) {
  if (dst_device == src_device) return primitives(dst_device).copy(dst, src, n);
  if (dst_device == Device::cpu) return primitives(src_device).to_host(dst, src, n);
  if (src_device == Device::cpu) return primitives(dst_device).from_host(dst, src, n);
  std::vector<float> staging(static_cast<size_t>(n));
  primitives(src_device).to_host(staging.data(), src, n);
  primitives(dst_device).from_host(dst, staging.data(), n);
}

std::vector<double> DeviceDoubles::read() const {
  std::vector<double> out(static_cast<size_t>(size()));
  primitives(device()).to_host(reinterpret_cast<float*>(out.data()), storage_.raw(), storage_.numel());
  return out;
}

void DeviceDoubles::set(int64_t i, double value) {
  if (i < 0 || i >= size())
    fail_internal("DeviceDoubles::set: index " + std::to_string(i) + " of " + std::to_string(size()));
  primitives(device()).from_host(storage_.raw() + 2 * i, reinterpret_cast<const float*>(&value), 2);
}

void axpy(float a, const Tensor& x, Tensor& y) {
  same_numel(x, y, "axpy");
  primitives(common_device(x, y, "axpy")).axpy(a, x.raw(), y.raw(), y.numel());
}
void scale(Tensor& x, float a) { primitives(x.device()).scale(x.raw(), x.numel(), a); }
double sum(const Tensor& x) { return primitives(x.device()).sum(x.raw(), x.numel()); }
int64_t first_non_finite(const Tensor& x) { return primitives(x.device()).first_non_finite(x.raw(), x.numel()); }
void clamp(Tensor& x, float lo, float hi) { primitives(x.device()).clamp(x.raw(), x.numel(), lo, hi); }

int64_t count_top_k(const Tensor& logits, const Tensor& targets, int64_t rows, int64_t top) {
  same_numel(logits, targets, "count_top_k");
  if (logits.ndim() != 2 || rows > logits.dim(0))
    fail_internal("count_top_k: " + std::to_string(rows) + " rows of " + to_string(logits.shape()));
  return primitives(common_device(logits, targets, "count_top_k"))
      .count_top_k(logits.raw(), targets.raw(), rows, logits.dim(1), top);
}

double weight_penalty(const Tensor& w, Tensor* grad, double l1, double l2) {
  if (grad) {
    same_numel(w, *grad, "weight_penalty");
    common_device(w, *grad, "weight_penalty");
  }
  return primitives(w.device()).weight_penalty(w.raw(), grad ? grad->raw() : nullptr, w.numel(), l1, l2);
}

}  // namespace sf
