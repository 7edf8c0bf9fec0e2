// global_avgpool on the CPU: oneDNN 2.6 average pooling with an H×W window (dst [N,C,1,1], the same memory as
// [N,C]), and OpenMP loops — one pass over x, vectorised along the contiguous axis (the channels in NHWC, the
// map in NCHW, or across channels for short NCHW maps). The loops rank first (bench_ops mn_gap*, batch 64,
// forward / backward):
//   MobileNet's last map, 1024 × 2×2, 2 threads, quiet machine:
//     nhwc: loops 15 / 16 µs, oneDNN 41 / 109 µs;   nchw: loops 77 / 75–120 µs, oneDNN 673–734 / 1010–1100 µs
//   32 × 32×32 (long maps, both bandwidth-bound), 2 threads:
//     nhwc: loops 179 / 196 µs, oneDNN 185 / 370 µs;   nchw: loops 172 / 220 µs, oneDNN 504 / 852 µs
//   (1 thread: nhwc 358–369 / 353–404 vs 340–344 / 716–736 µs; nchw 309–340 / 372–394 vs 851–888 / 1666–1751)
// so they support every shape (level with oneDNN at worst, where both stream x at memory speed).
#include "ops/global_avgpool.h"

#include <algorithm>

#include "core/parallel.h"
#include "ops/cpu/dnnl_pooling.h"
#include "ops/cpu/kernels.h"

namespace sf::onednn {
namespace {

using namespace dnnl;
using tag = memory::format_tag;

class GlobalAvgPool final : public AvgPoolingOp<GlobalAvgPoolOp> {
 public:
  using AvgPoolingOp::AvgPoolingOp;

  Shape prepare(std::span<const Shape> in) override {
    Shape out = GlobalAvgPoolOp::prepare(in);
    const tag t = g_.nhwc ? tag::nhwc : tag::nchw;
    const memory::desc src({g_.n, g_.c, g_.h, g_.w}, memory::data_type::f32, t);
    const memory::desc dst({g_.n, g_.c, 1, 1}, memory::data_type::f32, t);
    const memory::dims window{g_.h, g_.w}, strides{1, 1}, pad{0, 0};
    p_.create(src, dst, strides, window, pad, pad);
    return out;
  }
};

constexpr int64_t kGrainFloats = 65536;  // floats of x below which one thread is faster (as the activations)
constexpr int64_t kShortMap = 16;        // NCHW maps shorter than this are summed across channels

class GlobalAvgPoolLoops final : public GlobalAvgPoolOp {
 public:
  using GlobalAvgPoolOp::GlobalAvgPoolOp;
  const char* impl() const override { return "loops"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->data();
    float* y = out.data();
    const int64_t C = g_.c, HW = g_.hw();
    const float inv = 1.0f / static_cast<float>(HW);
    const bool nhwc = g_.nhwc;
    parallel_for(g_.n, grain(), [=](int64_t lo, int64_t hi, int) {
      for (int64_t n = lo; n < hi; ++n) {
        const float* __restrict xn = x + n * C * HW;
        float* __restrict yn = y + n * C;
        if (nhwc) {  // sum the HW rows of C channels
          for (int64_t c = 0; c < C; ++c) yn[c] = 0.0f;
          for (int64_t s = 0; s < HW; ++s) {
            const float* __restrict row = xn + s * C;
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) yn[c] += row[c];
          }
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) yn[c] *= inv;
        } else if (HW < kShortMap) {  // short maps (MobileNet's last, 2×2): vectorised across channels
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            float acc = 0.0f;
            for (int64_t s = 0; s < HW; ++s) acc += xn[c * HW + s];
            yn[c] = acc * inv;
          }
        } else {  // one contiguous map per channel
          for (int64_t c = 0; c < C; ++c) {
            const float* __restrict map = xn + c * HW;
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int64_t s = 0; s < HW; ++s) acc += map[s];
            yn[c] = acc * inv;
          }
        }
      }
    });
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const float* dy = gout.data();
    float* dx = gin[0]->data();
    const int64_t C = g_.c, HW = g_.hw();
    const float inv = 1.0f / static_cast<float>(HW);
    const bool nhwc = g_.nhwc;
    parallel_for(g_.n, grain(), [=](int64_t lo, int64_t hi, int) {
      for (int64_t n = lo; n < hi; ++n) {
        const float* __restrict dyn = dy + n * C;
        float* __restrict dxn = dx + n * C * HW;
        if (nhwc) {
          for (int64_t s = 0; s < HW; ++s)
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) dxn[s * C + c] = dyn[c] * inv;
        } else {
          for (int64_t c = 0; c < C; ++c) {
            const float v = dyn[c] * inv;
#pragma omp simd
            for (int64_t s = 0; s < HW; ++s) dxn[c * HW + s] = v;
          }
        }
      }
    });
  }

 private:
  int64_t grain() const { return std::max<int64_t>(1, kGrainFloats / std::max<int64_t>(1, g_.c * g_.hw())); }
};

}  // namespace

OpPtr make_global_avgpool(const Attrs& a) { return std::make_unique<GlobalAvgPool>(a); }
OpPtr make_global_avgpool_loops(const Attrs& a) { return std::make_unique<GlobalAvgPoolLoops>(a); }

}  // namespace sf::onednn
