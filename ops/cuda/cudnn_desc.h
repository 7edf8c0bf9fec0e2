// A cuDNN 4-d tensor descriptor (float, NCHW or NHWC) that frees itself; `op` names the op in errors.
#pragma once
#include <cstdint>

#include "ops/cuda/handles.h"

namespace sf::cuda {

struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  const char* op;
  explicit TensorDesc(const char* op_name) : op(op_name) {
    check_cudnn(cudnnCreateTensorDescriptor(&d), op, "cudnnCreateTensorDescriptor");
  }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  ~TensorDesc() { (void)cudnnDestroyTensorDescriptor(d); }
  void set(bool nhwc, int64_t n, int64_t c, int64_t h, int64_t w) {
    check_cudnn(cudnnSetTensor4dDescriptor(d, nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(n),
                                           int(c), int(h), int(w)),
                op, "cudnnSetTensor4dDescriptor");
  }
};

}  // namespace sf::cuda
