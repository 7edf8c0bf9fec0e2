#include "backends/nir/nir_import.h"

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "backends/nir/nir_graph.h"
#include "core/error.h"

namespace sf::nir {

bool is_nir_path(const std::string& path) { return path.size() > 4 && path.compare(path.size() - 4, 4, ".nir") == 0; }

namespace {

using snn::LayerKind;

constexpr int64_t kMaxWindow = 4096;                  // kernel, stride, padding
constexpr int64_t kMaxPopulation = int64_t{1} << 26;  // neurons in one layer

// A double that narrows to float without undefined behaviour.
bool fits_float(double v) { return std::isfinite(v) && std::abs(v) <= std::numeric_limits<float>::max(); }

constexpr const char* kSupported =
    "spikeforge simulates Input, Conv2d (groups 1 or depthwise), Affine, Linear, AvgPool2d, SumPool2d, Scale, "
    "Flatten, IF, CubaLIF and Output";

class Importer {
 public:
  Importer(std::string path, Graph g) : path_(std::move(path)), g_(std::move(g)) {}

  Import run() {
    const std::vector<std::string> chain = walk();
    const Node& input = *g_.find(chain.front());
    const Field& shape = field(input, chain.front(), "shape");
    if (shape.count() != 3)
      fail(chain.front(), "Input shape must be (C, H, W), got " + std::to_string(shape.count()) + " values");
    shape_.clear();
    for (double d : shape.numbers) {
      if (!(d >= 1 && d <= 65536)) fail(chain.front(), "Input shape has a bad dimension");
      shape_.push_back(static_cast<int64_t>(d));
    }
    if (numel(shape_) > kMaxPopulation) fail(chain.front(), "the Input has more than 2^26 values");
    out_.net.input_shape = pop_ = shape_;
    if (auto it = g_.metadata.find("dt"); it != g_.metadata.end() && !it->second.is_text() && it->second.count() == 1 &&
                                          it->second.numbers[0] > 0 && it->second.numbers[0] < 1) {
      dt_s_ = it->second.numbers[0];
    } else {
      out_.notes.push_back("the file's metadata has no dt: one step is 1 ms");
    }
    out_.net.dt_ms = dt_s_ * 1000.0;
    out_.net.source = path_;
    out_.net.conversion = "nir";
    for (size_t i = 1; i + 1 < chain.size(); ++i) node(chain[i], *g_.find(chain[i]));
    const Node& output = *g_.find(chain.back());
    if (pending_ || pool_k_) fail(chain.back(), "the chain ends without neurons after its last weights or pooling");
    if (out_.net.layers.empty()) fail(chain.back(), "the graph has no neurons");
    if (output.has("shape")) {
      double n = 1;
      for (double d : output.fields.at("shape").numbers) {
        if (!(d >= 1 && d <= 1e9)) fail(chain.back(), "Output shape has a bad dimension");
        n *= d;
      }
      if (n != static_cast<double>(numel(shape_)))
        fail(chain.back(), "Output shape does not match the last population's " + to_string(shape_));
    }
    snn::validate(out_.net);
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& node, const std::string& what) const {
    const Node* n = g_.find(node);
    fail_input(path_, "node '" + node + "'" + (n ? " (" + n->type + ")" : "") + ": " + what);
  }

  const Field& field(const Node& n, const std::string& name, const std::string& key) const {
    auto it = n.fields.find(key);
    if (it == n.fields.end()) fail(name, "has no field '" + key + "'");
    const Field& f = it->second;
    if (f.is_text()) fail(name, "field '" + key + "' must be numbers");
    // The dims must describe the values (a graph that did not come from this reader may say anything).
    uint64_t values = 1;
    for (int64_t d : f.dims) {
      if (d < 0 || (d > 0 && values > static_cast<uint64_t>(kMaxPopulation) / static_cast<uint64_t>(d)))
        fail(name, "field '" + key + "' has a bad shape");
      values *= static_cast<uint64_t>(d);
    }
    if (values != f.numbers.size())
      fail(name, "field '" + key + "' holds " + std::to_string(f.numbers.size()) + " values for its shape " +
                     to_string(f.dims));
    return f;
  }

  // One value for every axis (scalar or per-axis), or `fallback` when absent.
  int64_t same(const Node& n, const std::string& name, const std::string& key, int64_t fallback) const {
    if (!n.has(key)) return fallback;
    const Field& f = field(n, name, key);
    if (f.count() < 1) fail(name, "field '" + key + "' is empty");
    for (double v : f.numbers)
      if (v != f.numbers[0]) fail(name, "field '" + key + "' must be the same on both axes (square)");
    if (!(f.numbers[0] >= 0 && f.numbers[0] <= 65536)) fail(name, "field '" + key + "' is out of range");
    return static_cast<int64_t>(f.numbers[0]);
  }

  // A per-neuron parameter that must be the same for the whole population.
  double uniform(const Node& n, const std::string& name, const std::string& key, std::optional<double> fallback) const {
    if (!n.has(key)) {
      if (!fallback) fail(name, "has no field '" + key + "'");
      return *fallback;
    }
    const Field& f = field(n, name, key);
    if (f.count() < 1) fail(name, "field '" + key + "' is empty");
    if (f.count() != 1 && f.count() != numel(shape_))
      fail(name, "field '" + key + "' has " + std::to_string(f.count()) + " values for a population of " +
                     std::to_string(numel(shape_)));
    for (double v : f.numbers) {
      if (!std::isfinite(v)) fail(name, "field '" + key + "' is not finite");
      if (v != f.numbers[0])
        fail(name, "field '" + key + "' differs between neurons; the spikeforge simulator takes one value per layer");
    }
    return f.numbers[0];
  }

  std::vector<double> doubles(const Node& n, const std::string& name, const std::string& key, int64_t count) const {
    const Field& f = field(n, name, key);
    if (f.count() != count)
      fail(name, "field '" + key + "' has " + std::to_string(f.count()) + " values, expected " + std::to_string(count));
    for (double v : f.numbers)
      if (!std::isfinite(v)) fail(name, "field '" + key + "' holds NaN or Inf");
    return f.numbers;
  }

  Tensor tensor(const Node& n, const std::string& name, const std::string& key, const Shape& want) const {
    const Field& f = field(n, name, key);
    if (f.count() != numel(want))
      fail(name, "field '" + key + "' has " + std::to_string(f.count()) + " values, expected " + to_string(want));
    std::vector<float> v(f.numbers.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(f.numbers[i])) fail(name, "field '" + key + "' holds NaN or Inf");
      if (!fits_float(f.numbers[i])) fail(name, "field '" + key + "' holds a value beyond float range");
      v[i] = static_cast<float>(f.numbers[i]);
    }
    return Tensor::from(want, v);
  }

  // Input to output, one edge at a time: the chain a feed-forward simulator runs.
  std::vector<std::string> walk() const {
    std::map<std::string, std::vector<std::string>> outs, ins;
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& [a, b] : g_.edges) {
      if (!g_.find(a)) fail_input(path_, "an edge starts at '" + a + "', which is no node");
      if (!g_.find(b)) fail_input(path_, "an edge ends at '" + b + "', which is no node");
      if (!seen.insert({a, b}).second) continue;
      outs[a].push_back(b);
      ins[b].push_back(a);
    }
    std::string input, output;
    for (const auto& [name, n] : g_.nodes) {
      if (n.type == "Input") {
        if (!input.empty()) fail(name, "a second Input node; spikeforge simulates graphs with one input");
        input = name;
      }
      if (n.type == "Output") {
        if (!output.empty()) fail(name, "a second Output node; spikeforge simulates graphs with one output");
        output = name;
      }
    }
    if (input.empty()) fail_input(path_, "the graph has no Input node");
    if (output.empty()) fail_input(path_, "the graph has no Output node");
    std::vector<std::string> chain{input};
    std::set<std::string> visited{input};
    for (std::string cur = input; cur != output;) {
      const auto& next = outs[cur];
      if (next.empty()) fail(cur, "has no outgoing edge: the chain stops before the Output node");
      if (next.size() > 1) fail(cur, "has " + std::to_string(next.size()) + " outgoing edges (a branch)");
      cur = next[0];
      if (visited.count(cur))
        fail(cur, "is reached twice: a recurrent edge (spikeforge simulates feed-forward graphs)");
      if (ins[cur].size() > 1)
        fail(cur, "has " + std::to_string(ins[cur].size()) + " incoming edges (a recurrent or skip connection)");
      visited.insert(cur);
      chain.push_back(cur);
    }
    if (!outs[output].empty()) fail(output, "has an outgoing edge");
    for (const auto& [name, n] : g_.nodes)
      if (!visited.count(name)) fail(name, "is not on the path from the Input to the Output node");
    return chain;
  }

  void node(const std::string& name, const Node& n) {
    const std::string& t = n.type;
    if (t == "Conv2d") return conv(name, n);
    if (t == "Affine" || t == "Linear") return dense(name, n);
    if (t == "AvgPool2d" || t == "SumPool2d") return pool(name, n);
    if (t == "Scale") return scale(name, n);
    if (t == "Flatten") {
      shape_ = {numel(shape_)};
      return;
    }
    if (t == "IF" || t == "CubaLIF") return neurons(name, n);
    if (t == "LIF") fail(name, "NIR's LIF has no synaptic current; spikeforge simulates CubaLIF (IF_curr_exp) and IF");
    fail(name, "type " + t + " is not simulated; " + kSupported);
  }

  void begin(const std::string& name) {
    if (pending_) fail(name, "follows weights that have no neurons after them");
    pending_.emplace();
    pending_->name = name;
    pending_->pool_in = pool_k_;
    pending_->in_shape = pop_;
    // A pooling merged into these weights: spikeforge's averages, so a sum is k² times that, and a Scale
    // between the pooling and the weights scales them too.
    const double merged =
        pool_k_ ? (pool_sum_ ? static_cast<double>(pool_k_) * pool_k_ : 1.0) * pool_scale_extra_ : 1.0;
    if (!fits_float(merged)) fail(name, "the pooling's scale before it is beyond float range");
    pool_scale_ = static_cast<float>(merged);
    end_pool();
  }

  void conv(const std::string& name, const Node& n) {
    if (shape_.size() != 3) fail(name, "needs a (C, H, W) input, the chain is flat here");
    const Field& wf = field(n, name, "weight");
    if (wf.dims.size() != 4) fail(name, "weight must be (C_out, C_in / groups, kH, kW)");
    const int64_t o = wf.dims[0], cg = wf.dims[1], kh = wf.dims[2], kw = wf.dims[3];
    if (kh != kw) fail(name, "only square kernels are simulated");
    const int64_t groups = same(n, name, "groups", 1), stride = same(n, name, "stride", 1),
                  pad = same(n, name, "padding", 0), dilation = same(n, name, "dilation", 1);
    if (dilation != 1) fail(name, "dilation must be 1");
    if (stride < 1 || stride > kMaxWindow || pad > kMaxWindow || kh > kMaxWindow)
      fail(name, "kernel, stride and padding must be in [1, 4096] (padding from 0)");
    const int64_t c = shape_[0];
    begin(name);
    snn::Layer& l = *pending_;
    if (groups == 1 && cg == c)
      l.kind = LayerKind::conv;
    else if (groups == c && cg == 1 && o == c)
      l.kind = LayerKind::depthwise_conv;
    else
      fail(name, "groups " + std::to_string(groups) + " with weight " + to_string(wf.dims) + " on " +
                     std::to_string(c) + " channels: only groups 1 and depthwise (one filter per channel) simulate");
    if (n.has("input_shape")) {
      const Field& is = field(n, name, "input_shape");
      if (is.count() >= 2 && (is.numbers[is.count() - 2] != shape_[1] || is.numbers[is.count() - 1] != shape_[2]))
        fail(name, "input_shape does not match the " + std::to_string(shape_[1]) + "×" + std::to_string(shape_[2]) +
                       " maps that reach it");
    }
    l.kernel = static_cast<int>(kh);
    l.stride = static_cast<int>(stride);
    l.padding = static_cast<int>(pad);
    l.weight = tensor(n, name, "weight", {o, cg, kh, kw});
    if (n.has("bias")) bias_ = doubles(n, name, "bias", o);
    const int64_t oh = (shape_[1] + 2 * pad - kh) / stride + 1, ow = (shape_[2] + 2 * pad - kw) / stride + 1;
    if (oh < 1 || ow < 1) fail(name, "its output would be empty");
    if (o * oh > kMaxPopulation / ow) fail(name, "its population would exceed 2^26 neurons");
    l.out_shape = {o, oh, ow};
  }

  void dense(const std::string& name, const Node& n) {
    const Field& wf = field(n, name, "weight");
    if (wf.dims.size() != 2) fail(name, "weight must be (out, in)");
    if (shape_.size() == 3 && shape_[1] * shape_[2] > 1)
      fail(name, "reads a (C, H, W) population: put a Flatten before it");
    if (wf.dims[1] != numel(shape_))
      fail(name, "weight " + to_string(wf.dims) + " does not read the " + std::to_string(numel(shape_)) + " inputs");
    begin(name);
    snn::Layer& l = *pending_;
    l.kind = LayerKind::dense;
    l.weight = tensor(n, name, "weight", {wf.dims[0], wf.dims[1]});
    if (n.type == "Affine" && n.has("bias")) bias_ = doubles(n, name, "bias", wf.dims[0]);
    l.out_shape = {wf.dims[0], 1, 1};
  }

  void pool(const std::string& name, const Node& n) {
    if (pending_) fail(name, "pooling after weights, before neurons, is not simulated");
    if (pool_k_) fail(name, "two poolings in a row are not simulated");
    if (shape_.size() != 3) fail(name, "needs a (C, H, W) input");
    const int64_t k = same(n, name, "kernel_size", 0);
    if (k < 1 || k > kMaxWindow) fail(name, "needs a kernel_size in [1, 4096]");
    if (same(n, name, "stride", k) != k) fail(name, "only stride = kernel_size is simulated");
    if (same(n, name, "padding", 0) != 0) fail(name, "only unpadded pooling is simulated");
    if (shape_[1] < k || shape_[2] < k) fail(name, "the maps are smaller than the kernel");
    pool_k_ = static_cast<int>(k);
    pool_sum_ = n.type == "SumPool2d";
    pool_name_ = name;
    shape_ = {shape_[0], shape_[1] / k, shape_[2] / k};
  }

  void end_pool() {
    pool_k_ = 0;
    pool_sum_ = false;
    pool_scale_extra_ = 1;
  }

  void scale(const std::string& name, const Node& n) {
    const double s = uniform(n, name, "scale", std::nullopt);
    if (pool_k_ && !pending_) {  // scales the pooling population's inputs
      pool_scale_extra_ *= s;
      return;
    }
    if (!pending_) fail(name, "only a Scale after weights or a pooling is simulated");
    scale_ *= s;
  }

  void neurons(const std::string& name, const Node& n) {
    if (pool_k_ && !pending_) {  // a pooling population: pooling → neurons
      pending_.emplace();
      snn::Layer& l = *pending_;
      l.name = pool_name_;
      l.kind = LayerKind::avgpool;
      l.in_shape = pop_;
      l.out_shape = shape_;
      l.kernel = pool_k_;
      l.stride = pool_k_;
      const double k2 = static_cast<double>(pool_k_) * pool_k_;
      const double pw = (pool_sum_ ? 1.0 : 1.0 / k2) * pool_scale_extra_;
      if (!fits_float(pw)) fail(name, "the pooling's scale is beyond float range");
      l.pool_weight = static_cast<float>(pw);
      end_pool();
    }
    if (!pending_) fail(name, "neurons need weights or a pooling before them");
    snn::Layer l = std::move(*pending_);
    pending_.reset();
    const bool lif = n.type == "CubaLIF";
    const snn::NeuronModel model = lif ? snn::NeuronModel::lif : snn::NeuronModel::if_reset_zero;
    if (!out_.net.layers.empty() && model != out_.net.neuron)
      fail(name, "mixes neuron models; the spikeforge simulator runs one model per network");
    out_.net.neuron = model;
    shape_ = l.kind == LayerKind::dense ? Shape{l.out_shape[0]} : l.out_shape;
    // Per step, a spike through w adds r·w (IF) or w·w_in/τs to the synaptic current (CubaLIF), and a bias b
    // r·b·dt or a direct current w_in·b.
    double w_gain = 1, b_gain = 1;
    if (!lif) {
      const double r = uniform(n, name, "r", 1.0);
      l.threshold = uniform(n, name, "v_threshold", std::nullopt);
      if (!(l.threshold > 0)) fail(name, "v_threshold must be > 0");
      if (uniform(n, name, "v_reset", 0.0) != 0)
        fail(name, "v_reset must be 0 (the spikeforge IF resets to 0; shift v_threshold instead)");
      w_gain = r, b_gain = r * dt_s_;
    } else {
      snn::LifParams p = out_.net.lif;
      p.tau_m = uniform(n, name, "tau_mem", std::nullopt) * 1000.0;
      p.tau_syn = uniform(n, name, "tau_syn", std::nullopt) * 1000.0;
      const double r = uniform(n, name, "r", 1.0), w_in = uniform(n, name, "w_in", 1.0);
      if (!(p.tau_m > 0 && p.tau_syn > 0 && r > 0 && p.tau_m != p.tau_syn))
        fail(name, "tau_mem, tau_syn and r must be > 0, and tau_mem != tau_syn");
      p.cm = p.tau_m / r;
      p.v_rest = uniform(n, name, "v_leak", 0.0);
      p.v_thresh = uniform(n, name, "v_threshold", std::nullopt);
      p.v_reset = uniform(n, name, "v_reset", 0.0);
      p.tau_refrac = 0;
      p.i_offset = 0;  // the direct current is each layer's bias
      w_gain = w_in / (p.tau_syn / 1000.0), b_gain = w_in;
      // The simulator's LIF parameters are the network's: every CubaLIF node must agree with the first.
      const snn::LifParams& q = out_.net.lif;
      if (!out_.net.layers.empty() && (p.tau_m != q.tau_m || p.tau_syn != q.tau_syn || p.cm != q.cm ||
                                       p.v_rest != q.v_rest || p.v_thresh != q.v_thresh || p.v_reset != q.v_reset))
        fail(name,
             "its CubaLIF parameters differ from the first population's; the spikeforge simulator runs one "
             "set per network");
      out_.net.lif = p;
    }
    const double wgain = w_gain * scale_ * pool_scale_;
    if (!fits_float(wgain) || !fits_float(w_gain)) fail(name, "r, w_in or a Scale puts the weights beyond float range");
    const float wg = static_cast<float>(wgain);
    if (l.weight.defined() && wg != 1.0f)
      for (int64_t i = 0; i < l.weight.numel(); ++i)
        if (!std::isfinite(l.weight[i] *= wg)) fail(name, "a weight overflows once scaled by r, w_in or a Scale");
    if (l.kind == LayerKind::avgpool && !std::isfinite(l.pool_weight *= static_cast<float>(w_gain)))
      fail(name, "the pooling weight overflows once scaled by r");
    // In double: a bias written as b / dt comes back as b exactly.
    if (!bias_.empty()) {
      l.bias = Tensor({static_cast<int64_t>(bias_.size())});
      for (size_t i = 0; i < bias_.size(); ++i) {
        const double b = bias_[i] * b_gain * scale_;
        if (!fits_float(b)) fail(name, "a bias is beyond float range once scaled");
        l.bias[static_cast<int64_t>(i)] = static_cast<float>(b);
      }
    }
    bias_.clear();
    scale_ = 1, pool_scale_ = 1;
    pop_ = l.out_shape;
    out_.net.layers.push_back(std::move(l));
  }

  std::string path_;
  Graph g_;
  Import out_;
  Shape shape_;                        // the population (or input) the next node reads
  std::optional<snn::Layer> pending_;  // weights waiting for their neurons
  int pool_k_ = 0;                     // a pooling waiting for weights or neurons
  bool pool_sum_ = false;
  std::string pool_name_;
  Shape pop_;                 // the last population's shape (the input's before the first)
  std::vector<double> bias_;  // of the pending weights, as the file holds it
  double scale_ = 1, pool_scale_extra_ = 1;
  float pool_scale_ = 1;  // SumPool2d merged into weights: k² (spikeforge's merged pooling averages)
  double dt_s_ = 1e-3;
};

}  // namespace

Import network_from_nir(const std::string& path) { return Importer(path, read_graph(path)).run(); }

Import network_from_graph(const Graph& g, const std::string& source) { return Importer(source, g).run(); }

}  // namespace sf::nir
