// batchnorm as fused, vectorised OpenMP loops: one pass for the batch statistics, one for the affine map (and
// the same two for backward), vectorised along the contiguous axis — the channels in NHWC and [N,C], each
// image's map in NCHW. See register.cpp for where they were measured against oneDNN.
//
// Statistics are sums shifted by each channel's first value (Σ(x − K), Σ(x − K)²: no cancellation when the
// mean is large against the spread), accumulated in float over fixed blocks and in double across blocks in
// block order, so the result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/parallel.h"
#include "ops/batchnorm.h"
#include "ops/cpu/kernels.h"
#include "ops/shape_check.h"

namespace sf::onednn {
namespace {

constexpr int64_t kRows = 128;           // channels-last rows per partial-sum block
constexpr int64_t kLanes = 32;           // channels-last channels summed in registers at a time
constexpr int64_t kGrainFloats = 65536;  // floats of x below which one thread is faster (as the activations)

class BatchNormLoops final : public BatchNormOp {
 public:
  using BatchNormOp::BatchNormOp;
  const char* impl() const override { return "loops"; }

  Shape prepare(std::span<const Shape> in) override {
    Shape out = BatchNormOp::prepare(in);
    const int64_t c = g_.c;
    batch_mean_.assign(c, 0.0f), batch_inv_.assign(c, 0.0f), run_mean_.assign(c, 0.0f), run_inv_.assign(c, 0.0f);
    a_.assign(c, 0.0f), b_.assign(c, 0.0f), k3_.assign(c, 0.0f), fa_.assign(c, 0.0f), fb_.assign(c, 0.0f);
    blocks_ = g_.channels_last ? (g_.m() + kRows - 1) / kRows : 0;
    partial_.assign(blocks_ * 2 * c, 0.0f);
    totals_.assign(g_.channels_last ? 0 : c, {0.0, 0.0});
    have_batch_stats_ = false;
    return out;
  }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float *x = in[0]->data(), *gamma = in[1]->data(), *beta = in[2]->data();
    if (ctx.training()) {
      std::vector<double> mean(g_.c), var(g_.c);
      sums(x, nullptr, nullptr);  // partial Σ(x − K), Σ(x − K)²
      for (int64_t c = 0; c < g_.c; ++c) {
        double s1, s2;
        reduce(c, s1, s2);
        const double m = static_cast<double>(g_.m()), d = s1 / m;
        mean[c] = shift(x, c) + d;
        var[c] = std::max(s2 / m - d * d, 0.0);
      }
      batch_count_ = merge_moments(ctx, mean, var);  // the whole batch's, under sync
      std::vector<float> var_f(g_.c);
      for (int64_t c = 0; c < g_.c; ++c) {
        batch_mean_[c] = static_cast<float>(mean[c]);
        var_f[c] = static_cast<float>(var[c]);
        batch_inv_[c] = static_cast<float>(1.0 / std::sqrt(var[c] + eps_));
      }
      have_batch_stats_ = true;
      update_running(ctx, batch_mean_.data(), var_f.data(), batch_count_);
    }
    const float *mean, *inv;
    statistics(ctx, mean, inv);
    forward_coefficients(mean, inv, gamma, beta);
    affine_forward(x, out.data());
  }

  // The affine map (and activation) again with the last forward's statistics: the same float operations,
  // so the same output bit for bit, and neither the running statistics nor a sync exchange are touched.
  bool can_recompute() const override { return true; }
  void recompute(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    expect(!ctx.training() || have_batch_stats_, "batchnorm", "train-mode recompute before a train-mode forward");
    const float *mean, *inv;
    statistics(ctx, mean, inv);
    forward_coefficients(mean, inv, in[1]->data(), in[2]->data());
    affine_forward(in[0]->data(), out.data());
  }

  // x̂ = (x − μ)·inv, dβ = Σ dy, dγ = Σ dy·x̂ = inv·Σ dy·(x − μ);
  //   train: dx = γ·inv·(dy − dβ/m − x̂·dγ/m) = k1·dy + k3·x + k2   (per channel k1, k2, k3)
  //   eval:  dx = γ·inv·dy
  // A fused activation masks dy where the output was clipped, inside both passes. The mask is recomputed from x
  // with the forward's own coefficients (the same float operations, so the same decision) rather than read
  // from the output: two fewer passes over memory in a memory-bound op (7 → 5).
  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor& out, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    (void)out;
    const float *x = in[0]->data(), *gamma = in[1]->data(), *dy = gout.data();
    const bool train = ctx.training();
    expect(!train || have_batch_stats_, "batchnorm", "train-mode backward before a train-mode forward");
    const float *mean, *inv;
    statistics(ctx, mean, inv);
    if (fused_) forward_coefficients(mean, inv, gamma, in[2]->data());
    const bool need_sums = train || gin[1] || gin[2];
    std::vector<double> s_dy(g_.c, 0.0), s_dyx(g_.c, 0.0);
    if (need_sums) {
      sums(x, dy, mean);  // partial Σ dy, Σ dy·(x − μ)
      for (int64_t c = 0; c < g_.c; ++c) reduce(c, s_dy[c], s_dyx[c]);
    }
    if (gin[1])
      for (int64_t c = 0; c < g_.c; ++c) (*gin[1])[c] = static_cast<float>(s_dyx[c] * inv[c]);
    if (gin[2])
      for (int64_t c = 0; c < g_.c; ++c) (*gin[2])[c] = static_cast<float>(s_dy[c]);
    if (!gin[0]) return;
    if (train) whole_batch_sums(ctx, s_dy, s_dyx);  // for dx, under sync
    const double m = train ? batch_count_ : static_cast<double>(g_.m());
    for (int64_t c = 0; c < g_.c; ++c) {
      const double k1 = static_cast<double>(gamma[c]) * inv[c], inv2 = static_cast<double>(inv[c]) * inv[c];
      a_[c] = static_cast<float>(k1);
      k3_[c] = train ? static_cast<float>(-k1 * inv2 * s_dyx[c] / m) : 0.0f;
      b_[c] = train ? static_cast<float>(-k1 * s_dy[c] / m + k1 * inv2 * s_dyx[c] / m * mean[c]) : 0.0f;
    }
    affine_backward(dy, x, gin[0]->data(), train);
  }

 private:
  // The mean and 1/sqrt(var + eps) of this pass: the last train-mode forward's batch statistics, or the running
  // ones (read afresh: the model may have loaded others since).
  void statistics(const ExecContext& ctx, const float*& mean, const float*& inv) {
    if (ctx.training()) {
      mean = batch_mean_.data(), inv = batch_inv_.data();
      return;
    }
    require_state();
    for (int64_t c = 0; c < g_.c; ++c) {
      run_mean_[c] = running_mean_[c];
      run_inv_[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var_[c]) + eps_));
    }
    mean = run_mean_.data(), inv = run_inv_.data();
  }

  // The forward's affine map y = fa·x + fb, fa = γ·inv, fb = β − μ·fa (before the fused activation).
  void forward_coefficients(const float* mean, const float* inv, const float* gamma, const float* beta) {
    for (int64_t c = 0; c < g_.c; ++c) fa_[c] = gamma[c] * inv[c], fb_[c] = beta[c] - mean[c] * fa_[c];
  }

  // Whether the fused activation passes the gradient at x: 0 < fa·x + fb < hi, bit for bit as the forward
  // computed y (both through std::fma, so no contraction choice of the compiler can make them differ).
  static bool live(float x, float fa, float fb, float hi) {
    const float y = std::fma(fa, x, fb);
    return (y > 0.0f) & (y < hi);
  }

  // K: channel c's first value, the shift of the statistics' sums.
  float shift(const float* x, int64_t c) const { return x[g_.at(0, c, 0)]; }

  // Σ over rows [r0, r1) of channels [c0, c0 + L): (x − k) and (x − k)² into s1, s2 (dy null), else dy and
  // dy·(x − k), dy masked where the fused activation clipped (fa non-null).
  template <int64_t L>
  void block_sums(const float* __restrict x, const float* __restrict dy, const float* __restrict fa,
                  const float* __restrict fb, const float* __restrict k, int64_t C, int64_t c0, int64_t r0,
                  int64_t r1, float* __restrict s1, float* __restrict s2) const {
    const float hi = hi_;
    float a1[L] = {}, a2[L] = {}, kc[L], ac[L], bc[L];
    for (int64_t j = 0; j < L; ++j) kc[j] = k[c0 + j], ac[j] = fa ? fa[c0 + j] : 0.0f, bc[j] = fb ? fb[c0 + j] : 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * C + c0;
      if (dy) {
        const float* dr = dy + r * C + c0;
        if (fa) {
#pragma omp simd
          for (int64_t j = 0; j < L; ++j) {
            const float d = live(xr[j], ac[j], bc[j], hi) ? dr[j] : 0.0f;
            a1[j] += d, a2[j] += d * (xr[j] - kc[j]);
          }
          continue;
        }
#pragma omp simd
        for (int64_t j = 0; j < L; ++j) a1[j] += dr[j], a2[j] += dr[j] * (xr[j] - kc[j]);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < L; ++j) {
          const float d = xr[j] - kc[j];
          a1[j] += d, a2[j] += d * d;
        }
      }
    }
    for (int64_t j = 0; j < L; ++j) s1[c0 + j] = a1[j], s2[c0 + j] = a2[j];
  }

  // Partial sums per block (channels last: a block of kRows rows; NCHW: one channel). With dy null:
  // Σ(x − K), Σ(x − K)²; else Σ dy, Σ dy·(x − μ).
  void sums(const float* x, const float* dy, const float* mu) {
    const int64_t C = g_.c, HW = g_.hw, N = g_.n, R = g_.m();
    const float* fa = dy && fused_ ? fa_.data() : nullptr;
    const float* fb = dy && fused_ ? fb_.data() : nullptr;
    float* part = partial_.data();
    std::pair<double, double>* tot = totals_.data();
    if (g_.channels_last) {
      std::vector<float> k(C);
      for (int64_t c = 0; c < C; ++c) k[c] = dy ? mu[c] : x[c];
      const float* kk = k.data();
      parallel_for(blocks_, std::max<int64_t>(1, kGrainFloats / (kRows * C)), [=, this](int64_t lo, int64_t hi, int) {
        for (int64_t blk = lo; blk < hi; ++blk) {
          const int64_t r0 = blk * kRows, r1 = std::min(R, (blk + 1) * kRows);
          float* s1 = part + blk * 2 * C;
          float* s2 = s1 + C;
          // kLanes channels at a time, their sums in registers across the block's rows (summing into s1 / s2
          // row by row would load and store them for every element); then 16 and 8, so that MobileNet α 0.5's
          // 16-channel maps do not fall to one channel at a time (measured 2× slower per byte than 32
          // channels). Each channel's sum runs over the rows in order whatever the width: the same result.
          int64_t c0 = 0;
          for (; c0 + kLanes <= C; c0 += kLanes) block_sums<kLanes>(x, dy, fa, fb, kk, C, c0, r0, r1, s1, s2);
          for (; c0 + 16 <= C; c0 += 16) block_sums<16>(x, dy, fa, fb, kk, C, c0, r0, r1, s1, s2);
          for (; c0 + 8 <= C; c0 += 8) block_sums<8>(x, dy, fa, fb, kk, C, c0, r0, r1, s1, s2);
          for (; c0 < C; ++c0) block_sums<1>(x, dy, fa, fb, kk, C, c0, r0, r1, s1, s2);
        }
      });
    } else {  // NCHW: channel c's N maps of HW floats; float sums per map, double across maps
      const float hi_clip = hi_;
      parallel_for(C, std::max<int64_t>(1, kGrainFloats / std::max<int64_t>(1, R)), [=](int64_t lo, int64_t hi, int) {
        for (int64_t c = lo; c < hi; ++c) {
          const float k = dy ? mu[c] : x[c * HW];
          const float ac = fa ? fa[c] : 0.0f, bc = fb ? fb[c] : 0.0f;
          double t1 = 0, t2 = 0;
          for (int64_t n = 0; n < N; ++n) {
            const float* __restrict xm = x + (n * C + c) * HW;
            float a1 = 0.0f, a2 = 0.0f;
            if (dy) {
              const float* __restrict dm = dy + (n * C + c) * HW;
              if (fa) {
#pragma omp simd reduction(+ : a1, a2)
                for (int64_t s = 0; s < HW; ++s) {
                  const float d = live(xm[s], ac, bc, hi_clip) ? dm[s] : 0.0f;
                  a1 += d, a2 += d * (xm[s] - k);
                }
              } else {
#pragma omp simd reduction(+ : a1, a2)
                for (int64_t s = 0; s < HW; ++s) a1 += dm[s], a2 += dm[s] * (xm[s] - k);
              }
            } else {
#pragma omp simd reduction(+ : a1, a2)
              for (int64_t s = 0; s < HW; ++s) {
                const float d = xm[s] - k;
                a1 += d, a2 += d * d;
              }
            }
            t1 += a1, t2 += a2;
          }
          tot[c] = {t1, t2};
        }
      });
    }
  }

  // Channel c's totals from the partial sums, in block order.
  void reduce(int64_t c, double& s1, double& s2) const {
    if (!g_.channels_last) {
      s1 = totals_[c].first, s2 = totals_[c].second;
      return;
    }
    s1 = 0, s2 = 0;
    const int64_t C = g_.c;
    for (int64_t blk = 0; blk < blocks_; ++blk) s1 += partial_[blk * 2 * C + c], s2 += partial_[blk * 2 * C + C + c];
  }

  // Forward: out = fa·x + fb per channel, then the fused activation.
  void affine_forward(const float* x, float* out) const {
    if (fused_) return affine_pass<true, false, false>(x, x, out, fa_.data(), nullptr, fb_.data());
    affine_pass<false, false, false>(x, x, out, fa_.data(), nullptr, fb_.data());
  }

  // Backward: dx = a·dy' + k3·x + b (train) or a·dy' (eval: b is 0), dy' = dy masked where the fused
  // activation clipped.
  void affine_backward(const float* dy, const float* x, float* dx, bool train) const {
    const float *a = a_.data(), *k3 = k3_.data(), *b = b_.data();
    if (fused_ && train) return affine_pass<false, true, true>(dy, x, dx, a, k3, b);
    if (fused_) return affine_pass<false, false, true>(dy, x, dx, a, k3, b);
    if (train) return affine_pass<false, true, false>(dy, x, dx, a, k3, b);
    affine_pass<false, false, false>(dy, x, dx, a, k3, b);
  }

  // out = a·u' + (Train ? k3·x : 0) + b per channel, u' = u masked where fa·x + fb is clipped (Masked), the
  // result clipped to [0, hi] (Clip).
  template <bool Clip, bool Train, bool Masked>
  void affine_pass(const float* u, const float* x, float* out, const float* a, const float* k3,
                   const float* b) const {
    const int64_t C = g_.c, HW = g_.hw, R = g_.m();
    const float hi = hi_;
    const float *fa = fa_.data(), *fb = fb_.data();
    if (g_.channels_last) {
      parallel_for(R, std::max<int64_t>(1, kGrainFloats / C), [=](int64_t r_lo, int64_t r_hi, int) {
        const float* __restrict as = a;
        const float* __restrict bs = b;
        const float* __restrict ks = k3;
        const float* __restrict fas = fa;
        const float* __restrict fbs = fb;
        for (int64_t r = r_lo; r < r_hi; ++r) {
          const float* __restrict ur = u + r * C;
          const float* __restrict xr = x + r * C;
          float* __restrict o = out + r * C;
#pragma omp simd
          for (int64_t c = 0; c < C; ++c) {
            const float g = !Masked || live(xr[c], fas[c], fbs[c], hi) ? ur[c] : 0.0f;
            float v = std::fma(as[c], g, bs[c]);
            if constexpr (Train) v += ks[c] * xr[c];
            if constexpr (Clip) v = std::min(std::max(v, 0.0f), hi);
            o[c] = v;
          }
        }
      });
    } else {
      const int64_t maps = g_.n * C;
      parallel_for(maps, std::max<int64_t>(1, kGrainFloats / std::max<int64_t>(1, HW)),
                   [=](int64_t m_lo, int64_t m_hi, int) {
                     for (int64_t nc = m_lo; nc < m_hi; ++nc) {
                       const int64_t c = nc % C;
                       const float ac = a[c], bc = b[c], kc = Train ? k3[c] : 0.0f, fac = fa[c], fbc = fb[c];
                       const float* __restrict um = u + nc * HW;
                       const float* __restrict xm = x + nc * HW;
                       float* __restrict o = out + nc * HW;
#pragma omp simd
                       for (int64_t s = 0; s < HW; ++s) {
                         const float g = !Masked || live(xm[s], fac, fbc, hi) ? um[s] : 0.0f;
                         float v = std::fma(ac, g, bc);
                         if constexpr (Train) v += kc * xm[s];
                         if constexpr (Clip) v = std::min(std::max(v, 0.0f), hi);
                         o[s] = v;
                       }
                     }
                   });
    }
  }

  std::vector<float> batch_mean_, batch_inv_;  // of the last train-mode forward, for its backward
  std::vector<float> run_mean_, run_inv_;      // from the running statistics, per eval-mode pass
  std::vector<float> a_, b_, k3_;              // per-channel coefficients of the backward's affine pass
  std::vector<float> fa_, fb_;                 // the forward's affine map (its mask in backward)
  int64_t blocks_ = 0;
  std::vector<float> partial_;                     // channels last: [blocks][2][C]
  std::vector<std::pair<double, double>> totals_;  // NCHW: per channel
  bool have_batch_stats_ = false;
  double batch_count_ = 0;  // values per channel the batch statistics cover (every process's, under sync)
};

}  // namespace

OpPtr make_batchnorm_loops(const Attrs& a) { return std::make_unique<BatchNormLoops>(a); }

// Measured against oneDNN 2.6 (bench_ops BM_mn_bn_sweep: train-mode forward + backward, batch 64, every MobileNet
// v1 map at CIFAR strides; loops vs oneDNN, ms):
//                 32×32²      64×32²      128×16²     256×8²       512×4²       1024×2²
//   nhwc 2 thr    1.59/2.19   4.05/4.57   1.47/2.15   0.69/1.06    0.31/0.51    0.13/0.26
//        1 thr    4.0/4.6     8.9/10.2    3.2/4.7     1.36/2.13    0.67/1.05    0.29/0.50
//   nchw 2 thr    1.48/7.67   3.38/15.5   1.42/8.46   0.98/4.01    1.07/2.17    (2×2: see below)
//        1 thr    3.3/12.7    10.2/40.5   3.1/16.2    1.9/7.4      1.7/3.2      2.7/2.1 ← 4-float maps lose
//   [N,C] 256: 0.01/0.17, 1024: 0.05/0.80 (2 threads; oneDNN's nc path is slow)
// (1-thread figures are CPU time on a shared machine). So the loops take channels-last input and NCHW maps of
// at least 16 floats, up to the measured 1024 channels and 32×32 maps.
const char* const kBatchNormLoopsCovers =
    "any shape with a fused activation or sync; otherwise channels <= 1024; nhwc or [N,C] with height*width <= 32*32; nchw "
    "with 16 <= height*width <= 32*32";

bool batchnorm_loops_supports(const Attrs& a, std::span<const Shape> in) {
  if (in.empty() || (in[0].size() != 2 && in[0].size() != 4)) return true;  // prepare() reports it
  // With a fused activation the alternative is the reference kernel (oneDNN 2.6 fuses only ReLU, and not in
  // our backward's form): these loops take every shape then. MobileNet at 224 has 112×112 maps.
  if (kBatchNormSchema.get_string(a, "activation") != "none") return true;
  if (kBatchNormSchema.get_int(a, "sync") != 0) return true;  // oneDNN computes its statistics alone
  const Shape& x = in[0];
  if (x.size() == 2) return x[1] <= 1024;
  const bool nhwc = kBatchNormSchema.get_string(a, "layout") == "nhwc";
  const int64_t c = nhwc ? x[3] : x[1], hw = nhwc ? x[1] * x[2] : x[2] * x[3];
  return c <= 1024 && hw <= 32 * 32 && (nhwc || hw >= 16);
}

}  // namespace sf::onednn
