#include "interchange/onnx_import.h"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "core/checkpoint.h"
#include "core/io.h"
#include "models/zoo.h"

namespace sf {

bool is_onnx_path(const std::string& path) { return path.size() > 5 && path.compare(path.size() - 5, 5, ".onnx") == 0; }

namespace {

constexpr int64_t kMinOpset = 9, kMaxOpset = 17;

constexpr const char* kSupported =
    "spikeforge imports Conv, Gemm, MatMul, Add (a bias after MatMul or Conv), BatchNormalization, Relu, Clip "
    "(min 0, max 6 or none), Softplus, AveragePool, GlobalAveragePool, Flatten, Reshape (to [N, features]), "
    "Squeeze (after a global pooling), Pad (zeros, or before a Conv), Transpose (NHWC <-> NCHW only), Dropout, "
    "Identity, Constant, and "
    "Softmax / LogSoftmax as the last node";

const std::set<std::string> kOps = {"Conv",    "Gemm",     "MatMul",   "Add",         "BatchNormalization",
                                    "Relu",    "Clip",     "Softplus", "AveragePool", "GlobalAveragePool",
                                    "Flatten", "Reshape",  "Squeeze",  "Transpose",   "Dropout",
                                    "Pad",     "Identity", "Constant", "Softmax",     "LogSoftmax"};

std::string describe(const onnx::NodeProto& n) { return "node '" + n.name() + "' (" + n.op_type() + ")"; }

// A spikeforge layer name from an ONNX node name ("/features/0/Conv" → "features_0_Conv"), unique in the model.
std::string layer_name(const onnx::NodeProto& n, size_t index, std::set<std::string>& taken) {
  std::string s;
  for (char c : n.name()) s += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  const size_t first = s.find_first_not_of('_');
  s = first == std::string::npos ? "" : s.substr(first);
  if (s.empty()) {
    for (char c : n.op_type()) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s += "_" + std::to_string(index);
  }
  std::string name = s;
  for (int k = 2; taken.count(name); ++k) name = s + "_" + std::to_string(k);
  taken.insert(name);
  return name;
}

// The model's standard opset, checked to be one spikeforge imports.
int64_t model_opset(const onnx::ModelProto& model, const std::string& path) {
  int64_t v = -1;
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") v = o.version();
  if (v < 0) fail_input(path, "the model imports no standard ONNX opset");
  if (v < kMinOpset || v > kMaxOpset)
    fail_input(path, "opset " + std::to_string(v) + "; spikeforge imports opsets " + std::to_string(kMinOpset) + "-" +
                         std::to_string(kMaxOpset) + " (re-export with opset_version in that range)");
  return v;
}

// One spikeforge layer as it is being assembled: its spec and its tensors, in the spec's order.
struct PendingLayer {
  LayerSpec spec;
  std::vector<Tensor> params, buffers;
};

class Importer {
 public:
  Importer(std::string path, onnx::ModelProto& model, const OnnxImportOptions& opts)
      : path_(std::move(path)), model_(model), graph_(model.graph()), opts_(opts), opset_(model_opset(model, path_)) {
    for (const auto& n : graph_.node())
      for (const auto& i : n.input()) readers_[i].push_back(&n);
  }

  OnnxImport run() {
    OnnxImport out;
    out.opset = opset_;
    out.producer = model_.producer_name() + (model_.producer_version().empty() ? "" : " " + model_.producer_version());
    check_node_types();
    for (const auto& t : graph_.initializer()) consts_[t.name()] = &t;
    for (const auto& n : graph_.node()) {
      if (n.op_type() == "Constant") constant_node(n);
      // PyTorch copies shared initializers through Identity nodes: their outputs are constants too.
      if (n.op_type() == "Identity" && n.input_size() == 1 && constant(n.input(0)))
        consts_[n.output(0)] = constant(n.input(0));
    }
    read_input();
    for (int i = 0; i < graph_.node_size(); ++i) {
      const onnx::NodeProto& n = graph_.node(i);
      if (is_constant_node(n)) continue;
      node_index_ = static_cast<size_t>(i);
      last_node_ = i + 1 == graph_.node_size() || rest_is_constant(i + 1);
      import_node(n);
    }
    if (graph_.output_size() != 1)
      fail_input(path_, "the graph has " + std::to_string(graph_.output_size()) + " outputs; spikeforge imports one");
    if (graph_.output(0).name() != cur_)
      fail_input(path_, "the graph's output '" + graph_.output(0).name() + "' is not the end of its chain of nodes");
    if (pending_hwc_)
      fail_input(path_, "an NHWC Transpose before the last Flatten has no dense layer after it to fold into");
    if (layers_.empty()) fail_input(path_, "the graph has no layer spikeforge imports");
    // Without a softmax node the outputs are logits, which PyTorch trains with CrossEntropyLoss; an MSE-trained
    // net (Liu's) says so with --loss mse.
    out.loss = !opts_.loss.empty() ? opts_.loss : "crossentropy";
    if (opts_.loss.empty() && !softmax_)
      notes_.push_back(
          "no softmax at the output: loss crossentropy on the outputs (--loss mse for an MSE-trained net)");
    out.notes = notes_;
    build(out);
    return out;
  }

 private:
  [[noreturn]] void fail_node(const onnx::NodeProto& n, const std::string& what) const {
    fail_input(path_, describe(n) + ": " + what);
  }

  // Every node of an unsupported type, one line each, before anything else is read.
  void check_node_types() const {
    std::string lines;
    for (const auto& n : graph_.node())
      if (!kOps.count(n.op_type()) || (!n.domain().empty() && n.domain() != "ai.onnx"))
        lines += "\n  " + describe(n) + (n.domain().empty() ? "" : " of domain " + n.domain()) + " does not import";
    if (!lines.empty()) fail_input(path_, "unsupported nodes:" + lines + "\n" + kSupported);
  }

  bool is_constant_node(const onnx::NodeProto& n) const {
    return n.op_type() == "Constant" || (n.op_type() == "Identity" && n.input_size() == 1 && constant(n.input(0)));
  }

  bool rest_is_constant(int from) const {
    for (int i = from; i < graph_.node_size(); ++i)
      if (!is_constant_node(graph_.node(i))) return false;
    return true;
  }

  void constant_node(const onnx::NodeProto& n) {
    for (const auto& a : n.attribute())
      if (a.name() == "value" && a.has_t()) {
        consts_[n.output(0)] = &a.t();
        return;
      }
    fail_node(n, "only a Constant with a tensor 'value' imports");
  }

  // ---- tensors ----

  const onnx::TensorProto* constant(const std::string& name) const {
    auto it = consts_.find(name);
    return it == consts_.end() ? nullptr : it->second;
  }

  // The dims, their product checked against a bound before anything is allocated for them.
  Shape dims_of(const onnx::TensorProto& t) const {
    constexpr int64_t kMaxValues = int64_t{1} << 28;  // 1 GiB of float32: far above any net spikeforge runs
    Shape s;
    int64_t n = 1;
    for (int64_t d : t.dims()) {
      if (d < 0 || (d > 0 && n > kMaxValues / d))
        fail_input(path_, "initializer '" + t.name() + "' has a bad or too large shape");
      n *= d;
      s.push_back(d);
    }
    return s;
  }

  // A constant that must hold exactly one value (Clip's bounds, Pad's value).
  float scalar(const onnx::NodeProto& n, int i) const {
    const Tensor t = *weight(n, i, true);
    if (t.numel() != 1) fail_node(n, "input '" + n.input(i) + "' must be one value");
    return t[0];
  }

  // A float tensor (raw little-endian bytes or float_data; doubles are narrowed), checked finite.
  Tensor float_tensor(const onnx::TensorProto& t) const {
    const std::string where = "initializer '" + t.name() + "'";
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      fail_input(path_, where + " is stored in an external file; export the model as one .onnx file");
    const bool is_float = t.data_type() == onnx::TensorProto::FLOAT;
    if (!is_float && t.data_type() != onnx::TensorProto::DOUBLE)
      fail_input(path_, where + " is not float32 (ONNX data type " + std::to_string(t.data_type()) +
                            "); spikeforge imports float weights");
    const Shape shape = dims_of(t);
    const int64_t n = numel(shape);
    // The stored count is checked against the shape before anything is allocated.
    const size_t bytes = is_float ? 4 : 8;
    const bool raw = !t.raw_data().empty();
    const int64_t stored = raw ? static_cast<int64_t>(t.raw_data().size() / bytes)
                               : (is_float ? t.float_data_size() : t.double_data_size());
    if (stored != n || (raw && t.raw_data().size() % bytes != 0))
      fail_input(path_,
                 where + " holds " +
                     (raw ? std::to_string(t.raw_data().size()) + " bytes" : std::to_string(stored) + " values") +
                     " for its shape " + to_string(shape));
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      double d;
      if (is_float) {
        float f;
        if (raw)
          std::memcpy(&f, t.raw_data().data() + 4 * i, 4);
        else
          f = t.float_data(static_cast<int>(i));
        d = f;
      } else if (raw) {
        std::memcpy(&d, t.raw_data().data() + 8 * i, 8);
      } else {
        d = t.double_data(static_cast<int>(i));
      }
      // A double beyond float's range would not narrow (undefined behaviour): it is refused like Inf.
      if (!std::isfinite(d) || std::abs(d) > std::numeric_limits<float>::max())
        fail_input(path_, where + " holds NaN or Inf (value " + std::to_string(i) + ")");
      v[static_cast<size_t>(i)] = static_cast<float>(d);
    }
    return Tensor::from(shape.empty() ? Shape{1} : shape, v);
  }

  std::vector<int64_t> int_tensor(const onnx::TensorProto& t) const {
    const int64_t n = numel(dims_of(t));
    std::vector<int64_t> v;
    if (t.data_type() != onnx::TensorProto::INT64)
      fail_input(path_, "initializer '" + t.name() + "' must be int64 (a shape)");
    if (!t.raw_data().empty()) {
      if (static_cast<int64_t>(t.raw_data().size()) != 8 * n)
        fail_input(path_, "initializer '" + t.name() + "' holds the wrong number of bytes for its shape");
      v.resize(static_cast<size_t>(n));
      std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
    } else {
      if (t.int64_data_size() != n) fail_input(path_, "initializer '" + t.name() + "' holds the wrong count");
      v.assign(t.int64_data().begin(), t.int64_data().end());
    }
    return v;
  }

  // The float constant feeding input `i` of node `n`; null when the input is absent and optional.
  std::optional<Tensor> weight(const onnx::NodeProto& n, int i, bool required) const {
    if (i >= n.input_size() || n.input(i).empty()) {
      if (required) fail_node(n, "input " + std::to_string(i) + " is missing");
      return std::nullopt;
    }
    const onnx::TensorProto* t = constant(n.input(i));
    if (!t) fail_node(n, "input '" + n.input(i) + "' must be an initializer (a trained weight), not computed");
    Tensor w = float_tensor(*t);
    if (w.numel() == 0) fail_node(n, "input '" + n.input(i) + "' is empty");
    return w;
  }

  // ---- attributes ----

  const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) const {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t fallback) const {
    const auto* a = attr(n, name);
    return a ? a->i() : fallback;
  }
  double attr_float(const onnx::NodeProto& n, const std::string& name, double fallback) const {
    const auto* a = attr(n, name);
    return a ? a->f() : fallback;
  }
  std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name,
                                 std::vector<int64_t> fallback) const {
    const auto* a = attr(n, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : fallback;
  }
  std::string attr_string(const onnx::NodeProto& n, const std::string& name, const std::string& fallback) const {
    const auto* a = attr(n, name);
    return a ? a->s() : fallback;
  }

  // One value for both spatial axes (spikeforge's conv and pooling take square strides and symmetric padding).
  int64_t same_value(const onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v,
                     int64_t fallback) const {
    if (v.empty()) return fallback;
    if (std::any_of(v.begin(), v.end(), [&](int64_t x) { return x != v[0]; }))
      fail_node(
          n, name + " must be the same on every axis and side (spikeforge takes one value), got " + attr_to_string(v));
    return v[0];
  }

  // Strides, kernels and pads in a range the ops take (0 would divide by zero in the shape rules).
  void check_window(const onnx::NodeProto& n, int64_t k, int64_t stride, int64_t pad) const {
    constexpr int64_t kMax = 4096;
    if (k < 1 || k > kMax) fail_node(n, "kernel size " + std::to_string(k) + " is out of range");
    if (stride < 1 || stride > kMax) fail_node(n, "stride " + std::to_string(stride) + " must be in [1, 4096]");
    if (pad < 0 || pad > kMax) fail_node(n, "padding " + std::to_string(pad) + " must be in [0, 4096]");
  }

  // Symmetric padding from pads / auto_pad for a k-wide window of stride s.
  int64_t padding(const onnx::NodeProto& n, int64_t k, int64_t s) const {
    const std::string mode = attr_string(n, "auto_pad", "NOTSET");
    if (mode == "VALID") return 0;
    if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
      if (s != 1 || k % 2 == 0) fail_node(n, "auto_pad " + mode + " imports only for stride 1 and odd kernels");
      return k / 2;
    }
    if (mode != "NOTSET") fail_node(n, "unknown auto_pad '" + mode + "'");
    return same_value(n, "pads", attr_ints(n, "pads", {}), 0);
  }

  // ---- the chain ----

  void read_input() {
    std::set<std::string> inits;
    for (const auto& t : graph_.initializer()) inits.insert(t.name());
    const onnx::ValueInfoProto* in = nullptr;
    for (const auto& v : graph_.input())
      if (!inits.count(v.name())) {
        if (in) fail_input(path_, "the graph has more than one input ('" + in->name() + "', '" + v.name() + "')");
        in = &v;
      }
    if (!in) fail_input(path_, "the graph has no input");
    cur_ = input_name_ = in->name();
    const auto& shape = in->type().tensor_type().shape();
    std::vector<int64_t> dims;  // -1: dynamic
    for (const auto& d : shape.dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    // A Keras export reads NHWC and transposes to NCHW first: the model itself reads NCHW.
    const onnx::NodeProto* first = first_reader(cur_);
    input_nhwc_ = first && first->op_type() == "Transpose" && dims.size() == 4 &&
                  attr_ints(*first, "perm", {}) == std::vector<int64_t>{0, 3, 1, 2};
    if (input_nhwc_) dims = {dims[0], dims[3], dims[1], dims[2]};
    if (dims.size() != 4 && dims.size() != 2)
      fail_input(path_, "input '" + cur_ + "' has rank " + std::to_string(dims.size()) +
                            "; spikeforge imports image models ([N, C, H, W]) and flat ones ([N, features])");
    Shape want;
    if (!opts_.input_shape.empty()) {
      want = opts_.input_shape;
      if (want.size() != 3 || std::any_of(want.begin(), want.end(), [](int64_t d) { return d < 1; }))
        fail_input("--input-shape", "must be C,H,W with every dimension >= 1");
      if (dims.size() == 4)
        for (int i = 0; i < 3; ++i)
          if (dims[i + 1] > 0 && dims[i + 1] != want[i])
            fail_input("--input-shape", to_string(want) + " does not match the model's input " + shape_text(dims));
      if (dims.size() == 2 && dims[1] > 0 && dims[1] != numel(want))
        fail_input("--input-shape", to_string(want) + " has " + std::to_string(numel(want)) +
                                        " values; the model's input " + shape_text(dims) + " has " +
                                        std::to_string(dims[1]));
    } else {
      if (dims.size() == 2)
        fail_input(path_, "input '" + cur_ + "' is flat " + shape_text(dims) +
                              ": give the image shape it flattens with --input-shape C,H,W");
      if (std::any_of(dims.begin() + 1, dims.end(), [](int64_t d) { return d < 1; }))
        fail_input(path_, "input '" + cur_ + "' has dynamic dimensions " + shape_text(dims) +
                              ": give them with --input-shape C,H,W");
      want = {dims[1], dims[2], dims[3]};
    }
    // Bounded so that no shape arithmetic below can overflow.
    constexpr int64_t kMaxDim = 65536, kMaxValues = int64_t{1} << 28;
    if (std::any_of(want.begin(), want.end(), [](int64_t d) { return d > kMaxDim; }) ||
        want[0] * want[1] > kMaxValues / want[2])
      fail_input(opts_.input_shape.empty() ? path_ : "--input-shape",
                 "input " + to_string(want) + " is too large (dims up to 65536, 2^28 values)");
    input_shape_ = want;
    shape_ = want;
    if (dims.size() == 2) {
      add_layer(nullptr, "flatten", "flatten", {});
      shape_ = {numel(want)};
    }
  }

  static std::string shape_text(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + (dims[i] < 0 ? "?" : std::to_string(dims[i]));
    return s + "]";
  }

  const onnx::NodeProto* first_reader(const std::string& value) const {
    auto it = readers_.find(value);
    return it == readers_.end() ? nullptr : it->second.front();
  }

  // The node's input that carries the chain: the one that is not a constant.
  void expect_chain(const onnx::NodeProto& n) const {
    std::vector<std::string> data;
    for (const auto& i : n.input())
      if (!i.empty() && !constant(i)) data.push_back(i);
    if (data.size() != 1 || data[0] != cur_)
      fail_node(n, "reads " + (data.empty() ? std::string("no computed value") : "'" + data[0] + "'") +
                       (data.size() > 1 ? " and more" : "") + ", not only the output '" + cur_ +
                       "' of the node before it: spikeforge imports chains (no branches or skip connections)");
    for (const onnx::NodeProto* other : readers_.at(cur_))
      if (other != &n) fail_node(n, "its input '" + cur_ + "' is read by " + describe(*other) + " too: a branch");
  }

  PendingLayer& add_layer(const onnx::NodeProto* n, const std::string& type, const std::string& fallback_name,
                          Attrs attrs) {
    PendingLayer l;
    if (n)
      l.spec.name = layer_name(*n, node_index_, names_);
    else
      l.spec.name = fallback_name, names_.insert(fallback_name);
    l.spec.type = type;
    l.spec.attrs = std::move(attrs);
    layers_.push_back(std::move(l));
    return layers_.back();
  }

  void add_param(PendingLayer& l, const std::string& name, Tensor t) {
    l.spec.params.push_back({name, t.shape()});
    l.params.push_back(std::move(t));
  }

  void import_node(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (pending_pad_ && op != "Conv") fail_node(n, "follows a Pad: only a Conv after a Pad takes its padding");
    if (pending_hwc_ && op != "Flatten" && op != "Reshape" && op != "Gemm" && op != "MatMul" && op != "Dropout" &&
        op != "Identity")
      fail_node(n, "follows an NHWC Transpose: only a Flatten and a dense layer after it fold");
    if (op == "Transpose" && input_nhwc_ && cur_ == input_name_ && layers_.empty() && n.input_size() == 1 &&
        n.input(0) == cur_ && attr_ints(n, "perm", {}) == std::vector<int64_t>{0, 3, 1, 2}) {
      notes_.push_back(describe(n) + ": NHWC input transpose folded (the model reads NCHW images)");
      return advance(n);
    }
    expect_chain(n);
    if (softmax_) fail_node(n, "comes after the softmax; a softmax imports only as the last node");
    if (op == "Conv") return conv(n);
    if (op == "BatchNormalization") return batchnorm(n);
    if (op == "Relu") return activation(n, "relu");
    if (op == "Softplus") return activation(n, "softplus");
    if (op == "Clip") return clip(n);
    if (op == "AveragePool") return avgpool(n);
    if (op == "GlobalAveragePool") return global_pool(n);
    if (op == "Flatten" || op == "Reshape" || op == "Squeeze") return flatten(n);
    if (op == "Gemm" || op == "MatMul") return dense(n);
    if (op == "Add") return add_bias(n);
    if (op == "Transpose") return transpose(n);
    if (op == "Pad") return pad(n);
    if (op == "Dropout" || op == "Identity") {
      if (op == "Dropout") notes_.push_back(describe(n) + ": dropped (inference)");
      return advance(n);
    }
    // Softmax / LogSoftmax: argmax is unchanged, so the readout is the logits and the loss is crossentropy.
    if (!last_node_) fail_node(n, "a softmax imports only as the last node (the readout)");
    const int64_t axis = attr_int(n, "axis", opset_ < 13 ? 1 : -1);
    if (shape_.size() != 1 || (axis != 1 && axis != -1)) fail_node(n, "only a softmax over the classes imports");
    softmax_ = true;
    notes_.push_back(describe(n) + ": dropped; the outputs are the logits (same argmax), loss crossentropy");
    advance(n);
  }

  void advance(const onnx::NodeProto& n) {
    if (n.output_size() < 1 || n.output(0).empty()) fail_node(n, "has no output");
    for (int i = 1; i < n.output_size(); ++i)
      if (!n.output(i).empty() && first_reader(n.output(i)))
        fail_node(n, "its output '" + n.output(i) + "' is read by another node: a branch");
    cur_ = n.output(0);
    if (layers_.size() != layers_seen_) last_layer_output_ = cur_, layers_seen_ = layers_.size();
  }

  void need_image(const onnx::NodeProto& n) const {
    if (shape_.size() != 3) fail_node(n, "needs an image [N, C, H, W] input, got " + to_string(shape_));
  }

  void conv(const onnx::NodeProto& n) {
    need_image(n);
    Tensor w = *weight(n, 1, true);
    if (w.ndim() != 4) fail_node(n, "only 2-D convolution imports (weight " + to_string(w.shape()) + ")");
    const int64_t groups = attr_int(n, "group", 1);
    if (groups < 1 || shape_[0] % groups != 0 || w.dim(1) * groups != shape_[0] || w.dim(0) % groups != 0)
      fail_node(n, "weight " + to_string(w.shape()) + " with group " + std::to_string(groups) +
                       " does not fit its input of " + std::to_string(shape_[0]) + " channels");
    if (const auto ks = attr_ints(n, "kernel_shape", {}); !ks.empty() && ks != std::vector<int64_t>{w.dim(2), w.dim(3)})
      fail_node(n, "kernel_shape does not match the weight");
    if (same_value(n, "dilations", attr_ints(n, "dilations", {}), 1) != 1) fail_node(n, "dilation must be 1");
    const int64_t stride = same_value(n, "strides", attr_ints(n, "strides", {}), 1);
    const int64_t pad = padding(n, w.dim(2), stride) + pending_pad_;
    pending_pad_ = 0;
    check_window(n, std::max(w.dim(2), w.dim(3)), stride, pad);
    if (w.dim(2) != w.dim(3) && pad != 0) fail_node(n, "a non-square kernel imports only without padding");
    PendingLayer& l = add_layer(&n, "conv2d", "", {{"stride", stride}, {"pad", pad}, {"groups", groups}});
    add_param(l, "weight", std::move(w));
    if (auto b = weight(n, 2, false)) {
      if (b->numel() != l.params[0].dim(0)) fail_node(n, "bias has " + std::to_string(b->numel()) + " values");
      add_param(l, "bias", Tensor::from({b->numel()}, b->to_vector()));
    }
    shape_ = {l.params[0].dim(0), (shape_[1] + 2 * pad - l.params[0].dim(2)) / stride + 1,
              (shape_[2] + 2 * pad - l.params[0].dim(3)) / stride + 1};
    if (shape_[1] < 1 || shape_[2] < 1) fail_node(n, "its output would be empty");
    advance(n);
  }

  // A zero Pad (PyTorch's AvgPool2d with count_include_pad) is dropped; a symmetric zero padding of H and W
  // before a Conv becomes the Conv's own.
  void pad(const onnx::NodeProto& n) {
    need_image(n);
    if (attr_string(n, "mode", "constant") != "constant") fail_node(n, "only constant (zero) padding imports");
    std::vector<int64_t> pads;
    if (opset_ < 11) {
      pads = attr_ints(n, "pads", {});
      if (attr_float(n, "value", 0.0) != 0) fail_node(n, "only zero padding imports");
    } else {
      const onnx::TensorProto* t = n.input_size() > 1 ? constant(n.input(1)) : nullptr;
      if (!t) fail_node(n, "the pads must be a constant");
      pads = int_tensor(*t);
      if (n.input_size() > 2 && !n.input(2).empty() && scalar(n, 2) != 0) fail_node(n, "only zero padding imports");
      if (n.input_size() > 3 && !n.input(3).empty()) fail_node(n, "axes is not supported");
    }
    if (pads.size() != 8) fail_node(n, "needs 8 pads (N, C, H, W begin and end), got " + std::to_string(pads.size()));
    if (std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; })) {
      notes_.push_back(describe(n) + ": pads nothing; dropped");
      return advance(n);
    }
    const bool hw_only = pads[0] == 0 && pads[1] == 0 && pads[4] == 0 && pads[5] == 0;
    if (!hw_only || pads[2] != pads[3] || pads[2] != pads[6] || pads[2] != pads[7] || pads[2] < 0)
      fail_node(n, "only the same zero padding on every side of H and W imports, got " + attr_to_string(pads));
    if (pads[2] > 4096) fail_node(n, "padding is out of range");
    pending_pad_ = pads[2];
    advance(n);
  }

  void batchnorm(const onnx::NodeProto& n) {
    if (attr_int(n, "training_mode", 0) != 0) fail_node(n, "training_mode must be 0 (export the model in eval mode)");
    const int64_t c = shape_[0];
    const char* names[] = {"gamma", "beta", "running_mean", "running_var"};
    std::vector<Tensor> t;
    for (int i = 0; i < 4; ++i) {
      Tensor v = *weight(n, i + 1, true);
      if (v.numel() != c)
        fail_node(n, std::string(names[i]) + " must have one value per channel (" + std::to_string(c) + "), got " +
                         std::to_string(v.numel()));
      t.push_back(Tensor::from({c}, v.to_vector()));
    }
    for (int64_t k = 0; k < c; ++k)
      if (!(t[3][k] >= 0)) fail_node(n, "running variance is negative");
    PendingLayer& l = add_layer(
        &n, "batchnorm", "", {{"eps", attr_float(n, "epsilon", 1e-5)}, {"momentum", attr_float(n, "momentum", 0.9)}});
    add_param(l, "gamma", t[0]);
    add_param(l, "beta", t[1]);
    l.spec.buffers = {{"running_mean", {c}}, {"running_var", {c}}};
    l.buffers = {t[2], t[3]};
    advance(n);
  }

  void activation(const onnx::NodeProto& n, const std::string& type) {
    add_layer(&n, type, "", {});
    advance(n);
  }

  void clip(const onnx::NodeProto& n) {
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    if (opset_ < 11) {
      lo = attr_float(n, "min", lo), hi = attr_float(n, "max", hi);
    } else {
      if (n.input_size() > 1 && !n.input(1).empty()) lo = scalar(n, 1);
      if (n.input_size() > 2 && !n.input(2).empty()) hi = scalar(n, 2);
    }
    if (lo != 0 || !(hi == 6 || std::isinf(hi)))
      fail_node(n, "Clip to [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "]: only [0, 6] (ReLU6) and [0, inf) (ReLU) import");
    activation(n, std::isinf(hi) ? "relu" : "relu6");
  }

  void avgpool(const onnx::NodeProto& n) {
    need_image(n);
    const int64_t k = same_value(n, "kernel_shape", attr_ints(n, "kernel_shape", {}), 0);
    if (k < 1) fail_node(n, "needs a kernel_shape");
    if (attr_int(n, "ceil_mode", 0) != 0) fail_node(n, "ceil_mode must be 0");
    const int64_t stride = same_value(n, "strides", attr_ints(n, "strides", {}), 1);
    const int64_t pad = padding(n, k, stride);
    check_window(n, k, stride, pad);
    if (pad >= k) fail_node(n, "padding must be smaller than the kernel");
    if (pad > 0 && attr_int(n, "count_include_pad", 0) != 0)
      fail_node(n, "count_include_pad = 1 with padding does not import (spikeforge averages the real inputs)");
    add_layer(&n, "avgpool2d", "", {{"kernel", k}, {"stride", stride}, {"pad", pad}});
    shape_ = {shape_[0], (shape_[1] + 2 * pad - k) / stride + 1, (shape_[2] + 2 * pad - k) / stride + 1};
    if (shape_[1] < 1 || shape_[2] < 1) fail_node(n, "its output would be empty");
    advance(n);
  }

  void global_pool(const onnx::NodeProto& n) {
    need_image(n);
    add_layer(&n, "global_avgpool", "", {});
    shape_ = {shape_[0]};  // spikeforge's global pooling gives [N, C]; ONNX's [N, C, 1, 1] is flattened next
    advance(n);
  }

  // Flatten (axis 1), Reshape to [N, features] and Squeeze of the 1×1 axes a global pooling leaves.
  void flatten(const onnx::NodeProto& n) {
    const int64_t features = numel(shape_);
    if (n.op_type() == "Flatten" && attr_int(n, "axis", 1) != 1) fail_node(n, "only axis 1 imports");
    if (n.op_type() == "Reshape") {
      const onnx::TensorProto* t = n.input_size() > 1 ? constant(n.input(1)) : nullptr;
      if (!t) fail_node(n, "the target shape must be a constant");
      const std::vector<int64_t> to = int_tensor(*t);
      if (to.size() != 2 || (to[1] != features && to[1] != -1) ||
          (to[0] != 0 && to[0] != -1 && to[0] != 1 && to[1] == -1))
        fail_node(n, "only a reshape to [N, " + std::to_string(features) + "] imports, got " + attr_to_string(to));
    }
    if (n.op_type() == "Squeeze" && shape_.size() != 1) fail_node(n, "imports only after a global pooling");
    if (shape_.size() == 3) {
      if (pending_hwc_) {
        hwc_flatten_ = true;
        notes_.push_back(describe(n) + ": flattens H, W, C (NHWC); the dense weights after it are permuted to C, H, W");
      }
      add_layer(&n, "flatten", "", {});
    }
    shape_ = {features};
    advance(n);
  }

  void transpose(const onnx::NodeProto& n) {
    const auto perm = attr_ints(n, "perm", {});
    if (shape_.size() == 3 && perm == std::vector<int64_t>{0, 2, 3, 1}) {
      pending_hwc_ = true;  // folded into the Flatten and dense layer that must follow
      hwc_shape_ = shape_;
      notes_.push_back(describe(n) + ": NCHW -> NHWC transpose folded into the classifier");
      return advance(n);
    }
    fail_node(n, "perm " + attr_to_string(perm) +
                     " does not fold: only an NHWC input transpose and one before the classifier's Flatten import");
  }

  void dense(const onnx::NodeProto& n) {
    if (shape_.size() != 1)
      fail_node(n, "needs a flat input; put a Flatten before it (input " + to_string(shape_) + ")");
    Tensor b = *weight(n, 1, true);
    if (b.ndim() != 2) fail_node(n, "weight must be 2-D, got " + to_string(b.shape()));
    bool trans_b = false;
    double alpha = 1, beta = 1;
    if (n.op_type() == "Gemm") {
      if (attr_int(n, "transA", 0) != 0) fail_node(n, "transA must be 0");
      trans_b = attr_int(n, "transB", 0) != 0;
      alpha = attr_float(n, "alpha", 1.0), beta = attr_float(n, "beta", 1.0);
      if (!std::isfinite(alpha) || !std::isfinite(beta)) fail_node(n, "alpha and beta must be finite");
    }
    // spikeforge's dense weight is [out, in] (PyTorch's Linear, Gemm with transB = 1).
    const int64_t in = trans_b ? b.dim(1) : b.dim(0), out = trans_b ? b.dim(0) : b.dim(1);
    if (in != shape_[0])
      fail_node(n, "weight " + to_string(b.shape()) + " does not read " + std::to_string(shape_[0]) + " inputs");
    Tensor w({out, in});
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) {
        // Column i of an HWC-flattened input is (h, w, c); spikeforge's flatten gives (c, h, w).
        int64_t src_i = i;
        if (hwc_flatten_) {
          const int64_t c = hwc_shape_[0], h = hwc_shape_[1], wd = hwc_shape_[2];
          const int64_t ch = i / (h * wd), y = i / wd % h, x = i % wd;
          src_i = (y * wd + x) * c + ch;
        }
        w[o * in + i] = static_cast<float>(alpha) * (trans_b ? b[o * in + src_i] : b[src_i * out + o]);
        if (!std::isfinite(w[o * in + i])) fail_node(n, "alpha times the weight overflows float");
      }
    pending_hwc_ = hwc_flatten_ = false;
    PendingLayer& l = add_layer(&n, "dense", "", {});
    add_param(l, "weight", std::move(w));
    if (auto c = weight(n, 2, false)) {
      if (c->shape() != Shape{out} && c->shape() != Shape{1, out})
        fail_node(n, "bias C must be [" + std::to_string(out) + "] or [1, " + std::to_string(out) + "], got " +
                         to_string(c->shape()));
      std::vector<float> v = c->to_vector();
      for (float& x : v)
        if (!std::isfinite(x *= static_cast<float>(beta))) fail_node(n, "beta times the bias overflows float");
      add_param(l, "bias", Tensor::from({out}, v));
    }
    shape_ = {out};
    advance(n);
  }

  // Add of a constant right after a bias-less MatMul or Conv: that layer's bias.
  void add_bias(const onnx::NodeProto& n) {
    PendingLayer* l = layers_.empty() ? nullptr : &layers_.back();
    const bool ok = l && (l->spec.type == "dense" || l->spec.type == "conv2d") && l->params.size() == 1 &&
                    last_layer_output_ == cur_;
    if (!ok) fail_node(n, "only an Add of a bias right after MatMul or Conv imports (no residual connections)");
    const int other = constant(n.input(0)) ? 0 : 1;
    Tensor b = *weight(n, other, true);
    const int64_t c = l->params[0].dim(0);
    // ONNX broadcasts from the last axis: a per-channel bias of a conv is [C, 1, 1] or [1, C, 1, 1] ([C] would
    // add along W); a dense layer's is [O] or [1, O].
    const Shape& s = b.shape();
    const bool fits =
        l->spec.type == "dense" ? (s == Shape{c} || s == Shape{1, c}) : (s == Shape{c, 1, 1} || s == Shape{1, c, 1, 1});
    if (!fits)
      fail_node(n, "a bias of shape " + to_string(s) + " does not add one value per output channel (" +
                       std::to_string(c) + ") of " + l->spec.name);
    add_param(*l, "bias", Tensor::from({c}, b.to_vector()));
    advance(n);
  }

  void build(OnnxImport& out) {
    ModelSpec& spec = out.spec;
    spec.arch = "layers";
    spec.input = input_shape_;
    spec.classes = numel(shape_);
    if (spec.classes < 2)
      fail_input(path_, "the model has " + std::to_string(spec.classes) + " output; a classifier needs 2 or more");
    Checkpoint ckpt;
    for (const PendingLayer& l : layers_) {
      spec.layers.push_back(l.spec);
      for (size_t i = 0; i < l.params.size(); ++i)
        ckpt.tensors.push_back({l.spec.name + "." + l.spec.params[i].first, l.params[i]});
      for (size_t i = 0; i < l.buffers.size(); ++i)
        ckpt.tensors.push_back({l.spec.name + "." + l.spec.buffers[i].first, l.buffers[i]});
    }
    try {
      out.model = build_model(spec, 0);
    } catch (const Error& e) {
      fail_input(path_, e.what());
    }
    out.model.load_state(ckpt, path_);
  }

  std::string path_;
  onnx::ModelProto& model_;
  const onnx::GraphProto& graph_;
  const OnnxImportOptions& opts_;
  const int64_t opset_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> readers_;  // the nodes reading each value, in order
  std::map<std::string, const onnx::TensorProto*> consts_;
  std::vector<PendingLayer> layers_;
  std::set<std::string> names_;
  std::vector<std::string> notes_;
  Shape input_shape_, shape_;  // per sample; shape_ is the current value's, in NCHW terms
  std::string cur_;            // the value the chain holds
  std::string input_name_;
  std::string last_layer_output_;  // the value the last spikeforge layer makes
  size_t layers_seen_ = 0;
  size_t node_index_ = 0;
  bool last_node_ = false, input_nhwc_ = false, softmax_ = false;
  bool pending_hwc_ = false, hwc_flatten_ = false;
  int64_t pending_pad_ = 0;  // a Pad's, for the Conv after it
  Shape hwc_shape_;
};

}  // namespace

OnnxImport import_onnx(const std::string& path, const OnnxImportOptions& opts) {
  const std::string bytes = read_file(path);
  onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromString(bytes))
    fail_input(path, "not an ONNX model (the protobuf does not parse: truncated or another format)");
  model_opset(model, path);
  const auto invalid = [&](const std::exception& e) {
    std::string what = e.what();
    if (const size_t nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    fail_input(path, "invalid ONNX model: " + what);
  };
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    invalid(e);
  }
  // The mapping checks every attribute it reads (strides >= 1, kernels, pads, weight shapes) first: libonnx's
  // shape inference divides by strides unchecked (onnx/onnx#6180), so it only sees graphs that import.
  OnnxImport out = Importer(path, model, opts).run();
  try {
    onnx::ShapeInferenceOptions so{true, 1, false};
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), so);
  } catch (const std::exception& e) {
    invalid(e);
  }
  return out;
}

}  // namespace sf
