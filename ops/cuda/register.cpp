#include <climits>

#include "ops/activation.h"
#include "ops/cuda/kernels.h"
#include "ops/flatten.h"
#include "ops/loss.h"
#include "ops/registry.h"

namespace sf {

bool cuda::dims_fit_int(const Attrs&, std::span<const Shape> input_shapes) {
  for (const Shape& s : input_shapes)
    for (int64_t d : s)
      if (d > INT_MAX) return false;
  return true;
}

// The CUDA kernels, one per op type; each is the only one for its type on the device, so priorities do not
// matter yet. An op type without a CUDA kernel here would be refused by make_op on Device::cuda, naming the op.
void register_cuda_kernels(OpRegistry& r) {
  using namespace cuda;
  const Device gpu = Device::cuda;
  for (const ActivationType& act : kActivations) {
    const std::string type(act.type);
    r.add({type, gpu, "cuda", 20, [type](const Attrs& a) { return make_activation(type, a); }});
  }
  r.add({"dense", gpu, "cublas", 20, make_dense, dims_fit_int, kDimsFitIntCovers});
  r.add({"conv2d", gpu, "cudnn", 20, make_conv2d, dims_fit_int, kDimsFitIntCovers});
  r.add({"avgpool2d", gpu, "cudnn", 20, make_avgpool2d, dims_fit_int, kDimsFitIntCovers});
  r.add({"global_avgpool", gpu, "cuda", 20, make_global_avgpool});
  for (const OpSchema& loss : kLosses) {
    const std::string type(loss.op);
    r.add({type, gpu, "cuda", 20, [type](const Attrs&) { return make_loss(type); }});
  }
  r.add({"batchnorm", gpu, "cuda", 20, make_batchnorm});
  r.add({"dropout", gpu, "cuda", 20, make_dropout});
  r.add({"to_nhwc", gpu, "cuda", 20, make_to_nhwc});
  r.add({"qcfs", gpu, "cuda", 20, make_qcfs});
  r.add({"log_quantize", gpu, "cuda", 20, make_log_quantize});
  r.add({"noisy_softplus_liu", gpu, "cuda", 20, make_noisy_softplus_liu});
  // Flatten is a copy between tensors of one device (Tensor::copy_from), so the one kernel serves both.
  r.add({"flatten", gpu, "reference", 0, [](const Attrs& a) -> OpPtr { return std::make_unique<FlattenOp>(a); }});
}

}  // namespace sf
