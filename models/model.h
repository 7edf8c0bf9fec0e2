// A model is data: an ordered list of named layers (type + attributes + named parameters) with per-sample
// shapes. The trainer turns it into an autograd Graph; the checkpoint writer and the SNN converter walk the
// same list by layer name. Every network in scope (Liu nets, MobileNet v1) is a chain, so layers are a
// sequence; a layer's op takes the previous output followed by its parameters.
#pragma once
#include <string>
#include <vector>

#include "core/attrs.h"
#include "core/checkpoint.h"
#include "core/graph.h"
#include "core/parameter.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace sf {

struct Layer {
  std::string name;  // unique, e.g. "conv1"
  std::string type;  // an op type from the registry: conv2d, avgpool2d, dense, flatten, relu, ...
  Attrs attrs;
  std::vector<Parameter> params;
  std::vector<Buffer> buffers;  // bound to the layer's op (Op::bind_state) in every graph built
  Shape output_shape;           // per sample, no batch dimension
  int64_t macs = 0;             // multiply-accumulates per sample
};

class Model {
 public:
  explicit Model(Shape input_shape);

  // Appends a layer, inferring its output shape through the op's own shape rules. Parameters start at 0.
  Layer& add(std::string name, std::string type, Attrs attrs = {},
             std::vector<std::pair<std::string, Shape>> params = {});

  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const;
  std::vector<Layer>& layers() { return layers_; }
  const std::vector<Layer>& layers() const { return layers_; }
  const Layer* find(const std::string& name) const;
  std::string weighted_layer_names() const;  // "conv1, conv2, dense": the layers that own parameters
  // Adds a state buffer with its initial value to the last layer named `layer`.
  void add_buffer(const std::string& layer, std::string name, Tensor initial);
  std::vector<Parameter*> parameters();  // what the optimisers update: never the buffers
  std::vector<Buffer*> buffers();
  int64_t parameter_count() const;
  int64_t macs() const;

  // Appends the model's ops to `g` after `input` ([N, C, H, W]); returns the output node. Parameters get a
  // gradient buffer only when with_grads (training); evaluation graphs skip all backward storage.
  NodeId build(Graph& g, NodeId input, bool with_grads, const std::string& impl = "") const;
  // The same with explicit gradient buffers, one per parameters() entry (data-parallel replicas each own one
  // set and the trainer sums them).
  NodeId build(Graph& g, NodeId input, const std::vector<Tensor>& grads, const std::string& impl = "") const;

  // Moves every parameter, gradient and buffer to `d` (a no-op for those already there): a trainer on a
  // device trains the model in place there. Graphs built before the move still point at the old storage.
  void to(Device d);

  // Parameters and buffers as "<layer>.<name>" tensors (host copies of those on a device, the tensors
  // themselves on the CPU), and the inverse with shape and name checks (a
  // checkpoint of version 1 predates buffers: a model with buffers cannot load one).
  std::vector<NamedTensor> state() const;
  void load_state(const Checkpoint& ckpt, const std::string& path);

  // Layer table (name, type, output shape, parameters, MACs) as `spikeforge info` prints it.
  std::string summary() const;

 private:
  Shape input_shape_;
  std::vector<Layer> layers_;
};

// Keras glorot_uniform: U(−l, l), l = sqrt(6 / (fan_in + fan_out)); for conv fan = channels · kh · kw.
void glorot_uniform(Tensor& w, Rng& rng);

}  // namespace sf
