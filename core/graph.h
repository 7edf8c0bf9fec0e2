// Reverse-mode autograd over a static graph (define, then run many times — the Caffe / TF1 model).
// A graph is built once per batch shape: nodes are appended in topological order, every activation and
// gradient buffer is allocated before the first pass, and each op prepares its primitives once. forward() and
// backward() then only compute, which is what makes a 0.2 MMAC/image network fast: no allocation and no
// primitive creation on the hot path.
//
// Memory. By default every node's value and gradient has a buffer of its own, readable at any time. A graph
// told to reuse_memory() before it is built instead lays op outputs and gradients out in one arena at its
// first forward(), by liveness (core/memory_plan.h): a buffer is shared with others once neither the rest of
// the forward pass nor any backward reads it (each op declares what its backward reads, core/op.h), and
// gradients take the place of activations that backward is done with. With recompute on, an output its op
// can recompute cheaply (batch norm and its activation, from the input that backward keeps anyway) is not
// held through the step either: it is recomputed just before backward first reads it. Values of inputs,
// parameters and kept nodes stay readable; reading any other value is an internal error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/memory_plan.h"
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

  // Plan memory by liveness (see above). Recomputable outputs are freed across the step too when the plan
  // without that would take more than `recompute_above_bytes` (0: always; kNever: never). Call before the
  // first node is appended.
  static constexpr int64_t kNever = INT64_MAX;
  void reuse_memory(int64_t recompute_above_bytes = kNever);
  // Keeps node `id`'s value readable after forward() (a buffer of its own). Any time before the first forward.
  void keep(NodeId id);
  // Memory that graphs which never run at the same time share (a trainer's training and evaluation graphs of
  // every batch size): each lays its plan out from the start of the same buffer, which grows to the largest.
  // A graph's windows into it do not keep the buffer alive: replacing it frees the old one at once, and every
  // graph lays itself out again (its windows dangling until then) before it next touches the arena.
  struct SharedArena {
    Tensor buffer;
    uint64_t generation = 0;  // bumped whenever the buffer is replaced
    uint64_t last_user = 0;   // the graph (Graph::id_) whose forward pass ran last: its backward may follow
  };
  // With reuse_memory(), before the first forward().
  void share_arena(std::shared_ptr<SharedArena> arena);

  // A value fed from outside each step (images, labels). Its buffer is owned by the graph.
  NodeId input(std::string name, Shape shape);
  // A tensor owned elsewhere (model parameters). When `grad` is non-null the graph writes d loss / d value
  // into it on backward().
  NodeId parameter(std::string name, Tensor value, Tensor grad = {});
  // Appends op(inputs...). The op's prepare() runs here and fixes the output shape.
  NodeId apply(std::string name, OpPtr op, std::vector<NodeId> inputs);

  // Lays out and allocates the activations and gradients now instead of at the first forward() (backward()
  // without reuse_memory()), so that a graph too large for its device fails where its builder can say which
  // batch size it was given. An allocation that fails throws OutOfMemory naming the node (the largest output,
  // for the shared arena).
  void allocate();
  // Runs every op in order with context() (train or eval mode, random key, workspace).
  void forward();
  // Seeds d loss = 1 (loss must be a one-element node) and propagates to every parameter with a gradient.
  void backward(NodeId loss);

  Tensor& value(NodeId id) { return readable(id).value; }
  const Tensor& value(NodeId id) const { return const_cast<Graph*>(this)->readable(id).value; }
  const Shape& shape(NodeId id) const { return nodes_.at(id).shape; }
  // d loss / d value: of parameters and, without reuse_memory(), of every node.
  const Tensor& grad(NodeId id) const;
  const std::string& name(NodeId id) const { return nodes_.at(id).name; }
  const Op* op(NodeId id) const { return nodes_.at(id).op.get(); }
  int size() const { return static_cast<int>(nodes_.size()); }
  Device device() const { return context_.device; }
  // Makes the buffers current, as forward() does first (laid out again when another graph grew the shared
  // arena; this graph the arena's last user), and returns their layout's generation: while it stays the same,
  // every value and gradient keeps its address — what a recorded step (core/capture.h) holds.
  uint64_t lay_out();
  // What every op of this graph receives: set the mode, the step's random key and the workspace here.
  ExecContext& context() { return context_; }
  const ExecContext& context() const { return context_; }

  // First node (in execution order) whose value holds NaN/Inf, or -1. Used to name the culprit op when
  // the loss goes non-finite; never called on the hot path. With reuse_memory() most values are gone by
  // then, so the forward pass runs again, checking each output as it is written, with this step's inputs
  // and random key but without updating model state or exchanging statistics with other shards.
  NodeId first_non_finite();

  // The memory plan, once the first forward() has made it (zeros before, and without reuse_memory()).
  struct MemoryStats {
    int64_t arena_bytes = 0;      // activations and gradients, in one arena
    int64_t peak_live_bytes = 0;  // the most live at one step: the plan's lower bound
    int64_t unplanned_bytes = 0;  // the same buffers, each on its own
    int recomputed = 0;           // outputs recomputed in backward
  };
  const MemoryStats& memory_stats() const { return memory_; }

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
    Shape shape;
    Tensor value;               // with reuse_memory(), unallocated until the plan is made
    Tensor grad;                // d loss / d value; allocated only when needs_grad
    bool needs_grad = false;    // some parameter upstream has a gradient
    int consumers = 0;          // how many edges read this node with a gradient
    std::vector<Tensor> extra;  // scratch for 2nd..k-th consumer when consumers > 1
    bool kept = false;          // value in a buffer of its own (always, without reuse_memory())
    Tensor recomputed;          // the value's backward-time buffer, when the layout frees it after forward
    bool fresh = false;         // recomputed in this backward pass already
  };
  Node& readable(NodeId id);
  void allocate_gradients();
  // Where each arena buffer goes: the plan over these slots' lifetimes, with recomputation or without.
  struct Slot {
    Tensor* tensor;
    Shape shape;
  };
  struct Layout {
    std::vector<Slot> slots;
    std::vector<BufferLife> lives;
    ArenaPlan plan;
    int recomputed = 0;
  };
  Layout layout(bool recompute_outputs);
  // Lays the graph out in arena_: without recomputation, or with it when that layout passes the threshold.
  void plan_memory();
  void enter_arena();  // before a forward pass: lays the graph out again if the arena changed; claims it
  void forward_node(Node& n, const ExecContext& ctx, std::vector<const Tensor*>& ins);  // ins: scratch
  // Zeroes the slack after an arena window before an op writes it: kernels over-read it (core/tensor.h).
  void zero_slack(Tensor& t) const;
  // The value node `id`'s backward-time readers see: recomputed first where the plan freed it.
  const Tensor& backward_value(NodeId id);
  std::vector<Node> nodes_;
  std::unique_ptr<Workspace> workspace_;  // behind a pointer: context_ points at it and graphs move
  ExecContext context_;
  bool grads_ready_ = false;
  bool reuse_ = false, planned_ = false;
  int64_t recompute_above_ = kNever;
  std::shared_ptr<SharedArena> arena_ = std::make_shared<SharedArena>();
  uint64_t arena_generation_ = 0;  // of arena_'s buffer when this graph's windows were cut
  uint64_t id_ = next_id();        // for SharedArena::last_user
  static uint64_t next_id();
  MemoryStats memory_;
  bool profiling_ = false;
  std::vector<NodeTiming> timing_;
};

}  // namespace sf
