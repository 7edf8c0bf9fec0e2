#include "models/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "ops/registry.h"

namespace sf {

Model::Model(Shape input_shape) : input_shape_(std::move(input_shape)) {}

namespace {
// The attributes a layer's op takes: weight_bits / weight_fsr ask Model::build for a log_quantize in front of
// the layer's weights (LDR) and are not the op's own.
Attrs op_attrs(const Layer& l) {
  Attrs a = l.attrs;
  a.erase("weight_bits").erase("weight_fsr");
  return a;
}
}  // namespace

const Shape& Model::output_shape() const { return layers_.empty() ? input_shape_ : layers_.back().output_shape; }

Layer& Model::add(std::string name, std::string type, Attrs attrs, std::vector<std::pair<std::string, Shape>> params) {
  if (find(name)) fail_internal("model: duplicate layer name '" + name + "'");
  Shape in = output_shape();
  in.insert(in.begin(), 1);
  std::vector<Shape> shapes{in};
  Layer layer{std::move(name), std::move(type), std::move(attrs), {}, {}, {}, 0};
  for (auto& [pname, pshape] : params) {
    shapes.push_back(pshape);
    layer.params.push_back({pname, Tensor::zeros(pshape), Tensor::zeros(pshape)});
  }
  if (layer.type == "noisy_softplus_liu") {
    // Per-neuron σ reads the previous layer's input and weights; record which kind of layer that is.
    const Layer* src = layers_.empty() ? nullptr : &layers_.back();
    const std::string kind = src ? src->type : "input";
    if (kind != "conv2d" && kind != "dense" && kind != "avgpool2d")
      fail_input("model layer " + layer.name,
                 "per-neuron Noisy Softplus needs a conv2d, dense or avgpool2d layer before it, not " + kind);
    layer.attrs.set("source", kind);
    for (const char* g : {"stride", "pad", "kernel"})
      if (const AttrValue* v = src->attrs.find(g)) layer.attrs.set(g, *v);
    Shape src_in = layers_.size() >= 2 ? layers_[layers_.size() - 2].output_shape : input_shape_;
    src_in.insert(src_in.begin(), 1);
    shapes.push_back(src_in);
    if (kind != "avgpool2d") shapes.push_back(src->params.at(0).value.shape());
  }
  // The reference kernel's prepare() is the single source of shape rules.
  Shape out;
  try {
    out = make_op(layer.type, op_attrs(layer), Device::cpu, "reference")->prepare(shapes);
  } catch (const Error& e) {  // the op names itself; say which layer of the model it is
    throw Error(e.kind(), "model layer '" + layer.name + "': " + e.what());
  }
  out.erase(out.begin());
  layer.output_shape = out;
  if (layer.type == "conv2d" || layer.type == "dense") {
    const Shape& w = layer.params.at(0).value.shape();
    layer.macs = numel(out) * (numel(w) / w[0]);
  }
  layers_.push_back(std::move(layer));
  return layers_.back();
}

const Layer* Model::find(const std::string& name) const {
  for (const auto& l : layers_)
    if (l.name == name) return &l;
  return nullptr;
}

std::string Model::weighted_layer_names() const {
  std::string names;
  for (const auto& l : layers_)
    if (!l.params.empty()) names += (names.empty() ? "" : ", ") + l.name;
  return names;
}

void Model::add_buffer(const std::string& layer, std::string name, Tensor initial) {
  for (auto& l : layers_)
    if (l.name == layer) {
      l.buffers.push_back({std::move(name), std::move(initial)});
      return;
    }
  fail_internal("model: no layer '" + layer + "' for buffer " + name);
}

std::vector<Buffer*> Model::buffers() {
  std::vector<Buffer*> out;
  for (auto& l : layers_)
    for (auto& b : l.buffers) out.push_back(&b);
  return out;
}

std::vector<Parameter*> Model::parameters() {
  std::vector<Parameter*> out;
  for (auto& l : layers_)
    for (auto& p : l.params) out.push_back(&p);
  return out;
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& l : layers_)
    for (const auto& p : l.params) n += p.value.numel();
  return n;
}

int64_t Model::macs() const {
  int64_t n = 0;
  for (const auto& l : layers_) n += l.macs;
  return n;
}

NodeId Model::build(Graph& g, NodeId input, bool with_grads, const std::string& impl) const {
  std::vector<Tensor> grads;
  for (const auto& l : layers_)
    for (const auto& p : l.params) grads.push_back(with_grads ? p.grad : Tensor());
  return build(g, input, grads, impl);
}

namespace {
// A requested implementation where the op has one, else the device's default (e.g. log_quantize and
// flatten have a single kernel whatever a test asks of the others).
std::string impl_for(const std::string& type, const std::string& impl, Device d) {
  if (impl.empty()) return impl;
  const auto have = OpRegistry::instance().implementations(type, d);
  return std::find(have.begin(), have.end(), impl) != have.end() ? impl : "";
}
// `next` when it is a ReLU or ReLU6 (scale 1) that batchnorm layer `l` can run fused, else null.
const Layer* fusable_activation(const Layer& l, const Layer* next) {
  if (l.type != "batchnorm" || !next || (next->type != "relu" && next->type != "relu6")) return nullptr;
  return next->attrs.get("scale", 1.0) == 1.0 ? next : nullptr;
}
}  // namespace

NodeId Model::build(Graph& g, NodeId input, const std::vector<Tensor>& grads, const std::string& impl) const {
  NodeId cur = input;
  size_t k = 0;
  NodeId prev_in = -1, prev_weight = -1;  // the previous layer's input and (first) weight node
  for (size_t li = 0; li < layers_.size(); ++li) {
    const Layer& l = layers_[li];
    std::vector<NodeId> ins{cur};
    if (l.type == "noisy_softplus_liu") {  // σ² = source layer run on |input| with ½w² (see Model::add)
      ins.push_back(prev_in);
      if (l.attrs.get_string("source", "conv2d", l.type) != "avgpool2d") ins.push_back(prev_weight);
    }
    const NodeId layer_in = cur;
    NodeId layer_weight = -1;
    for (const auto& p : l.params) {
      NodeId id = g.parameter(l.name + "." + p.name, p.value, grads.at(k++));
      // LDR: the op sees the log-quantised weights; the straight-through gradient updates the float ones.
      if (p.name == "weight" && l.attrs.has("weight_bits"))
        id = g.apply(l.name + ".weight_q",
                     make_op("log_quantize",
                             {{"bits", l.attrs.get_int("weight_bits", 0, l.type)},
                              {"fsr", l.attrs.get_int("weight_fsr", 0, l.type)}},
                             g.device(), impl_for("log_quantize", impl, g.device())),
                     {id});
      if (layer_weight < 0) layer_weight = id;
      ins.push_back(id);
    }
    // A batchnorm layer and the ReLU / ReLU6 after it run as one op (ops/batchnorm.h: memory-bound, one pass
    // fewer each way); the node carries the activation layer's name, the pair's output. SPIKEFORGE_NO_FUSION=1
    // builds them apart, for comparisons.
    Attrs attrs = op_attrs(l);
    std::string node = l.name;
    if (const Layer* act = std::getenv("SPIKEFORGE_NO_FUSION")
                               ? nullptr
                               : fusable_activation(l, li + 1 < layers_.size() ? &layers_[li + 1] : nullptr)) {
      attrs.set("activation", act->type);
      node = act->name;
      ++li;
    }
    // The op chooses its kernel for the shapes Graph::apply prepares it with (ops/registry.h).
    OpPtr op = make_op(l.type, attrs, g.device(), impl_for(l.type, impl, g.device()));
    std::vector<Tensor> state;
    for (const auto& b : l.buffers) state.push_back(b.value);  // shares storage with the model's buffer
    op->bind_state(state);
    cur = g.apply(node, std::move(op), std::move(ins));
    prev_in = layer_in, prev_weight = layer_weight;
  }
  return cur;
}

void Model::to(Device d) {
  for (auto& l : layers_) {
    for (auto& p : l.params) {
      p.value = p.value.to(d);
      if (p.grad.defined()) p.grad = p.grad.to(d);
    }
    for (auto& b : l.buffers) b.value = b.value.to(d);
  }
}

std::vector<NamedTensor> Model::state() const {
  std::vector<NamedTensor> out;
  for (const auto& l : layers_) {
    for (const auto& p : l.params) out.push_back({l.name + "." + p.name, p.value.to(Device::cpu)});
    for (const auto& b : l.buffers) out.push_back({l.name + "." + b.name, b.value.to(Device::cpu)});
  }
  return out;
}

void Model::load_state(const Checkpoint& ckpt, const std::string& path) {
  std::set<std::string> expected;
  const auto check = [&](const std::string& name, const Tensor& want, bool buffer) {
    expected.insert(name);
    const Tensor* t = ckpt.find(name);
    if (!t && buffer)
      fail_input(path, "checkpoint (version " + std::to_string(ckpt.version) + ") has no state buffer '" + name + "'" +
                           (ckpt.version < 2 ? " — version 1 files predate buffers; retrain or convert it" : ""));
    if (!t) fail_input(path, "checkpoint has no tensor '" + name + "' — it was saved from another architecture");
    if (t->shape() != want.shape())
      fail_input(path, "tensor '" + name + "' has shape " + to_string(t->shape()) + " but the model expects " +
                           to_string(want.shape()) + " — the checkpoint is from another architecture");
  };
  for (auto& l : layers_) {
    for (auto& p : l.params) check(l.name + "." + p.name, p.value, false);
    for (auto& b : l.buffers) check(l.name + "." + b.name, b.value, true);
  }
  for (const auto& nt : ckpt.tensors)
    if (!expected.count(nt.name))
      fail_input(path, "checkpoint tensor '" + nt.name + "' has no place in this model — another architecture");
  for (auto& l : layers_) {
    for (auto& p : l.params) p.value.copy_from(*ckpt.find(l.name + "." + p.name));
    for (auto& b : l.buffers) b.value.copy_from(*ckpt.find(l.name + "." + b.name));
  }
}

std::string Model::summary() const {
  int name_w = 10, type_w = 15;
  for (const auto& l : layers_)
    name_w = std::max(name_w, static_cast<int>(l.name.size())),
    type_w = std::max(type_w, static_cast<int>(l.type.size()));
  std::string out;
  char line[512];
  const auto row = [&](const std::string& name, const std::string& type, const Shape& shape, const std::string& params,
                       const std::string& macs) {
    std::snprintf(line, sizeof line, "%-*s %-*s %-14s %10s %12s\n", name_w, name.c_str(), type_w, type.c_str(),
                  to_string(shape).c_str(), params.c_str(), macs.c_str());
    out += line;
  };
  std::snprintf(line, sizeof line, "%-*s %-*s %-14s %10s %12s\n", name_w, "layer", type_w, "type", "output", "params",
                "MACs");
  out += line;
  row("input", "", input_shape_, "", "");
  for (const auto& l : layers_) {
    int64_t np = 0;
    for (const auto& p : l.params) np += p.value.numel();
    row(l.name, l.type, l.output_shape, std::to_string(np), std::to_string(l.macs));
  }
  std::snprintf(line, sizeof line, "total: %lld parameters (%.2f M), %lld MACs per image (%.2f M)\n",
                static_cast<long long>(parameter_count()), 1e-6 * static_cast<double>(parameter_count()),
                static_cast<long long>(macs()), 1e-6 * static_cast<double>(macs()));
  return out + line;
}

void glorot_uniform(Tensor& w, Rng& rng) {
  const Shape& s = w.shape();
  const int64_t receptive = s.size() == 4 ? s[2] * s[3] : 1;
  const double fan_out = static_cast<double>(s[0] * receptive), fan_in = static_cast<double>(s[1] * receptive);
  const double limit = std::sqrt(6.0 / (fan_in + fan_out));
  for (int64_t i = 0; i < w.numel(); ++i) w[i] = static_cast<float>(rng.uniform(-limit, limit));
}

}  // namespace sf
