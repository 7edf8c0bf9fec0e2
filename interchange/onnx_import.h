// ONNX import: a feed-forward ANN trained elsewhere (PyTorch's torch.onnx.export, tf2onnx, ...) becomes a
// spikeforge model of `arch: layers` (models/layer_chain.h), so it evaluates, fine-tunes and converts like one
// trained here. The file is parsed and checked by libonnx (protobuf schema, onnx::checker, shape inference);
// this file maps the graph's nodes onto spikeforge ops:
//   Conv (groups, depthwise) → conv2d · Gemm, MatMul [+ Add] → dense · BatchNormalization → batchnorm ·
//   Relu → relu · Clip [0, 6] → relu6 · Softplus → softplus · AveragePool → avgpool2d ·
//   GlobalAveragePool → global_avgpool · Flatten, Reshape to [N, F] → flatten · Pad → the next Conv's padding ·
//   Dropout, Identity → dropped · Softmax / LogSoftmax as the last node → dropped (same argmax).
// Opsets 9-17. Tensors are NCHW; a Keras (NHWC) export's Transpose nodes are folded where they only move the
// layout: one on the input (the model then reads NCHW images, as spikeforge's datasets give), and one before
// the Flatten of the classifier (the dense weights' columns are permuted from H, W, C to C, H, W order). Any
// other Transpose, a branch, or a node of another type is refused, one line per node, naming it.
#pragma once
#include <string>
#include <vector>

#include "models/model.h"
#include "models/model_spec.h"

namespace sf {

struct OnnxImportOptions {
  Shape input_shape;              // {C, H, W}: needed when the model's own input has dynamic channel or spatial dims
  std::string dataset = "mnist";  // what `evaluate` and `convert` read by default
  std::string loss;               // mse | crossentropy; empty: crossentropy (logits, or a softmax dropped)
};

struct OnnxImport {
  ModelSpec spec;                     // arch: layers, the net's input and class count
  Model model{Shape{}};               // with the ONNX file's weights
  std::string loss = "crossentropy";  // or OnnxImportOptions::loss
  int64_t opset = 0;
  std::string producer;            // "pytorch 1.13.1"
  std::vector<std::string> notes;  // what was dropped or folded, one line each
};

// BadInput naming the file for a file libonnx cannot parse or check, naming the node for a node that does not
// import, naming the initializer for a non-finite or non-float weight, and naming --input-shape for dynamic
// dimensions it does not fix.
OnnxImport import_onnx(const std::string& path, const OnnxImportOptions& opts = {});

// True for a path spikeforge reads as ONNX (".onnx").
bool is_onnx_path(const std::string& path);

}  // namespace sf
