// dense on cuBLAS. Our tensors are row-major and cuBLAS is column-major, so each product is written for the
// transposed (column-major) views: x [N,I] row-major is xᶜ [I,N], w [O,I] is wᶜ [I,O], y [N,O] is yᶜ [O,N].
//   forward   yᶜ = wᶜᵀ · xᶜ            (then + b per column)
//   dx        dxᶜ = wᶜ · dyᶜ
//   dw        dwᶜ = xᶜ · dyᶜᵀ
//   db[o]     = Σ_n dy[n,o]            (own kernel: one thread per output, summed in batch order)
#include "core/cuda/elementwise.cuh"
#include "ops/cuda/handles.h"
#include "ops/cuda/kernels.h"
#include "ops/dense.h"

namespace sf::cuda {
namespace {

__global__ void bias_sum(const float* dy, float* db, int64_t n, int64_t out) {
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < out; o += int64_t(gridDim.x) * blockDim.x) {
    double acc = 0.0;
    for (int64_t r = 0; r < n; ++r) acc += dy[r * out + o];
    db[o] = static_cast<float>(acc);
  }
}

class DenseKernel final : public DenseOp {
 public:
  using DenseOp::DenseOp;
  const char* impl() const override { return "cublas"; }

  void forward(const ExecContext& ctx, std::span<const Tensor* const> in, Tensor& out) override {
    const float *x = in[0]->raw(), *w = in[1]->raw();
    float* y = out.raw();
    float beta = 0.0f;
    if (g_.bias) {
      const float* b = in[2]->raw();
      const int64_t o = g_.out;
      launch_elementwise(
          g_.n * o, stream_of(ctx), [=] __device__(int64_t i) { y[i] = b[i % o]; }, "dense bias");
      beta = 1.0f;
    }
    const float one = 1.0f;
    check_cublas(cublasSgemm(cublas(ctx), CUBLAS_OP_T, CUBLAS_OP_N, int(g_.out), int(g_.n), int(g_.in), &one, w,
                             int(g_.in), x, int(g_.in), &beta, y, int(g_.out)),
                 "dense", "cublasSgemm (forward)");
  }

  void backward(const ExecContext& ctx, std::span<const Tensor* const> in, const Tensor&, const Tensor& gout,
                std::span<Tensor* const> gin) override {
    const float *x = in[0]->raw(), *w = in[1]->raw(), *dy = gout.raw();
    const float one = 1.0f, zero = 0.0f;
    if (Tensor* dx = gin[0])
      check_cublas(cublasSgemm(cublas(ctx), CUBLAS_OP_N, CUBLAS_OP_N, int(g_.in), int(g_.n), int(g_.out), &one, w,
                               int(g_.in), dy, int(g_.out), &zero, dx->raw(), int(g_.in)),
                   "dense", "cublasSgemm (input gradient)");
    if (Tensor* dw = gin[1])
      check_cublas(cublasSgemm(cublas(ctx), CUBLAS_OP_N, CUBLAS_OP_T, int(g_.in), int(g_.out), int(g_.n), &one, x,
                               int(g_.in), dy, int(g_.out), &zero, dw->raw(), int(g_.in)),
                   "dense", "cublasSgemm (weight gradient)");
    if (g_.bias && gin[2]) {
      bias_sum<<<grid_for(g_.out), 256, 0, stream_of(ctx)>>>(dy, gin[2]->raw(), g_.n, g_.out);
      check_launch("dense bias gradient");
    }
  }
};

}  // namespace

OpPtr make_dense(const Attrs& a) { return std::make_unique<DenseKernel>(a); }

}  // namespace sf::cuda
