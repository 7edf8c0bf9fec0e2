#include "backends/snn/converter.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/enum_names.h"
#include "core/error.h"
#include "core/graph.h"
#include "ops/activation.h"
#include "ops/log_quantize.h"

namespace sf::snn {

namespace {
constexpr std::pair<Norm, const char*> kNormNames[] = {
    {Norm::none, "none"}, {Norm::data, "data"}, {Norm::robust, "robust"}, {Norm::spike, "spike"}, {Norm::qcfs, "qcfs"}};
constexpr std::pair<PoolMode, const char*> kPoolNames[] = {
    {PoolMode::automatic, "auto"}, {PoolMode::spiking, "spiking"}, {PoolMode::merged, "merged"}};
}  // namespace

const char* to_string(Norm n) { return name_of(kNormNames, n); }
Norm parse_norm(const std::string& s) { return parse_name(kNormNames, s, "--norm", "normalisation"); }
PoolMode parse_pool_mode(const std::string& s) { return parse_name(kPoolNames, s, "--pool", "pooling mode"); }

void fold_batchnorm(Tensor& weight, Tensor& bias, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                    const Tensor& var, double eps) {
  const int64_t out = weight.dim(0), per = weight.numel() / out;
  if (gamma.numel() != out || beta.numel() != out || mean.numel() != out || var.numel() != out)
    fail_input("batchnorm", "parameters must have one value per output channel");
  if (!bias.defined()) bias = Tensor::zeros({out});
  for (int64_t o = 0; o < out; ++o) {
    const double s = gamma[o] / std::sqrt(static_cast<double>(var[o]) + eps);
    for (int64_t i = 0; i < per; ++i) weight[o * per + i] = static_cast<float>(weight[o * per + i] * s);
    bias[o] = static_cast<float>((bias[o] - mean[o]) * s + beta[o]);
  }
}

double positive_percentile(std::vector<float> values, double p) {
  if (!(p > 0 && p <= 100)) fail_input("--percentile", "must be in (0, 100]");
  values.erase(std::remove_if(values.begin(), values.end(), [](float v) { return !(v > 0); }), values.end());
  if (values.empty()) return 0.0;
  // Nearest rank: the smallest value with at least p % of the values at or below it.
  const auto rank = static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  const auto k = std::clamp<int64_t>(rank - 1, 0, static_cast<int64_t>(values.size()) - 1);
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

void for_each_layer_output(const Model& model, const Dataset& data, int64_t count,
                           const std::vector<std::string>& node_names, const LayerOutputVisitor& visit, int64_t first,
                           const ChannelAffine& input) {
  count = std::min(count, data.size() - first);
  if (count <= 0) return;
  const Shape sample = data.sample_shape();
  const int64_t per_image = numel(sample), batch = std::min<int64_t>(count, 500);
  // One evaluation graph per batch size (the full batches and the tail); the input buffer is refilled.
  auto run = [&](int64_t first, int64_t last, int64_t n) {
    Graph g;
    g.reuse_memory();  // only the visited outputs are held
    const NodeId in = g.input("images", {n, sample[0], sample[1], sample[2]});
    model.build(g, in, false);
    std::vector<NodeId> ids;
    for (const auto& name : node_names) {
      NodeId found = -1;
      for (NodeId id = 0; id < g.size(); ++id)
        if (g.name(id) == name) found = id;
      if (found < 0) fail_internal("layer outputs: no node '" + name + "'");
      g.keep(found);
      ids.push_back(found);
    }
    for (int64_t i = first; i < last; i += n) {
      input.apply(data.images.data() + i * per_image, n, sample, g.value(in).data());
      g.forward();
      for (size_t k = 0; k < ids.size(); ++k) {
        const Tensor& v = g.value(ids[k]);
        visit(k, v.data(), v.numel(), n);
      }
    }
  };
  const int64_t full = count / batch * batch;
  if (full > 0) run(first, first + full, batch);
  if (full < count) run(first + full, first + count, count - full);
}

std::vector<std::vector<float>> layer_outputs(const Model& model, const Dataset& data, int64_t count,
                                              const std::vector<std::string>& node_names, int64_t first,
                                              const ChannelAffine& input) {
  std::vector<std::vector<float>> out(node_names.size());
  for_each_layer_output(
      model, data, count, node_names,
      [&](size_t k, const float* v, int64_t n, int64_t) { out[k].insert(out[k].end(), v, v + n); }, first, input);
  return out;
}

std::vector<ActivationSummary> summarise_layer_outputs(const Model& model, const Dataset& data, int64_t count,
                                                       const std::vector<std::string>& node_names, double percentile,
                                                       const ChannelAffine& input) {
  count = std::min(count, data.size());
  std::vector<ActivationSummary> out;
  for_each_layer_output(
      model, data, count, node_names,
      [&](size_t k, const float* v, int64_t n, int64_t images) {
        if (k == out.size()) out.emplace_back(percentile, n / images * count);  // batches visit nodes in order
        out[k].add(v, n);
      },
      0, input);
  while (out.size() < node_names.size()) out.emplace_back(percentile, 0);  // no images
  return out;
}

namespace {

using AnnLayer = ::sf::Layer;  // a trained model's layer; plain `Layer` here is the SNN's

const std::set<std::string> kActivations = {"relu",     "relu6",          "qcfs",
                                            "softplus", "noisy_softplus", "noisy_softplus_liu"};
// Layers that shape or regularise the ANN but have no spiking counterpart: flatten (dense layers index inputs
// in C, H, W order anyway), to_nhwc (a memory layout; populations are C, H, W), dropout (off at inference).
const std::set<std::string> kPassThrough = {"flatten", "to_nhwc", "dropout"};
const char* kSupported =
    "supported: conv2d (groups 1, or depthwise with one filter per channel), depthwise_conv2d, dense, avgpool2d, "
    "global_avgpool (merged into the dense layer after it), batchnorm (folded), relu, relu6, qcfs, softplus, "
    "noisy_softplus, noisy_softplus_liu, log_quantize, and flatten / to_nhwc / dropout (dropped)";

// One spiking population and the projection that feeds it, as found in the ANN.
struct Stage {
  const AnnLayer* weighted = nullptr;  // conv2d / depthwise_conv2d / dense, or null for a spiking pool
  LayerKind kind = LayerKind::conv;    // what `weighted` becomes (conv2d with groups = channels: depthwise)
  const AnnLayer* pool = nullptr;      // avgpool2d as a spiking population
  int pool_in = 0;                     // merged avgpool before the weights
  Tensor weight, bias;
  double act_scale = 1.0;
  double act_offset = 0.0;      // f(x) ≈ ReLU(x + act_offset): the smooth activation's value at zero, see zero_offset
  double clip = 0.0;            // ReLU6: the activation's ceiling 6·p (0: none); caps the normalisation scale λ
  double trained_lambda = 0.0;  // QCFS: the layer's trained threshold λ (0: none), θ under --norm qcfs
  std::string node;             // the ANN node whose values are this population's activations
  Shape in_shape, out_shape;
};

const Tensor* param(const AnnLayer& l, const std::string& name) {
  for (const auto& p : l.params)
    if (p.name == name) return &p.value;
  return nullptr;
}

// A spiking neuron's rate is ≈ ReLU of its input, while Softplus-family units give f(0) = kσ·ln 2 > 0 (plain
// Softplus: ln 2) and nets trained with them lean on that baseline: run as plain ReLU, the seed-recipe Softplus
// net drops from 98.5 % to 92.7 % (ANN with ReLU swapped in, 5,000 test images). ReLU(x + f(0)) equals f at
// zero, tends to it for negative x and is never more than f(0) from it; swapped in it keeps 98.4 %. So the
// converter adds f(0) to the neuron's bias. Liu's per-neuron-σ Noisy Softplus is excluded: there the SNN's
// own input noise supplies the smoothing, which is the point of that activation.
double zero_offset(const AnnLayer& l) {
  if (l.type != "softplus" && l.type != "noisy_softplus") return 0.0;
  return Activation::from(l.type, l.attrs).ks * std::log(2.0);  // the op's own kσ, defaults included
}

const Tensor* buffer(const AnnLayer& l, const std::string& name) {
  for (const auto& b : l.buffers)
    if (b.name == name) return &b.value;
  return nullptr;
}

// A layer's per-sample output as the SNN's [C, H, W] population shape, whatever the ANN's memory layout.
Shape population_shape(const AnnLayer& l) {
  const Shape& s = l.output_shape;
  if (s.size() == 1) return {s[0], 1, 1};
  if (s.size() == 3 && l.attrs.get_string("layout", "nchw") == "nhwc") return {s[2], s[0], s[1]};
  return s;
}

// conv2d's `groups`: 1 is a convolution; groups = input channels = output channels (one 3×3 filter per
// channel, MobileNet's depthwise layers at depth_multiplier 1) is the IR's depthwise layer. Other groupings
// (and depth multipliers above 1) have no population-to-population form here.
LayerKind conv_kind(const AnnLayer& l, const Tensor& weight, const Shape& in_shape, const std::string& where) {
  if (l.type == "depthwise_conv2d") return LayerKind::depthwise_conv;
  const int64_t groups = l.attrs.get_int("groups", 1);
  if (groups == 1) return LayerKind::conv;
  if (groups == in_shape[0] && weight.dim(0) == in_shape[0] && weight.dim(1) == 1) return LayerKind::depthwise_conv;
  fail_input(where, "groups = " + std::to_string(groups) + " with " + std::to_string(in_shape[0]) + " input and " +
                        std::to_string(weight.dim(0)) +
                        " output channels does not convert: only groups = 1 or depthwise with one filter per "
                        "channel (depth_multiplier 1)");
}

// global_avgpool before a dense layer, merged into it: each of the C·H·W spiking inputs connects with w/(H·W),
// the dense layer's weight [O, C] becomes [O, C·H·W] in the population's C, H, W order. The mean of the rates
// is the rate of the mean, so this is exact; a pooling population would add a layer of latency and quantise.
Tensor merge_global_pool(const Tensor& w, const Shape& pooled, const std::string& where) {
  const int64_t out = w.dim(0), c = pooled[0], hw = pooled[1] * pooled[2];
  if (w.dim(1) != c)
    fail_input(where, "reads " + std::to_string(w.dim(1)) + " inputs after a global pooling of " + std::to_string(c) +
                          " channels");
  Tensor merged({out, c * hw});
  const float inv = 1.0f / static_cast<float>(hw);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p) merged[(o * c + ch) * hw + p] = w[o * c + ch] * inv;
  return merged;
}

int pool_window(const AnnLayer& l) {
  const int k = static_cast<int>(l.attrs.get_int("kernel", 2));
  if (l.attrs.get_int("stride", k) != k || l.attrs.get_int("pad", 0) != 0)
    fail_input("layer '" + l.name + "'", "only average pooling with stride = window and no padding converts");
  return k;
}

// An activation (type, with the layer's attrs) ends the population `s` feeds: its PAF scale p folds into the
// weights, a Softplus's f(0) into the bias, ReLU6's ceiling into the normalisation.
void end_with_activation(Stage& s, const AnnLayer& l, const std::string& type, bool shift_activations,
                         std::vector<std::string>& notes) {
  s.act_scale *= l.attrs.get("scale", 1.0);
  if (type == "relu6") s.clip = 6.0 * s.act_scale;
  if (type == "qcfs") {
    const Tensor* t = param(l, "threshold");
    if (!t || t->numel() != 1 || !((*t)[0] > 0))
      fail_input("layer '" + l.name + "' (qcfs)", "needs its trained threshold λ > 0");
    s.trained_lambda = s.clip = (*t)[0];
  }
  const double offset = shift_activations ? zero_offset(l) : 0.0;
  if (offset != 0) s.act_offset = offset;  // kept through a later ReLU: ReLU(Softplus) = Softplus
  s.node = l.name;
  if (type != "relu" && type != "relu6" && type != "qcfs" && notes.size() < 8)
    notes.push_back(l.name + ": " + type + " runs as the IF/LIF rate function (≈ ReLU)" +
                    (s.act_offset != 0 ? ", its input raised by f(0) = " + std::to_string(s.act_offset)
                                       : std::string(", as in Liu 2017")));
}

std::vector<Stage> find_stages(const Model& model, bool spiking_pools, bool shift_activations,
                               std::vector<std::string>& notes) {
  std::vector<Stage> stages;
  const auto& layers = model.layers();
  int pending_pool = 0;
  std::string pending_name;
  const AnnLayer* pending_global = nullptr;  // a global_avgpool waiting for its dense layer
  for (size_t i = 0; i < layers.size(); ++i) {
    const AnnLayer& l = layers[i];
    const std::string where = "layer '" + l.name + "' (" + l.type + ")";
    if (pending_global && l.type != "dense" && !kPassThrough.count(l.type))
      fail_input("layer '" + pending_global->name + "' (global_avgpool)",
                 "converts only merged into a dense layer right after it, not before " + where);
    if (l.type == "conv2d" || l.type == "depthwise_conv2d" || l.type == "dense") {
      Stage s;
      s.weighted = &l;
      s.pool_in = pending_pool;
      s.in_shape = stages.empty() ? model.input_shape() : stages.back().out_shape;
      s.weight = param(l, "weight")->clone();
      s.kind = l.type == "dense" ? LayerKind::dense : conv_kind(l, s.weight, s.in_shape, where);
      if (pending_global) {
        s.weight = merge_global_pool(s.weight, s.in_shape, where);
        notes.push_back(pending_global->name + ": global average pooling merged into " + l.name);
        pending_global = nullptr;
      }
      if (const Tensor* b = param(l, "bias")) s.bias = b->clone();
      if (l.attrs.has("weight_bits")) {  // LDR: the net was trained on the quantised weights
        const LogQuantizer q(l.attrs.get_int("weight_bits", 0), l.attrs.get_int("weight_fsr", 0));
        for (int64_t k = 0; k < s.weight.numel(); ++k) s.weight[k] = q(s.weight[k]);
      }
      s.node = l.name;
      s.out_shape = population_shape(l);
      stages.push_back(std::move(s));
      pending_pool = 0;
    } else if (l.type == "global_avgpool") {
      if (stages.empty()) fail_input(where, "a network starting with pooling does not convert");
      if (pending_pool) fail_input(where, "an average pooling right before a global one does not convert");
      pending_global = &l;
    } else if (l.type == "avgpool2d") {
      const int k = pool_window(l);
      if (pending_pool) fail_input(where, "two average poolings in a row do not convert");
      // A pool followed by an activation (Liu's Matlab nets) is a population of its own.
      const bool act_next = i + 1 < layers.size() && kActivations.count(layers[i + 1].type);
      if (spiking_pools || act_next) {
        Stage s;
        s.pool = &l;
        s.in_shape = stages.empty() ? model.input_shape() : stages.back().out_shape;
        s.out_shape = l.output_shape;
        s.node = l.name;
        stages.push_back(std::move(s));
      } else {
        if (stages.empty()) fail_input(where, "a network starting with pooling does not convert");
        pending_pool = k;
        pending_name = l.name;
      }
    } else if (kActivations.count(l.type)) {
      if (stages.empty()) fail_input(where, "an activation on the input does not convert");
      if (pending_pool) fail_input(where, "an activation after a merged pooling: convert with --pool spiking");
      end_with_activation(stages.back(), l, l.type, shift_activations, notes);
    } else if (l.type == "log_quantize") {
      notes.push_back(l.name + ": LDR activation quantisation is not represented; spikes carry the rate");
    } else if (l.type == "batchnorm") {
      if (stages.empty() || !stages.back().weighted || stages.back().node != stages.back().weighted->name)
        fail_input(where, "batch normalisation converts only right after a conv or dense layer");
      Stage& s = stages.back();
      // The running statistics are buffers (the batchnorm op's state); older hand-built models held them as
      // parameters named mean / var.
      const Tensor *g = param(l, "gamma"), *b = param(l, "beta");
      const Tensor* m = buffer(l, "running_mean") ? buffer(l, "running_mean") : param(l, "mean");
      const Tensor* v = buffer(l, "running_var") ? buffer(l, "running_var") : param(l, "var");
      if (!g || !b || !m || !v) fail_input(where, "needs gamma, beta and the running mean and variance");
      fold_batchnorm(s.weight, s.bias, *g, *b, *m, *v, l.attrs.get("eps", 1e-3));
      s.node = l.name;
      const std::string act = l.attrs.get_string("activation", "none");
      if (act != "none") end_with_activation(s, l, act, shift_activations, notes);
    } else if (!kPassThrough.count(l.type)) {
      fail_input(where, std::string("cannot be converted to spiking neurons; ") + kSupported);
    }
  }
  if (pending_pool) fail_input("layer '" + pending_name + "'", "the network ends with a pooling layer");
  if (pending_global) fail_input("layer '" + pending_global->name + "'", "the network ends with a pooling layer");
  if (stages.empty()) fail_input("model", "no layer to convert");
  return stages;
}

// The model reads a·x + b per channel of the pixels x the SNN encodes (ConvertOptions::input_affine). The map
// folds exactly into the first weighted layer: W'[o, c, ·] = W[o, c, ·]·a[c], and each neuron's bias gains
// Σ W[o, c, tap]·b[c] over the taps that fall inside the image. A padded convolution's border taps read the
// padding's zeros, not b, so its border neurons gain less and the bias becomes per neuron ([O, H, W]); it stays
// per channel where every neuron of a channel gains the same.
void fold_input_affine(Stage& s, const ChannelAffine& affine) {
  if (!s.weighted)
    fail_input("layer '" + s.node + "'",
               "the input normalisation (normalize / scale transforms) folds only into a first conv or dense "
               "layer, not a pooling");
  const Shape &in = s.in_shape, &out = s.out_shape;
  const int64_t C = in[0], H = in[1], W = in[2], O = out[0], OH = out[1], OW = out[2];
  if (static_cast<int64_t>(affine.scale.size()) != C)
    fail_internal("input affine of " + std::to_string(affine.scale.size()) + " channels for " + std::to_string(C));
  Tensor& w = s.weight;
  std::vector<double> gain(static_cast<size_t>(O * OH * OW), 0.0);  // Σ W·b per neuron
  if (s.kind == LayerKind::dense) {
    const int64_t I = w.dim(1), plane = H * W;
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < I; ++i) {
        const size_t c = static_cast<size_t>(i / plane);
        float& wi = w[o * I + i];
        gain[static_cast<size_t>(o)] += static_cast<double>(wi) * affine.shift[c];
        wi = static_cast<float>(wi * affine.scale[c]);
      }
  } else {
    const bool depthwise = s.kind == LayerKind::depthwise_conv;
    const int64_t wc = w.dim(1), K = w.dim(2);
    const int64_t S = s.weighted->attrs.get_int("stride", 1), P = s.weighted->attrs.get_int("pad", 0);
    for (int64_t o = 0; o < O; ++o)
      for (int64_t j = 0; j < wc; ++j) {
        const size_t c = static_cast<size_t>(depthwise ? o : j);
        float* taps = &w[(o * wc + j) * K * K];
        for (int64_t oy = 0; oy < OH; ++oy)
          for (int64_t ox = 0; ox < OW; ++ox) {
            double g = 0;
            for (int64_t ky = 0; ky < K; ++ky)
              for (int64_t kx = 0; kx < K; ++kx) {
                const int64_t iy = oy * S + ky - P, ix = ox * S + kx - P;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) g += static_cast<double>(taps[ky * K + kx]);
              }
            gain[static_cast<size_t>((o * OH + oy) * OW + ox)] += g * affine.shift[c];
          }
        for (int64_t k = 0; k < K * K; ++k) taps[k] = static_cast<float>(taps[k] * affine.scale[c]);
      }
  }
  const int64_t plane = OH * OW;
  bool uniform = true;
  for (int64_t n = 0; n < O * plane && uniform; ++n)
    uniform = gain[static_cast<size_t>(n)] == gain[static_cast<size_t>(n - n % plane)];
  Tensor bias = uniform ? Tensor::zeros({O}) : Tensor::zeros({O, OH, OW});
  for (int64_t n = 0; n < bias.numel(); ++n) {
    const int64_t o = uniform ? n : n / plane;
    const double b = s.bias.defined() ? static_cast<double>(s.bias[o]) : 0.0;
    bias[n] = static_cast<float>(b + gain[static_cast<size_t>(uniform ? n * plane : n)]);
  }
  s.bias = std::move(bias);
}

Layer make_layer(const Stage& s) {
  Layer l;
  l.in_shape = s.in_shape;
  l.out_shape = s.out_shape;
  l.pool_in = s.pool_in;
  if (s.pool) {
    l.name = s.pool->name;
    l.kind = LayerKind::avgpool;
    l.kernel = l.stride = pool_window(*s.pool);
    l.pool_weight = 1.0f / static_cast<float>(l.kernel * l.kernel);
    return l;
  }
  const AnnLayer& w = *s.weighted;
  l.name = w.name;
  l.kind = s.kind;
  if (l.kind != LayerKind::dense) {
    l.kernel = static_cast<int>(s.weight.dim(2));
    if (s.weight.dim(2) != s.weight.dim(3)) fail_input("layer '" + w.name + "'", "only square kernels convert");
    l.stride = static_cast<int>(w.attrs.get_int("stride", 1));
    l.padding = static_cast<int>(w.attrs.get_int("pad", 0));
  }
  l.weight = s.weight.clone();
  if (s.bias.defined()) l.bias = s.bias.clone();
  return l;
}

void scale_layer(Layer& l, double weight_factor, double bias_factor) {
  if (l.kind == LayerKind::avgpool)  // a pool population has a bias too when a Softplus follows it
    l.pool_weight = static_cast<float>(l.pool_weight * weight_factor);
  if (l.weight.defined())
    for (int64_t i = 0; i < l.weight.numel(); ++i) l.weight[i] = static_cast<float>(l.weight[i] * weight_factor);
  if (l.bias.defined())
    for (int64_t i = 0; i < l.bias.numel(); ++i) l.bias[i] = static_cast<float>(l.bias[i] * bias_factor);
}

double max_positive_weight(const Layer& l) {
  if (l.kind == LayerKind::avgpool) return l.pool_weight;
  double m = 0;
  for (int64_t i = 0; i < l.weight.numel(); ++i) m = std::max(m, static_cast<double>(l.weight[i]));
  return m;
}

void check_options(const Model& model, const Dataset& norm_data, const ConvertOptions& opts) {
  if (!(opts.dt_ms > 0)) fail_input("--dt", "must be > 0");
  if (!(opts.input.max_rate_hz > 0) || opts.input.max_rate_hz * opts.dt_ms > 1000.0)
    fail_input("--max-rate", "must be > 0 and at most one spike per step (1000 / dt Hz)");
  if (!(opts.percentile > 0 && opts.percentile <= 100)) fail_input("--percentile", "must be in (0, 100]");
  if (opts.norm_images < 1 || opts.spike_norm_images < 1) fail_input("--norm-images", "must be at least 1");
  if (!(opts.v_init >= 0 && opts.v_init < 1)) fail_input("--v-init", "must be in [0, 1) (a fraction of θ)");
  if (opts.calibrate_images < 0) fail_input("--calibrate", "must be ≥ 0 images");
  if (opts.calibrate_images > 0) {
    if (opts.neuron == NeuronModel::lif)
      fail_input("--calibrate", "calibrates IF neurons (if, if_subtract, if_signed), not LIF");
    // Spike-norm's rate per unit of activation is whatever its thresholds made it, measured on the way.
    if (opts.norm == Norm::spike) fail_input("--calibrate", "needs --norm data, robust, qcfs or none, not spike");
    if (opts.calibrate_steps <= 0) fail_input("--calibrate-steps", "must be > 0");
    if (norm_data.size() == 0) fail_input("--calibrate", "needs the training images");
  }
  if (norm_data.images.defined() && norm_data.sample_shape() != model.input_shape())
    fail_input("normalisation data", "images are " + sf::to_string(norm_data.sample_shape()) + ", the model reads " +
                                         sf::to_string(model.input_shape()));
}

bool is_lif(const ConvertOptions& opts) { return opts.neuron == NeuronModel::lif; }
// Liu's LIF mapping: trained weights as nA, biases as the nA they were trained as.
bool is_liu(const ConvertOptions& opts) { return is_lif(opts) && opts.norm == Norm::none; }

// Rate code: a neuron firing every step stands for activation 1, and the input fires at most p_in per step
// (pixel 1 at max_rate), so every rate is p_in × its activation. A bias, which acts every step, is scaled
// by p_in to keep its weight against the spikes (current input into IF: p_in = 1, the analog value).
double input_rate_per_step(const ConvertOptions& opts) {
  return opts.input.kind == InputEncoding::current && !is_lif(opts) ? 1.0
                                                                    : opts.input.max_rate_hz * opts.dt_ms / 1000.0;
}

// The network with the ANN's weights, before normalisation: the activation's PAF scale p is folded into the
// weights (and a pool population's weight) feeding it, p·ReLU(x) = ReLU(p·x), and biases are scaled by p_in.
// Not for Liu's mapping, where p = S·τsyn is the LIF neuron's own gain: a rate λ already gives the next layer
// w·λ·τsyn = w·(p·f).
Network describe(const Model& model, const std::vector<Stage>& stages, const ConvertOptions& opts,
                 const std::string& source) {
  Network net;
  net.input_shape = model.input_shape();
  net.neuron = opts.neuron;
  net.lif = opts.lif;
  net.input = opts.input;
  net.dt_ms = opts.dt_ms;
  net.delay_steps = is_lif(opts) ? 1 : 0;  // PyNN's minimum delay is one step; IF conversions propagate within it
  net.v_init = opts.v_init;
  net.source = source;
  net.conversion = is_liu(opts) ? "liu" : to_string(opts.norm);
  const bool liu = is_liu(opts);
  const double p_in = input_rate_per_step(opts);
  for (const Stage& s : stages) {
    Layer l = make_layer(s);
    if (s.act_offset != 0) {
      if (!l.bias.defined()) l.bias = Tensor::zeros({l.out_shape[0]});
      for (int64_t i = 0; i < l.bias.numel(); ++i) l.bias[i] = static_cast<float>(l.bias[i] + s.act_offset);
    }
    const double p = liu ? 1.0 : s.act_scale;
    scale_layer(l, p, p * (liu ? 1.0 : p_in));
    net.layers.push_back(std::move(l));
  }
  return net;
}

std::vector<std::string> stage_nodes(const std::vector<Stage>& stages) {
  std::vector<std::string> nodes;
  for (const Stage& s : stages) nodes.push_back(s.node);
  return nodes;
}

// Each node's values summarised as a whole and per channel (channels[k] of them, NHWC where nhwc[k]), in one
// pass over the images: the whole-layer summaries are those summarise_layer_outputs gives.
struct LayerAndChannelSummaries {
  std::vector<ActivationSummary> layers;
  std::vector<std::vector<ActivationSummary>> channels;
};
LayerAndChannelSummaries summarise_channels(const Model& model, const Dataset& data, int64_t count,
                                            const std::vector<std::string>& nodes, const std::vector<int64_t>& channels,
                                            const std::vector<bool>& nhwc, double percentile,
                                            const ChannelAffine& input) {
  count = std::min(count, data.size());
  LayerAndChannelSummaries out;
  out.channels.resize(nodes.size());
  std::vector<float> gathered;
  for_each_layer_output(
      model, data, count, nodes,
      [&](size_t k, const float* v, int64_t n, int64_t images) {
        const int64_t C = channels[k], per = n / images, plane = per / C;
        if (k == out.layers.size()) out.layers.emplace_back(percentile, per * count);  // nodes visited in order
        out.layers[k].add(v, n);
        std::vector<ActivationSummary>& chans = out.channels[k];
        if (chans.empty())
          for (int64_t c = 0; c < C; ++c) chans.emplace_back(percentile, plane * count);
        gathered.resize(static_cast<size_t>(plane));
        for (int64_t b = 0; b < images; ++b)
          for (int64_t c = 0; c < C; ++c) {
            const float* img = v + b * per;
            if (!nhwc[k]) {
              chans[static_cast<size_t>(c)].add(img + c * plane, plane);
              continue;
            }
            for (int64_t p = 0; p < plane; ++p) gathered[static_cast<size_t>(p)] = img[p * C + c];
            chans[static_cast<size_t>(c)].add(gathered.data(), plane);
          }
      },
      0, input);
  while (out.layers.size() < nodes.size()) out.layers.emplace_back(percentile, 0);  // no images
  return out;
}

// w[o, ·] reading input channel c scaled by in[c]/out[o], the bias of channel o by 1/out[o].
// An avgpool population has no weight tensor: its λ is its input's, channel by channel, so 1/k² stays.
void scale_channels(Layer& l, const std::vector<double>& in, const std::vector<double>& out) {
  const int64_t O = l.out_shape[0], C = static_cast<int64_t>(in.size());
  const int64_t per_o = l.weight.defined() ? l.weight.numel() / O : 0;
  for (int64_t i = 0; l.weight.defined() && i < l.weight.numel(); ++i) {
    const int64_t o = i / per_o;
    const int64_t c = l.kind == LayerKind::depthwise_conv ? o : i % per_o / (per_o / C);
    l.weight[i] = static_cast<float>(l.weight[i] * in[static_cast<size_t>(c)] / out[static_cast<size_t>(o)]);
  }
  if (l.bias.defined())
    for (int64_t i = 0; i < l.bias.numel(); ++i)
      l.bias[i] = static_cast<float>(l.bias[i] / out[static_cast<size_t>(i / (l.bias.numel() / O))]);
}

// summarise_channels over the stages' outputs, each with its channel count and layout.
LayerAndChannelSummaries summarise_stage_channels(const Model& model, const Dataset& data, int64_t count,
                                                  const std::vector<Stage>& stages, double percentile,
                                                  const ChannelAffine& input) {
  std::vector<int64_t> channels;
  std::vector<bool> nhwc;
  for (const Stage& st : stages) {
    channels.push_back(st.out_shape[0]);
    nhwc.push_back(st.weighted && st.kind != LayerKind::dense &&
                   st.weighted->attrs.get_string("layout", "nchw") == "nhwc");
  }
  return summarise_channels(model, data, count, stage_nodes(stages), channels, nhwc, percentile, input);
}

// data (Diehl 2015: λ_l = max(max activation, max weight)) and robust (Rueckauer 2017: λ_l = p-th percentile of
// the positive activations): w_l scaled by λ_(l−1)/λ_l, b_l by 1/λ_l; with channel_norm, λ per channel.
void normalise_by_activations(Conversion& c, const std::vector<Stage>& stages, const Model& model,
                              const Dataset& norm_data, const ConvertOptions& opts) {
  if (norm_data.size() == 0) fail_input("--norm", "data/robust normalisation needs the training images");
  // Data norm needs only the maxima: percentile 100 keeps no more than two values per layer.
  const double percentile = opts.norm == Norm::data ? 100.0 : opts.percentile;
  const bool channel_wise = opts.channel_norm && opts.norm != Norm::qcfs;
  LayerAndChannelSummaries sums;
  if (channel_wise) {
    sums = summarise_stage_channels(model, norm_data, opts.norm_images, stages, percentile, opts.input_affine);
  } else {
    sums.layers =
        summarise_layer_outputs(model, norm_data, opts.norm_images, stage_nodes(stages), percentile, opts.input_affine);
  }
  const std::vector<ActivationSummary>& acts = sums.layers;
  std::vector<double> prev(static_cast<size_t>(c.net.input_shape[0]), 1.0);  // inputs are pixels in [0, 1]
  int64_t dead_channels = 0;
  for (size_t k = 0; k < stages.size(); ++k) {
    Layer& l = c.net.layers[k];
    const double max_act = acts[k].max();
    // One λ for the layer from a summary (all its values, or one channel's); ReLU6 caps it at its ceiling (the
    // recorded activations never exceed it; data norm's max-weight term can).
    auto lambda_of = [&](const ActivationSummary& a, double max_weight) {
      double lambda = opts.norm == Norm::data ? std::max(a.max(), max_weight) : a.percentile();
      if (stages[k].clip > 0) lambda = std::min(lambda, stages[k].clip);
      return lambda;
    };
    double lambda;
    if (l.kind == LayerKind::avgpool) {
      lambda = prev[0];  // an average of rates in [0, 1] stays in [0, 1]: keep 1/k² weights
    } else if (opts.norm == Norm::qcfs && stages[k].trained_lambda > 0) {
      lambda = stages[k].trained_lambda;  // Bu 2022: θ = λ, the ANN's own clip (the classifier: its percentile)
    } else {
      lambda = lambda_of(acts[k], max_positive_weight(l));
    }
    if (!(lambda > 0)) {
      c.notes.push_back(l.name + ": no positive activation on the normalisation data; λ left at 1");
      lambda = 1.0;
    }
    c.scales.push_back({l.name, lambda, max_act, {}});
    const bool per_channel = channel_wise && l.kind != LayerKind::avgpool && k + 1 < stages.size();
    if (!channel_wise) {
      scale_layer(l, prev[0] / lambda, 1.0 / lambda);
      prev.assign(static_cast<size_t>(l.out_shape[0]), lambda);
      continue;
    }
    std::vector<double> out(static_cast<size_t>(l.out_shape[0]), lambda);
    if (l.kind == LayerKind::avgpool) out = prev;
    if (per_channel) {
      const double max_weight = opts.norm == Norm::data ? max_positive_weight(l) : 0.0;
      for (size_t ch = 0; ch < out.size(); ++ch) {
        const double lc = lambda_of(sums.channels[k][ch], max_weight);
        if (lc > 0)
          out[ch] = lc;
        else
          ++dead_channels;  // never positive on the normalisation data: the layer's λ
      }
    }
    scale_channels(l, prev, out);
    if (per_channel) c.scales.back().channel_lambda = out;
    prev = std::move(out);
  }
  if (dead_channels > 0)
    c.notes.push_back("channel-wise normalisation: " + std::to_string(dead_channels) +
                      " channels never active on the normalisation data keep their layer's λ");
}

// The network spike-norm simulates: its own tensors (they share storage), and IF-subtract in place of LIF
// (thresholds are found in IF units, whatever the target neuron, then mapped like data/robust).
Network calibration_copy(const Network& net) {
  Network probe = net;
  for (Layer& l : probe.layers) {
    if (l.weight.defined()) l.weight = l.weight.clone();
    if (l.bias.defined()) l.bias = l.bias.clone();
  }
  if (probe.neuron == NeuronModel::lif) probe.neuron = NeuronModel::if_subtract, probe.delay_steps = 0;
  return probe;
}

// Spike-norm (Sengupta 2019): layer by layer, the threshold is the largest input a neuron of the layer receives
// in a step while simulating. Spikes carry no scale: a layer's rate per unit of ANN activation, ρ, is whatever
// the thresholds below it made it (p_in for the input). A bias must act at that same scale to keep its weight
// against the spikes, so layer k's bias is rescaled from p_in to ρ_(k−1), measured in the same run that finds
// layer k's largest input (recorded per channel without the bias, so the rescaled bias can be added afterwards).
void normalise_by_spikes(Conversion& c, const std::vector<Stage>& stages, const Model& model, const Dataset& norm_data,
                         const ConvertOptions& opts, Backend* calibrator) {
  if (!calibrator || !calibrator->capabilities().simulates) fail_internal("spike normalisation needs a simulator");
  if (norm_data.size() == 0) fail_input("--norm", "spike normalisation needs the training images");
  const double p_in = input_rate_per_step(opts);
  Network probe = calibration_copy(c.net);
  SimOptions so;
  so.steps = opts.spike_norm_steps > 0 ? opts.spike_norm_steps : static_cast<int>(std::lround(1000.0 / opts.dt_ms));
  so.images = std::min(opts.spike_norm_images, norm_data.size());
  so.seed = opts.seed;
  const std::vector<ActivationSummary> acts =
      summarise_layer_outputs(model, norm_data, so.images, stage_nodes(stages), 100.0, opts.input_affine);
  for (size_t k = 0; k < probe.layers.size(); ++k) {
    so.probe_layer = static_cast<int>(k);
    const SimResult run = calibrator->simulate(probe, norm_data, so);
    Layer& l = c.net.layers[k];
    if (k > 0 && l.bias.defined()) {
      const LayerStats& below = run.layers.at(k - 1);
      const double mean_act = acts[k - 1].mean();
      const double rho = static_cast<double>(below.spikes) /
                         (static_cast<double>(below.neurons) * static_cast<double>(so.images) * so.steps);
      if (mean_act > 0 && rho > 0) {
        scale_layer(probe.layers[k], 1.0, rho / (mean_act * p_in));
        scale_layer(l, 1.0, rho / (mean_act * p_in));
      }
    }
    double theta = 0;
    const int64_t plane = l.out_shape[1] * l.out_shape[2];
    for (size_t ch = 0; ch < run.probe_max_input.size(); ++ch) {
      double bias = l.bias.defined() ? -HUGE_VAL : 0.0;  // a per-neuron bias: the channel's largest
      for (int64_t i = 0; l.bias.defined() && i < (l.per_neuron_bias() ? plane : 1); ++i)
        bias = std::max(bias, static_cast<double>(l.bias_at(static_cast<int64_t>(ch), i)));
      theta = std::max(theta, run.probe_max_input[ch] + bias);
    }
    const double t = theta > 0 ? theta : 1.0;
    if (!(theta > 0)) c.notes.push_back(l.name + ": received no input while calibrating; θ = 1");
    scale_layer(probe.layers[k], 1.0 / t, 1.0 / t);
    scale_layer(l, 1.0 / t, 1.0 / t);
    c.scales.push_back({l.name, t, 0.0, {}});
  }
}

// Bias calibration (Li et al. 2021, "bias correction"). A converted IF layer's rate falls short of (or
// overshoots) its ANN activation by an amount that depends on the latency: the residual charge of a reset by
// subtraction, uneven spike arrival and the clip all bias a channel's mean. Layer by layer from the input (each
// correction changes what the layers above see), the net is simulated through layers 0..k on the calibration
// images, and each channel's bias moves by the gap between the ANN activation's mean and the SNN's mean rate,
// both in spikes per step (p_in·a/λ against spikes / (positions·images·T)): a per-step current Δ raises an
// unclipped IF neuron's rate by Δ/θ. The readout is left alone (its argmax does not need the mean), as are pooling
// layers.
void calibrate_biases(Conversion& c, const std::vector<Stage>& stages, const Model& model, const Dataset& norm_data,
                      const ConvertOptions& opts, Backend* calibrator) {
  if (!calibrator || !calibrator->capabilities().simulates) fail_internal("bias calibration needs a simulator");
  const double p_in = input_rate_per_step(opts);  // a normalised activation of λ fires p_in spikes per step
  SimOptions so;
  so.steps = opts.calibrate_steps;
  so.images = std::min(opts.calibrate_images, norm_data.size());
  so.seed = opts.seed;
  const LayerAndChannelSummaries acts =
      summarise_stage_channels(model, norm_data, so.images, stages, 100.0, opts.input_affine);
  double before = 0, after = 0;  // Σ |gap| over the calibrated channels, for the note
  int64_t calibrated = 0;
  for (size_t k = 0; k + 1 < c.net.layers.size(); ++k) {
    Layer& l = c.net.layers[k];
    if (l.kind == LayerKind::avgpool || !l.weight.defined()) continue;
    so.probe_layer = static_cast<int>(k);
    const int64_t C = l.out_shape[0], plane = l.out_shape[1] * l.out_shape[2];
    // --norm none has no scales: the trained weights, so a rate of 1 stands for an activation of 1.
    const LayerScale scale = k < c.scales.size() ? c.scales[k] : LayerScale{l.name, 1.0, 0.0, {}};
    // Each channel's ANN mean in spikes per step (p_in·a/λ) minus its SNN rate, simulating the net as it stands.
    const auto gaps = [&] {
      const SimResult run = calibrator->simulate(c.net, norm_data, so);
      const std::vector<int64_t>& spikes = run.layers.at(k).neuron_spikes;
      std::vector<double> out(static_cast<size_t>(C));
      for (int64_t ch = 0; ch < C; ++ch) {
        int64_t n = 0;
        for (int64_t i = 0; i < plane; ++i) n += spikes[static_cast<size_t>(ch * plane + i)];  // [C, H, W]
        const double rate = static_cast<double>(n) / (static_cast<double>(plane * so.images) * so.steps);
        const double lambda =
            scale.channel_lambda.empty() ? scale.lambda : scale.channel_lambda[static_cast<size_t>(ch)];
        out[static_cast<size_t>(ch)] = p_in * acts.channels[k][static_cast<size_t>(ch)].mean() / lambda - rate;
      }
      return out;
    };
    if (!l.bias.defined()) l.bias = Tensor::zeros({C});
    const int64_t per_channel = l.per_neuron_bias() ? plane : 1;
    const std::vector<double> gap = gaps();
    for (int64_t ch = 0; ch < C; ++ch) {
      before += std::fabs(gap[static_cast<size_t>(ch)]);
      const auto delta = static_cast<float>(gap[static_cast<size_t>(ch)] * l.threshold);
      for (int64_t i = 0; i < per_channel; ++i) l.bias[ch * per_channel + i] += delta;
    }
    for (double g : gaps()) after += std::fabs(g);  // what is left, for the note
    calibrated += C;
  }
  c.calibration = {calibrated, calibrated ? before / static_cast<double>(calibrated) : 0.0,
                   calibrated ? after / static_cast<double>(calibrated) : 0.0};
  char line[200];
  std::snprintf(line, sizeof line,
                "bias calibration (%lld images, T = %d): mean |ANN − SNN| rate per channel %.4f → %.4f over %lld "
                "channels",
                static_cast<long long>(so.images), so.steps, c.calibration.gap_before, c.calibration.gap_after,
                static_cast<long long>(calibrated));
  c.notes.push_back(line);
}

// A normalised net into LIF (IF_curr_exp) neurons. Unit weight → g nA into the synapse, chosen so that the
// largest normalised input (unit-weight spikes at the input's top rate p_in per step) drives the neuron at that
// same top rate: the steady current I = g·p_in/(1 − P11) must give an inter-spike interval 1/max_rate = τ_ref +
// τm·ln(I·R / (I·R − Δ)), R = τm/cm, Δ = v_thresh − v_reset. Below Δ/R the LIF is silent (the leak's dead zone;
// Liu trains for it, normalised ReLU nets lose what lies there). A bias b (per-step units) becomes the direct
// current that moves the membrane as much per step as b·g injected into the synapse every step: b·g/(1 − P11)
// of synaptic current acts through P21, a direct current through P20 (neurons.h).
void map_to_lif_currents(Network& net, const ConvertOptions& opts) {
  const LifParams& lp = opts.lif;
  const double h = opts.dt_ms, R = lp.tau_m / lp.cm, delta = lp.v_thresh - lp.v_reset;
  const double isi = 1000.0 / opts.input.max_rate_hz - lp.tau_refrac;
  if (!(isi > 0)) fail_input("--max-rate", "the top rate must leave time after the refractory period");
  const double i_max = delta / (R * (1.0 - std::exp(-isi / lp.tau_m)));
  const LifPropagators prop(lp, h);
  const double g = i_max * (1.0 - prop.p11) / input_rate_per_step(opts);
  for (Layer& l : net.layers) scale_layer(l, g, g * prop.p21 / (prop.p20 * (1.0 - prop.p11)));
}

}  // namespace

Conversion convert(const Model& model, const Dataset& norm_data, const ConvertOptions& opts, Backend* calibrator,
                   const std::string& source) {
  check_options(model, norm_data, opts);
  Conversion c;
  const bool spiking_pools = opts.pools == PoolMode::spiking || (opts.pools == PoolMode::automatic && is_lif(opts));
  std::vector<Stage> stages = find_stages(model, spiking_pools, opts.softplus_offset, c.notes);
  if (!opts.input_affine.identity()) {
    fold_input_affine(stages.front(), opts.input_affine);
    const Stage& first = stages.front();
    c.notes.push_back("input normalisation folded into " + first.weighted->name +
                      ": the SNN encodes the pixels in [0, 1]" +
                      (first.bias.numel() > first.out_shape[0] ? ", its bias per neuron" : ""));
  }
  if ((opts.norm == Norm::none || opts.norm == Norm::spike) &&
      std::any_of(stages.begin(), stages.end(), [](const Stage& s) { return s.clip > 0; }))
    c.notes.push_back(std::string("relu6: its ceiling of 6 is not represented with --norm ") + to_string(opts.norm) +
                      " (a neuron saturates at one spike per step); data or robust normalisation caps λ at 6");
  c.net = describe(model, stages, opts, source);
  if (opts.norm == Norm::qcfs &&
      std::none_of(stages.begin(), stages.end(), [](const Stage& s) { return s.trained_lambda > 0; }))
    fail_input("--norm qcfs", "needs a QCFS-trained model (model.activation: qcfs); this one has none");
  if (opts.norm == Norm::qcfs && reset_mode(opts.neuron) != ResetMode::subtract)
    c.notes.push_back(std::string("warning: a QCFS net converts exactly with reset by subtraction (Bu 2022, "
                                  "Theorem 2); ") +
                      to_string(opts.neuron) +
                      " neurons drop the charge above threshold at every spike, and the low-latency accuracy with it");
  if (opts.channel_norm && opts.norm != Norm::data && opts.norm != Norm::robust)
    c.notes.push_back(std::string("--channel-norm applies to data and robust normalisation, not --norm ") +
                      to_string(opts.norm) + ": one λ per layer");
  if (opts.norm == Norm::data || opts.norm == Norm::robust || opts.norm == Norm::qcfs)
    normalise_by_activations(c, stages, model, norm_data, opts);
  else if (opts.norm == Norm::spike)
    normalise_by_spikes(c, stages, model, norm_data, opts, calibrator);
  if (opts.calibrate_images > 0) calibrate_biases(c, stages, model, norm_data, opts, calibrator);
  if (is_lif(opts) && !is_liu(opts)) map_to_lif_currents(c.net, opts);
  validate(c.net);
  return c;
}

}  // namespace sf::snn
