// Average pooling as plain OpenMP loops over (image, channel) planes. oneDNN 2.6's pooling on plain NCHW
// tensors is several times slower than a streaming loop for the Liu nets' 24×24 and 8×8 maps (see
// bench/bench_ops.cpp), and those maps are too small to amortise its blocked-layout reorders. The common
// 2×2 / stride 2 / unpadded case gets a dedicated inner loop; other geometries use the clipped-window form.
#include <algorithm>
#include <cstring>

#include "core/parallel.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/microgemm.h"
#include "ops/pool2d.h"

namespace sf::onednn {
namespace {

typedef float v4 __attribute__((vector_size(16)));

class LoopAvgPool2d final : public AvgPool2dOp {
 public:
  using AvgPool2dOp::AvgPool2dOp;
  const char* impl() const override { return "loops"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const PoolGeometry g = g_;
    const float* x = in[0]->data();
    float* y = out.data();
    const bool two = g.k == 2 && g.stride == 2 && g.pad == 0;
    parallel_for(g.n * g.c, 65536 / (g.h * g.w) + 1, [&](int64_t lo, int64_t hi, int) {
      for (int64_t nc = lo; nc < hi; ++nc) {
        const float* xp = x + nc * g.h * g.w;
        float* yp = y + nc * g.oh * g.ow;
        for (int64_t i = 0; i < g.oh; ++i) {
          if (two) {
            const float* r0 = xp + 2 * i * g.w;
            const float* r1 = r0 + g.w;
            int64_t j = 0;
            // 8 outputs from 16 inputs of each row: add the rows, then the even and odd lanes.
            for (; j + 8 <= g.ow; j += 8) {
              const microgemm::v16 s = microgemm::load(r0 + 2 * j) + microgemm::load(r1 + 2 * j);
              const microgemm::v8 even = __builtin_shufflevector(s, s, 0, 2, 4, 6, 8, 10, 12, 14);
              const microgemm::v8 odd = __builtin_shufflevector(s, s, 1, 3, 5, 7, 9, 11, 13, 15);
              microgemm::store8(yp + i * g.ow + j, 0.25f * (even + odd));
            }
            for (; j + 4 <= g.ow; j += 4) {  // the same with 4 outputs (12- and 4-wide pooled maps)
              const microgemm::v8 s = microgemm::load8(r0 + 2 * j) + microgemm::load8(r1 + 2 * j);
              const v4 pair = __builtin_shufflevector(s, s, 0, 2, 4, 6) + __builtin_shufflevector(s, s, 1, 3, 5, 7);
              const v4 out = 0.25f * pair;
              std::memcpy(yp + i * g.ow + j, &out, sizeof out);
            }
            for (; j < g.ow; ++j) yp[i * g.ow + j] = 0.25f * (r0[2 * j] + r0[2 * j + 1] + r1[2 * j] + r1[2 * j + 1]);
            continue;
          }
          for (int64_t j = 0; j < g.ow; ++j) {
            const auto [r0, r1, s0, s1] = window(i, j);
            float acc = 0.0f;
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t s = s0; s < s1; ++s) acc += xp[r * g.w + s];
            yp[i * g.ow + j] = acc / static_cast<float>((r1 - r0) * (s1 - s0));
          }
        }
      }
    });
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const>, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    if (!gin[0]) return;
    const PoolGeometry g = g_;
    const float* dy = gout.data();
    float* dx = gin[0]->data();
    const bool two = g.k == 2 && g.stride == 2 && g.pad == 0;
    parallel_for(g.n * g.c, 65536 / (g.h * g.w) + 1, [&](int64_t lo, int64_t hi, int) {
      for (int64_t nc = lo; nc < hi; ++nc) {
        float* dxp = dx + nc * g.h * g.w;
        const float* dyp = dy + nc * g.oh * g.ow;
        if (two) {
          // Windows tile the map; a last odd row or column lies in no window and gets no gradient.
          for (int64_t i = 0; i < g.oh; ++i) {
            float* r0 = dxp + 2 * i * g.w;
            float* r1 = r0 + g.w;
            int64_t j = 0;
            for (; j + 8 <= g.ow; j += 8) {  // each of 8 gradients to its 2 × 2 window: lanes duplicated
              const microgemm::v8 d = 0.25f * microgemm::load8(dyp + i * g.ow + j);
              const microgemm::v16 both = __builtin_shufflevector(d, d, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
              microgemm::store(r0 + 2 * j, both);
              microgemm::store(r1 + 2 * j, both);
            }
            for (; j + 4 <= g.ow; j += 4) {
              v4 d;
              std::memcpy(&d, dyp + i * g.ow + j, sizeof d);
              d *= 0.25f;
              const microgemm::v8 both = __builtin_shufflevector(d, d, 0, 0, 1, 1, 2, 2, 3, 3);
              microgemm::store8(r0 + 2 * j, both);
              microgemm::store8(r1 + 2 * j, both);
            }
            for (; j < g.ow; ++j) {
              const float d = 0.25f * dyp[i * g.ow + j];
              r0[2 * j] = r0[2 * j + 1] = r1[2 * j] = r1[2 * j + 1] = d;
            }
            for (int64_t s = 2 * g.ow; s < g.w; ++s) r0[s] = r1[s] = 0.0f;
          }
          for (int64_t e = 2 * g.oh * g.w; e < g.h * g.w; ++e) dxp[e] = 0.0f;
          continue;
        }
        for (int64_t e = 0; e < g.h * g.w; ++e) dxp[e] = 0.0f;
        for (int64_t i = 0; i < g.oh; ++i)
          for (int64_t j = 0; j < g.ow; ++j) {
            const auto [r0, r1, s0, s1] = window(i, j);
            const float d = dyp[i * g.ow + j] / static_cast<float>((r1 - r0) * (s1 - s0));
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t s = s0; s < s1; ++s) dxp[r * g.w + s] += d;
          }
      }
    });
  }

 private:
  struct Window {
    int64_t r0, r1, s0, s1;
  };
  // The k×k window of output (i, j), clipped to the image (padding is excluded from the mean).
  Window window(int64_t i, int64_t j) const {
    return {std::max<int64_t>(i * g_.stride - g_.pad, 0), std::min(i * g_.stride - g_.pad + g_.k, g_.h),
            std::max<int64_t>(j * g_.stride - g_.pad, 0), std::min(j * g_.stride - g_.pad + g_.k, g_.w)};
  }
};

}  // namespace

OpPtr make_avgpool2d_loops(const Attrs& a) { return std::make_unique<LoopAvgPool2d>(a); }

// Measured region (forward + backward, 1 thread, min of 20–100 runs, loaded 2-core machine; bench/bench_ops.cpp
// times pool1): the loops beat oneDNN on every shape timed —
//   2×2/2: [50, 6, 24, 24] 74 vs 1,350 µs; [50, 16, 24, 24] 200 vs 3,610 µs; [50, 64, 8, 8] 89 vs 1,730 µs;
//          [50, 64, 28, 28] 1.8 vs 36 ms; [8, 1024, 14, 14] 1.0 vs 21 ms; [8, 256, 56, 56] 5.1–7.0 vs 51–71 ms
//   other windows (clipped-window loop): 3×3/2 pad 1 on [50, 16, 24, 24] 2.3 vs 4.5 ms; 7×7 global on
//          [8, 1024, 7, 7] 0.61 vs 1.19 ms
// so they support up to the largest of those: 1024 channels, 56×56 maps. Beyond was not measured.
const char* const kAvgPool2dLoopsCovers = "channels <= 1024, height*width <= 56*56";

bool avgpool2d_loops_supports(const Attrs&, std::span<const Shape> in) {
  if (in.size() != 1 || in[0].size() != 4) return true;  // prepare() reports it
  return in[0][1] <= 1024 && in[0][2] * in[0][3] <= 56 * 56;
}

}  // namespace sf::onednn
