// Reverse-mode autograd over a static graph (define, then run many times — the Caffe / TF1 model).
// A graph is built once per batch shape: nodes are appended in topological order, every activation and
// gradient buffer is allocated at build time, and each op prepares its primitives once. forward() and
// backward() then only compute, which is what makes a 0.2 MMAC/image network fast: no allocation and no
// primitive creation on the hot path.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/op.h"
#include "core/tensor.h"

namespace sf {

using NodeId = int;

class Graph {
 public:
  explicit Graph(Device device = Device::cpu) : workspace_(std::make_unique<Workspace>(device)) {
    context_.device = device;
    context_.workspace = workspace_.get();
  }
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph(Graph&&) = default;
  Graph& operator=(Graph&&) = default;

  // A value fed from outside each step (images, labels). Its buffer is owned by the graph.
  NodeId input(std::string name, Shape shape);
  // A tensor owned elsewhere (model parameters). When `grad` is non-null the graph writes d loss / d value
  // into it on backward().
  NodeId parameter(std::string name, Tensor value, Tensor grad = {});
  // Appends op(inputs...). The op's prepare() runs here and fixes the output shape.
  NodeId apply(std::string name, OpPtr op, std::vector<NodeId> inputs);

  // Runs every op in order with context() (train or eval mode, random key, workspace).
  void forward();
  // Seeds d loss = 1 (loss must be a one-element node) and propagates to every parameter with a gradient.
  void backward(NodeId loss);

  Tensor& value(NodeId id) { return nodes_.at(id).value; }
  const Tensor& value(NodeId id) const { return nodes_.at(id).value; }
  const Tensor& grad(NodeId id) const { return nodes_.at(id).grad; }
  const std::string& name(NodeId id) const { return nodes_.at(id).name; }
  const Op* op(NodeId id) const { return nodes_.at(id).op.get(); }
  int size() const { return static_cast<int>(nodes_.size()); }
  Device device() const { return context_.device; }
  // What every op of this graph receives: set the mode, the step's random key and the workspace here.
  ExecContext& context() { return context_; }
  const ExecContext& context() const { return context_; }

  // First node (in execution order) whose value holds NaN/Inf, or -1. Used to name the culprit op when
  // the loss goes non-finite; never called on the hot path.
  NodeId first_non_finite() const;

  // Per-node wall time of forward/backward, accumulated while profiling is on (SPIKEFORGE_PROFILE=1 makes
  // the trainer print it). Off by default: two clock reads per op are not free at 0.2 MMAC per image.
  struct NodeTiming {
    double forward_s = 0, backward_s = 0;
    int64_t calls = 0;
  };
  void set_profiling(bool on) { profiling_ = on; }
  NodeTiming timing(NodeId id) const { return id < static_cast<NodeId>(timing_.size()) ? timing_[id] : NodeTiming{}; }

 private:
  struct Node {
    std::string name;
    OpPtr op;  // null for inputs and parameters
    std::vector<NodeId> inputs;
    Tensor value;
    Tensor grad;                // d loss / d value; allocated only when needs_grad
    bool needs_grad = false;    // some parameter upstream has a gradient
    int consumers = 0;          // how many edges read this node with a gradient
    std::vector<Tensor> extra;  // scratch for 2nd..k-th consumer when consumers > 1
  };
  void allocate_gradients();
  std::vector<Node> nodes_;
  std::unique_ptr<Workspace> workspace_;  // behind a pointer: context_ points at it and graphs move
  ExecContext context_;
  bool grads_ready_ = false;
  bool profiling_ = false;
  std::vector<NodeTiming> timing_;
};

}  // namespace sf
