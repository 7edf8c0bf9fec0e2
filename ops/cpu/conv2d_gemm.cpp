// Convolution for the small-channel convolutions of the Liu nets (1→6 and 6→12 channels, 5×5, 28- and
// 12-pixel maps) as per-image im2col + a register-blocked micro-GEMM (ops/cpu/microgemm.h). Hand-written
// because oneDNN 2.6 has no good kernel for these shapes: with plain NCHW it runs per-image im2col + sgemm
// through its generic path (measured ≈ 300 µs for a batch-50 conv1 forward on 2 cores, ≈ 14 GMAC/s), and its
// fast blocked kernels pad channels to 16 (2.7× wasted work for 6) and need reorders around every op.
// Any stride and padding compute correctly; the registry chooses this kernel only inside
// conv2d_gemm_supports() (end of file: the shapes it was measured on) and oneDNN everywhere else.
//
// Determinism: the weight gradient sums per-chunk partials (fixed 25-image chunks of the batch, not per
// thread) in chunk order, so the result is the same for any number of threads.
// The row segments copied here are 5–28 floats: as library memmove/memset calls they cost more than the
// GEMM itself, so keep GCC from turning the plain loops back into such calls.
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "ops/conv2d.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/microgemm.h"
#include "ops/shape_check.h"

namespace sf::onednn {
namespace {

using microgemm::round_up32;

// Images per weight-gradient partial: large enough to amortise the per-tile horizontal sums, small enough
// that a 50-image batch still splits across threads when the op runs multi-threaded.
constexpr int64_t kChunk = 25;

class GemmConv2d final : public Conv2dOp {
 public:
  using Conv2dOp::Conv2dOp;
  const char* impl() const override { return "gemm"; }

  Shape prepare(std::span<const Shape> in) override {
    Shape out = Conv2dOp::prepare(in);
    expect(g_.groups == 1 && !g_.nhwc, "conv2d", "the gemm kernel takes only groups 1 and layout nchw");
    k_ = g_.c * g_.kh * g_.kw;
    p_ = g_.oh * g_.ow;
    ppad_ = round_up32(p_);
    kpad_ = round_up32(k_);
    // Per-thread scratch, reused by each pass: forward = col [K][Ppad] + tile [O][Ppad]; backward data =
    // dcol [K][Ppad] + padded dY [O][Ppad]; backward weights = im2row [P][Kpad].
    scratch_per_thread_ = std::max((k_ + g_.o) * ppad_, p_ * kpad_);
    const int64_t chunks = (g_.n + kChunk - 1) / kChunk;
    partial_w_.assign(chunks * g_.o * kpad_, 0.0f);
    partial_b_.assign(chunks * g_.o, 0.0f);
    wt_.assign(k_ * g_.o, 0.0f);
    // Unpadded stride-1 convolutions skip im2col: computed over "wide" rows (all W columns, the last KW−1
    // discarded), row k = (c,u,v) of the GEMM's B is the input itself shifted by (c·H + u)·W + v.
    qpad_ = round_up32(g_.oh * g_.w);
    const int64_t overread = qpad_ - g_.oh * g_.w + g_.kw - 1;  // floats read past the image
    wide_ = g_.stride == 1 && g_.pad == 0 && overread <= Storage::kSlackFloats;
    off_.clear();
    for (int64_t c = 0; c < g_.c; ++c)
      for (int64_t u = 0; u < g_.kh; ++u)
        for (int64_t v = 0; v < g_.kw; ++v) off_.push_back((c * g_.h + u) * g_.w + v);
    if (wide_) scratch_per_thread_ = std::max({scratch_per_thread_, (k_ + g_.o) * qpad_, kChunk * g_.o * qpad_});
    // Output rows a multiple of 8 wide: forward and weight gradient cover them exactly in 8-float blocks.
    blocks_ = wide_ && g_.ow % 8 == 0;
    boff_.clear(), block8_.clear(), dy_rows_.clear();
    if (blocks_) {
      for (int64_t i = 0; i < g_.oh; ++i)
        for (int64_t j = 0; j < g_.ow; j += 8) boff_.push_back(i * g_.w + j), block8_.push_back(i * g_.ow + j);
      for (int64_t o = 0; o < g_.o; ++o) dy_rows_.push_back(o * p_);
    }
    // Wide data gradient: dcol rows sit in zero margins wide enough for every tap's shift, so each input
    // element gathers its taps with plain (unconditional) loads; see backward_data.
    plane16_ = (g_.h * g_.w + 15) / 16 * 16;
    margin_ = ((g_.kh - 1) * g_.w + g_.kw - 1 + 15) / 16 * 16;
    gather_stride_ = margin_ + std::max(qpad_, plane16_);
    dcol_.clear();
    scratch_.clear();
    threads_ = 0;
    return out;
  }

  // Y[O][P] = W[O][K] · col[K][P] per image, + bias.
  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float* x = in[0]->data();
    const float* w = in[1]->data();
    const float* b = g_.bias ? in[2]->data() : nullptr;
    float* y = out.data();
    ensure_scratch();
    if (blocks_) {
      const int64_t image = g_.c * g_.h * g_.w, blocks = static_cast<int64_t>(boff_.size());
      parallel_for(g_.n, 2, [&](int64_t lo, int64_t hi, int) {
        for (int64_t n = lo; n < hi; ++n)
          microgemm::gemm_blocks(g_.o, blocks, k_, w, k_, x + n * image, off_.data(), boff_.data(), b,
                                 y + n * g_.o * p_, p_, block8_.data());
      });
      return;
    }
    if (wide_) return forward_wide(x, w, b, y);
    parallel_for(g_.n, 2, [&](int64_t lo, int64_t hi, int slot) {
      for (int64_t n = lo; n < hi; ++n) {
        float* col = scratch(slot);
        float* tile = col + k_ * ppad_;  // [O][Ppad]
        im2col(x + n * g_.c * g_.h * g_.w, col);
        microgemm::gemm(g_.o, ppad_, k_, w, k_, col, ppad_, tile, ppad_, false);
        for (int64_t o = 0; o < g_.o; ++o) {
          float* yo = y + (n * g_.o + o) * p_;
          const float* t = tile + o * ppad_;
          const float bo = b ? b[o] : 0.0f;
          for (int64_t p = 0; p < p_; ++p) yo[p] = t[p] + bo;
        }
      }
    });
  }

  void forward_wide(const float* x, const float* w, const float* b, float* y) {
    parallel_for(g_.n, 2, [&](int64_t lo, int64_t hi, int slot) {
      for (int64_t n = lo; n < hi; ++n) {
        float* tile = scratch(slot);  // [O][Qpad], row q = i·W + j
        microgemm::gemm_offsets(g_.o, qpad_, k_, w, k_, x + n * g_.c * g_.h * g_.w, off_.data(), tile, qpad_);
        for (int64_t o = 0; o < g_.o; ++o) {
          const float bo = b ? b[o] : 0.0f;
          for (int64_t i = 0; i < g_.oh; ++i) {
            float* yr = y + ((n * g_.o + o) * g_.oh + i) * g_.ow;
            const float* t = tile + o * qpad_ + i * g_.w;
            for (int64_t j = 0; j < g_.ow; ++j) yr[j] = t[j] + bo;
          }
        }
      }
    });
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (gin[0]) backward_data(*in[1], gout, *gin[0]);
    if (gin[1] || (g_.bias && gin[2])) backward_weights(*in[0], gout, gin[1], g_.bias ? gin[2] : nullptr);
  }

 private:
  // One slot per thread parallel_for may use: one inside a data-parallel shard (nested regions run on the
  // calling thread), else the OpenMP thread count, which a caller may raise after prepare(). Allocated on
  // first use, not in prepare(), so a shard's op never holds slots it cannot use.
  void ensure_scratch() {
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (threads > threads_ || scratch_.empty()) {
      threads_ = std::max(threads, threads_);
      scratch_.assign(threads_ * scratch_per_thread_, 0.0f);
      // Only the GEMM writes dcol_, and only inside the margins: they stay zero.
      if (wide_) dcol_.assign(threads_ * k_ * gather_stride_, 0.0f);
    }
  }
  float* scratch(int slot) { return scratch_.data() + slot * scratch_per_thread_; }

  // Range of output columns j whose input column j·s + v − p lies inside the image.
  std::pair<int64_t, int64_t> valid_cols(int64_t v) const {
    int64_t j0 = 0, j1 = g_.ow;
    while (j0 < j1 && j0 * g_.stride + v - g_.pad < 0) ++j0;
    while (j1 > j0 && (j1 - 1) * g_.stride + v - g_.pad >= g_.w) --j1;
    return {j0, j1};
  }

  // col[(c,u,v)][(i,j)] = x[c][i·s+u−p][j·s+v−p] (0 outside the image); pad columns stay 0. Bounds are
  // resolved per row segment, so the inner loop is a plain (for stride 1, contiguous) copy.
  void im2col(const float* x, float* col) const {
    for (int64_t c = 0; c < g_.c; ++c)
      for (int64_t u = 0; u < g_.kh; ++u)
        for (int64_t v = 0; v < g_.kw; ++v) {
          float* row = col + ((c * g_.kh + u) * g_.kw + v) * ppad_;
          const auto [j0, j1] = valid_cols(v);
          for (int64_t i = 0; i < g_.oh; ++i) {
            const int64_t r = i * g_.stride + u - g_.pad;
            float* dst = row + i * g_.ow;
            if (r < 0 || r >= g_.h) {
              for (int64_t j = 0; j < g_.ow; ++j) dst[j] = 0.0f;
              continue;
            }
            for (int64_t j = 0; j < j0; ++j) dst[j] = 0.0f;
            const float* src = x + (c * g_.h + r) * g_.w + v - g_.pad;
            if (g_.stride == 1)
              for (int64_t j = j0; j < j1; ++j) dst[j] = src[j];
            else
              for (int64_t j = j0; j < j1; ++j) dst[j] = src[j * g_.stride];
            for (int64_t j = j1; j < g_.ow; ++j) dst[j] = 0.0f;
          }
        }
  }

  // dY of image n in the wide layout [O][Qpad] (row q = i·W + j), zero in the discarded columns.
  void widen(const float* dyn, float* d) const {
    for (int64_t o = 0; o < g_.o; ++o, d += qpad_) {
      for (int64_t i = 0; i < g_.oh; ++i) {
        for (int64_t j = 0; j < g_.ow; ++j) d[i * g_.w + j] = dyn[(o * g_.oh + i) * g_.ow + j];
        for (int64_t j = g_.ow; j < g_.w; ++j) d[i * g_.w + j] = 0.0f;
      }
      for (int64_t q = g_.oh * g_.w; q < qpad_; ++q) d[q] = 0.0f;
    }
  }

  // dcol[K][P] = Wᵀ[K][O] · dY[O][P], then dx = col2im(dcol) (scatter-add of the im2col mapping).
  // Wide layout: dx[c][p] = Σ_{u,v} dcol[(c,u,v)][p − off(u,v)], a gather: each 16-float block of dx sums its
  // KH·KW shifted dcol loads in registers and is stored once. (The scatter form — add each dcol row into dx at
  // its offset — writes rows that overlap one float apart, and the misaligned store-to-load forwarding made it
  // cost as much as the GEMM.) Shifts that fall before row 0 or past the last output row read the zero
  // margins; the wide rows' discarded columns are zero because dY is zero there.
  void backward_data(const Tensor& wt, const Tensor& gout, Tensor& gin) {
    const float* w = wt.data();
    for (int64_t o = 0; o < g_.o; ++o)
      for (int64_t k = 0; k < k_; ++k) wt_[k * g_.o + o] = w[o * k_ + k];
    const float* dy = gout.data();
    float* dx = gin.data();
    ensure_scratch();
    if (wide_) {
      const int64_t plane = g_.h * g_.w, taps = g_.kh * g_.kw;
      parallel_for(g_.n, 2, [&](int64_t lo, int64_t hi, int slot) {
        float* dcol = dcol_.data() + slot * k_ * gather_stride_;  // [K][margin | Qpad | zeros]
        float* dyw = scratch(slot);                               // [O][Qpad]
        for (int64_t n = lo; n < hi; ++n) {
          if (blocks_) {  // only the kept columns of each wide row; the discarded ones stay zero
            microgemm::gemm_blocks(k_, static_cast<int64_t>(boff_.size()), g_.o, wt_.data(), g_.o, dy + n * g_.o * p_,
                                   dy_rows_.data(), block8_.data(), nullptr, dcol + margin_, gather_stride_,
                                   boff_.data());
          } else {
            widen(dy + n * g_.o * p_, dyw);
            microgemm::gemm(k_, qpad_, g_.o, wt_.data(), g_.o, dyw, qpad_, dcol + margin_, gather_stride_, false);
          }
          for (int64_t c = 0; c < g_.c; ++c) {
            const float* rows = dcol + c * taps * gather_stride_ + margin_;
            float* dxc = dx + (n * g_.c + c) * plane;
            // Four 16-float blocks at a time: four independent add chains instead of one.
            for (int64_t b0 = 0; b0 < plane16_; b0 += 4 * 16) {
              const int blocks = static_cast<int>(std::min<int64_t>(4, (plane16_ - b0) / 16));
              microgemm::v16 acc[4] = {};
              for (int64_t t = 0; t < taps; ++t) {
                const float* row = rows + t * gather_stride_ + b0 - off_[t];
                for (int j = 0; j < 4; ++j)
                  if (j < blocks) acc[j] += microgemm::load(row + 16 * j);
              }
              for (int j = 0; j < blocks; ++j) {
                const int64_t p0 = b0 + 16 * j;
                if (p0 + 16 <= plane)
                  microgemm::store(dxc + p0, acc[j]);
                else
                  std::memcpy(dxc + p0, &acc[j], sizeof(float) * (plane - p0));
              }
            }
          }
        }
      });
      return;
    }
    parallel_for(g_.n, 2, [&](int64_t lo, int64_t hi, int slot) {
      for (int64_t n = lo; n < hi; ++n) {
        float* dcol = scratch(slot);
        float* dyp = dcol + k_ * ppad_;  // dY padded to [O][Ppad]
        for (int64_t o = 0; o < g_.o; ++o)
          for (int64_t p = 0; p < p_; ++p) dyp[o * ppad_ + p] = dy[(n * g_.o + o) * p_ + p];
        microgemm::gemm(k_, ppad_, g_.o, wt_.data(), g_.o, dyp, ppad_, dcol, ppad_, false);
        float* dxn = dx + n * g_.c * g_.h * g_.w;
        std::fill(dxn, dxn + g_.c * g_.h * g_.w, 0.0f);
        for (int64_t c = 0; c < g_.c; ++c)
          for (int64_t u = 0; u < g_.kh; ++u)
            for (int64_t v = 0; v < g_.kw; ++v) {
              const float* row = dcol + ((c * g_.kh + u) * g_.kw + v) * ppad_;
              for (int64_t i = 0; i < g_.oh; ++i) {
                const int64_t r = i * g_.stride + u - g_.pad;
                if (r < 0 || r >= g_.h) continue;
                float* dst = dxn + (c * g_.h + r) * g_.w;
                for (int64_t j = 0; j < g_.ow; ++j) {
                  const int64_t s = j * g_.stride + v - g_.pad;
                  if (s >= 0 && s < g_.w) dst[s] += row[i * g_.ow + j];
                }
              }
            }
      }
    });
  }

  // dW[O][K] = Σ_n dY_n[O][P] · im2row_n[P][K];  db[o] = Σ_{n,p} dY[n,o,p]
  void backward_weights(const Tensor& xt, const Tensor& gout, Tensor* gw, Tensor* gb) {
    const float* x = xt.data();
    const float* dy = gout.data();
    const int64_t chunks = (g_.n + kChunk - 1) / kChunk, wsize = g_.o * kpad_;
    ensure_scratch();
    parallel_for(chunks, 2, [&](int64_t lo, int64_t hi, int slot) {
      for (int64_t ch = lo; ch < hi; ++ch) {
        float* dw = partial_w_.data() + ch * wsize;
        float* db = partial_b_.data() + ch * g_.o;
        float* row = scratch(slot);  // im2row [P][Kpad]
        std::fill(dw, dw + wsize, 0.0f);
        std::fill(db, db + g_.o, 0.0f);
        const int64_t n0 = ch * kChunk, count = std::min(g_.n, n0 + kChunk) - n0;
        for (int64_t n = n0; n < n0 + count; ++n) {
          const float* dyn = dy + n * g_.o * p_;
          if (gb)
            for (int64_t o = 0; o < g_.o; ++o) {
              float s = 0.0f;
              for (int64_t p = 0; p < p_; ++p) s += dyn[o * p_ + p];
              db[o] += s;
            }
          if (!gw || wide_) continue;  // the wide forms (blocks_ among them) take the whole chunk below
          im2row(x + n * g_.c * g_.h * g_.w, row);
          microgemm::gemm(g_.o, kpad_, p_, dyn, p_, row, kpad_, dw, kpad_, true);
        }
        if (gw && blocks_) {
          // dW[o][k] += Σ_{n ∈ chunk} Σ_b dY_n[o][block b] · x_n[off[k] + boff[b] : +8]: dY as it is, no widening.
          const microgemm::DotBatch group{count, g_.o * p_, g_.c * g_.h * g_.w};
          microgemm::gemm_dot_blocks(group, g_.o, k_, static_cast<int64_t>(boff_.size()), dy + n0 * g_.o * p_, p_,
                                     x + n0 * g_.c * g_.h * g_.w, off_.data(), boff_.data(), dw, kpad_);
        } else if (gw && wide_) {
          // dW[o][k] += Σ_{n ∈ chunk} Σ_q dY_wide_n[o][q] · x_n[off[k] + q]; dY_wide is zero in the discarded
          // columns, so the wide rows' extra input columns contribute nothing.
          float* dyw = row;  // [count][O][Qpad]
          for (int64_t t = 0; t < count; ++t) widen(dy + (n0 + t) * g_.o * p_, dyw + t * g_.o * qpad_);
          const microgemm::DotBatch group{count, g_.o * qpad_, g_.c * g_.h * g_.w};
          microgemm::gemm_dot_offsets(group, g_.o, k_, qpad_, dyw, qpad_, x + n0 * g_.c * g_.h * g_.w, off_.data(), dw,
                                      kpad_);
        }
      }
    });
    if (gw) {
      float* out = gw->data();
      for (int64_t o = 0; o < g_.o; ++o)
        for (int64_t k = 0; k < k_; ++k) {
          float s = 0.0f;
          for (int64_t ch = 0; ch < chunks; ++ch) s += partial_w_[ch * wsize + o * kpad_ + k];
          out[o * k_ + k] = s;
        }
    }
    if (gb)
      for (int64_t o = 0; o < g_.o; ++o) {
        float s = 0.0f;
        for (int64_t ch = 0; ch < chunks; ++ch) s += partial_b_[ch * g_.o + o];
        (*gb)[o] = s;
      }
  }

  // row[(i,j)][(c,u,v)] = x[c][i·s+u−p][j·s+v−p]: the transpose of im2col, so the weight gradient is a
  // plain GEMM with the (padded) K dimension along the vectors. Pad columns stay 0. Unpadded convolutions
  // (the Liu nets) take the branch-free path: every tap is inside the image.
  void im2row(const float* x, float* row) const {
    for (int64_t i = 0; i < g_.oh; ++i)
      for (int64_t j = 0; j < g_.ow; ++j) {
        float* dst = row + (i * g_.ow + j) * kpad_;
        const int64_t r0 = i * g_.stride - g_.pad, s0 = j * g_.stride - g_.pad;
        for (int64_t c = 0; c < g_.c; ++c)
          for (int64_t u = 0; u < g_.kh; ++u) {
            const int64_t r = r0 + u;
            const float* src = x + (c * g_.h + r) * g_.w + s0;
            if (g_.pad == 0) {
              for (int64_t v = 0; v < g_.kw; ++v) dst[v] = src[v];
            } else {
              const bool row_ok = r >= 0 && r < g_.h;
              for (int64_t v = 0; v < g_.kw; ++v) dst[v] = row_ok && s0 + v >= 0 && s0 + v < g_.w ? src[v] : 0.0f;
            }
            dst += g_.kw;
          }
      }
  }

  int64_t k_ = 0, p_ = 0, ppad_ = 0, kpad_ = 0, qpad_ = 0, scratch_per_thread_ = 0;
  int64_t plane16_ = 0, margin_ = 0, gather_stride_ = 0;  // the wide data gradient's dcol layout
  bool wide_ = false, blocks_ = false;
  std::vector<int64_t> off_;      // B-row offsets (c·H + u)·W + v of the implicit GEMM
  std::vector<int64_t> boff_;     // row blocks: offset i·W + j of output block (i, j..j+7) in the input
  std::vector<int64_t> block8_;   // ... and i·OW + j in the output
  std::vector<int64_t> dy_rows_;  // o·OH·OW: row o of dY, the data gradient's B
  int threads_ = 0;
  std::vector<float> scratch_, partial_w_, partial_b_, wt_, dcol_;
};

}  // namespace

OpPtr make_conv2d_gemm(const Attrs& a) { return std::make_unique<GemmConv2d>(a); }

// Measured region (forward + backward, batch 50, 1 thread, min of 10–30 runs on a loaded 2-core machine; the
// bench/bench_ops.cpp cases and ad hoc runs of the same kind). The row-block path is the fast one:
//   Liu small conv1 1→6 on 28×28       766 µs vs oneDNN 2,450 µs      conv2 6→12 on 12×12   960 vs 1,730 µs
//   Liu large conv1 1→16 on 28×28    1,600 µs vs 3,040 µs              conv2 16→64 on 12×12  9.9–12 ms vs 8.5–9 ms
//   6→12 5×5 on 20×20 (16-wide rows) 3,310 µs vs 11,200 µs             6→12 3×3 on 10×10      324 vs 704 µs
// while the other paths lose badly to oneDNN even on small channel counts: padded or strided (im2col) 6→12
// 5×5 pad 2 on 12×12 66 ms vs 4.5 ms, 1→6 5×5 stride 2 4.2 vs 0.8 ms; wide rows not a multiple of 8 (6→12 on
// 11×11: 33 vs 1.5 ms; 16→64 on 8×8: 164 vs 2.6 ms); planes past 576 outputs (6→12 on 30×30: 296 vs 34 ms);
// and hundreds of channels (512→512 1×1 on 7×7: 31×, 256→256 3×3: 46× slower). So the kernel supports exactly
// the row-block region up to the Liu nets' sizes: stride 1, no padding, output rows a multiple of 8 wide,
// M = O ≤ 64, K = C·KH·KW ≤ 400, N = OH·OW ≤ 576. Liu large conv2 sits at the top of that range, where the
// timings above put gemm level with oneDNN at 2 threads and up to 1.3× behind at 1; it stays inside so that the
// Liu nets keep the kernel they were trained and tuned with (a clean in-step measurement should settle it).
// The kernel computes ungrouped NCHW convolutions only: its GEMM is over all input channels and its
// im2col walks NCHW planes.
const char* const kConv2dGemmCovers =
    "groups 1, layout nchw, stride 1, pad 0, out-width a multiple of 8, out-channels <= 64, "
    "in-channels*kh*kw <= 400, out-height*out-width <= 576";

bool conv2d_gemm_supports(const Attrs& a, std::span<const Shape> in) {
  if (kConv2dSchema.get_int(a, "groups") != 1 || kConv2dSchema.get_string(a, "layout") != "nchw") return false;
  if (in.size() < 2 || in[0].size() != 4 || in[1].size() != 4) return true;  // prepare() reports it
  const int64_t stride = kConv2dSchema.get_int(a, "stride"), pad = kConv2dSchema.get_int(a, "pad");
  const Shape &x = in[0], &w = in[1];
  if (stride != 1 || pad != 0) return false;
  if (x[2] < w[2] || x[3] < w[3]) return true;  // kernel larger than the input: prepare() reports it
  const int64_t oh = x[2] - w[2] + 1, ow = x[3] - w[3] + 1;
  // The row-block path's own condition (prepare(): wide_ && blocks_), then the measured sizes.
  const bool blocks = round_up32(oh * x[3]) - oh * x[3] + w[3] - 1 <= Storage::kSlackFloats && ow % 8 == 0;
  return blocks && w[0] <= 64 && w[1] * w[2] * w[3] <= 400 && oh * ow <= 576;
}

}  // namespace sf::onednn
