// The CUDA kernel set (registered under Device::cuda by ops/cuda/register.cpp). Each kernel's math is the
// reference kernel's (batch norm's variance from one shifted pass, not two), shared through SF_HD functions
// where it is element- or sample-wise (core/hd.h), and the tests compare every one with the reference on the
// CPU (CudaOpsTest in tests/test_ops.cpp).
#pragma once
#include <span>
#include <string>

#include "core/op.h"

namespace sf::cuda {

// Own kernels, not cuDNN's: cuDNN has no softplus and no scaled forms, and an element-wise map is bound by
// memory bandwidth, where one fused pass is all any library can do.
OpPtr make_activation(const std::string& type, const Attrs& a);
OpPtr make_dense(const Attrs& a);           // cuBLAS sgemm, plus a bias kernel
OpPtr make_conv2d(const Attrs& a);          // cuDNN, any groups, either layout
OpPtr make_avgpool2d(const Attrs& a);       // cuDNN average pooling, padding left out of the count
OpPtr make_global_avgpool(const Attrs& a);  // own kernel: one thread per (sample, channel)
OpPtr make_loss(const std::string& type);   // one thread per sample (ops/loss_math.h), a fixed-order sum
OpPtr make_batchnorm(const Attrs& a);       // own kernels: fixed-order double sums per channel, fused ReLU6
OpPtr make_dropout(const Attrs& a);         // the reference's hashed mask (ops/dropout.h), per element
OpPtr make_to_nhwc(const Attrs& a);         // a transpose, one thread per element
OpPtr make_qcfs(const Attrs& a);            // element-wise, ∂λ as a fixed-order reduction on the device
OpPtr make_log_quantize(const Attrs& a);    // element-wise; backward a device copy (straight through)
OpPtr make_noisy_softplus_liu(const Attrs& a);  // the source layer's CUDA kernel for σ², element-wise around it

// cuBLAS and cuDNN take int dimensions: whether every input dimension fits one.
bool dims_fit_int(const Attrs&, std::span<const Shape> input_shapes);
inline constexpr const char* kDimsFitIntCovers = "every dimension below 2^31";

}  // namespace sf::cuda
