#include "core/graph.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>

#include "core/error.h"
#include "core/memory_plan.h"
#include "core/primitives.h"

namespace sf {

namespace {
std::string size_of(int64_t bytes) {
  return bytes < (1 << 20) ? std::to_string((bytes + 1023) >> 10) + " KiB"
                           : std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

// An allocation that failed, with what it was for.
[[noreturn]] void out_of_memory(const OutOfMemory& e, const std::string& what) {
  throw OutOfMemory(std::string(e.what()) + " for " + what);
}

std::string described(const std::string& name, const Shape& shape) {
  return "'" + name + "' " + to_string(shape) + " (" + size_of(numel(shape) * static_cast<int64_t>(sizeof(float))) +
         ")";
}
}  // namespace

void Graph::reuse_memory(int64_t recompute_above_bytes) {
  if (!nodes_.empty()) fail_internal("Graph::reuse_memory must be called before the graph is built");
  reuse_ = true;
  recompute_above_ = recompute_above_bytes;
}

void Graph::keep(NodeId id) {
  Node& n = nodes_.at(id);
  if (planned_ && !n.kept) fail_internal("Graph::keep(" + n.name + ") after the memory plan was made");
  n.kept = true;
  if (!n.value.defined()) n.value = Tensor(n.shape, context_.device);
}

void Graph::share_arena(std::shared_ptr<SharedArena> arena) {
  if (!reuse_ || planned_) fail_internal("Graph::share_arena needs reuse_memory() and comes before the first forward");
  arena_ = std::move(arena);
}

Graph::Node& Graph::readable(NodeId id) {
  Node& n = nodes_.at(id);
  if (!n.kept)
    fail_internal("graph: the value of node '" + n.name + "' is not kept (Graph::keep), so its buffer is reused");
  return n;
}

const Tensor& Graph::grad(NodeId id) const {
  const Node& n = nodes_.at(id);
  if (reuse_ && n.op) fail_internal("graph: the gradient of node '" + n.name + "' is in the reused arena");
  return n.grad;
}

NodeId Graph::input(std::string name, Shape shape) {
  Node n;
  n.name = std::move(name);
  n.shape = shape;
  try {
    n.value = Tensor::zeros(std::move(shape), context_.device);
  } catch (const OutOfMemory& e) {
    out_of_memory(e, "the input " + described(n.name, n.shape));
  }
  n.kept = true;
  nodes_.push_back(std::move(n));
  grads_ready_ = false;
  return size() - 1;
}

NodeId Graph::parameter(std::string name, Tensor value, Tensor grad) {
  if (grad.defined() && grad.shape() != value.shape())
    fail_internal("parameter " + name + ": gradient shape differs from value shape");
  Node n;
  n.name = std::move(name);
  n.shape = value.shape();
  n.value = std::move(value);
  n.grad = std::move(grad);
  n.needs_grad = n.grad.defined();
  n.kept = true;
  nodes_.push_back(std::move(n));
  grads_ready_ = false;
  return size() - 1;
}

NodeId Graph::apply(std::string name, OpPtr op, std::vector<NodeId> inputs) {
  if (planned_) fail_internal("graph node " + name + ": appended after the memory plan was made");
  std::vector<Shape> shapes;
  bool needs_grad = false;
  for (NodeId in : inputs) {
    if (in < 0 || in >= size()) fail_internal("graph node " + name + ": input id out of range");
    shapes.push_back(nodes_[in].shape);
    needs_grad = needs_grad || nodes_[in].needs_grad;
  }
  Node n;
  n.name = std::move(name);
  try {
    n.shape = op->prepare(shapes);  // an op's own buffers (workspaces, σ² of noisy_softplus_liu) come from here
  } catch (const OutOfMemory& e) {
    out_of_memory(
        e, "op '" + n.name + "' (" + op->type() + ") on inputs " + [&] {
          std::string in;
          for (const Shape& sh : shapes) in += (in.empty() ? "" : ", ") + to_string(sh);
          return in;
        }());
  }
  n.kept = !reuse_;
  try {
    if (n.kept) n.value = Tensor(n.shape, context_.device);
  } catch (const OutOfMemory& e) {
    out_of_memory(e, "the output of " + described(n.name, n.shape));
  }
  n.op = std::move(op);
  n.inputs = std::move(inputs);
  n.needs_grad = needs_grad;
  nodes_.push_back(std::move(n));
  grads_ready_ = false;
  return size() - 1;
}

void Graph::allocate_gradients() {
  for (auto& n : nodes_) n.consumers = 0;
  for (auto& n : nodes_) {
    if (!n.op || !n.needs_grad) continue;
    for (NodeId in : n.inputs)
      if (nodes_[in].needs_grad) ++nodes_[in].consumers;
  }
  if (reuse_) return plan_memory();  // the plan places the gradients too
  for (auto& n : nodes_) {
    if (!n.needs_grad) continue;
    try {
      if (!n.grad.defined()) n.grad = Tensor(n.shape, context_.device);
      n.extra.clear();
      for (int k = 1; k < n.consumers; ++k) n.extra.emplace_back(n.shape, context_.device);
    } catch (const OutOfMemory& e) {
      out_of_memory(e, "the gradient of " + described(n.name, n.shape));
    }
  }
  grads_ready_ = true;
}

uint64_t Graph::next_id() {
  static std::atomic<uint64_t> ids{0};
  return ++ids;
}

void Graph::plan_memory() {
  const bool always = recompute_above_ == 0;
  Layout l = layout(always);
  if (!always && l.plan.floats * static_cast<int64_t>(sizeof(float)) > recompute_above_) l = layout(true);
  Tensor& buffer = arena_->buffer;
  if (!buffer.defined() || buffer.numel() < l.plan.floats) {
    buffer = Tensor();  // freed before its successor is allocated: every graph's windows into it are stale
    ++arena_->generation;
    try {
      buffer = Tensor({std::max<int64_t>(l.plan.floats, 1)}, context_.device);
    } catch (const OutOfMemory& e) {
      // One arena holds every layer's activations and gradients: the largest output says which layer (and
      // which batch size, its first dimension) to blame.
      const Node* largest = nullptr;
      for (const Node& n : nodes_)
        if (n.op && (!largest || numel(n.shape) > numel(largest->shape))) largest = &n;
      out_of_memory(e, "the activations and gradients of " + std::to_string(size()) + " graph nodes (the largest: " +
                           (largest ? "the output of " + described(largest->name, largest->shape) : "none") + ")");
    }
  }
  arena_generation_ = arena_->generation;
  for (size_t s = 0; s < l.slots.size(); ++s)
    *l.slots[s].tensor = buffer.unowned_window(l.plan.offsets[s], l.slots[s].shape);
  constexpr auto kBytes = static_cast<int64_t>(sizeof(float));
  memory_ = {};
  memory_.arena_bytes = l.plan.floats * kBytes;
  memory_.peak_live_bytes = l.plan.peak_live * kBytes;
  for (const BufferLife& b : l.lives) memory_.unplanned_bytes += b.floats * kBytes;
  memory_.recomputed = l.recomputed;
  planned_ = true;
  grads_ready_ = true;
}

// Steps: forward of node i is step i; backward of node i is step tb(i), and a value recomputed for it is
// recomputed at tb(i) − 1. Lifetimes are inclusive, so an op's output never shares memory with its inputs, nor
// its input gradients with its output gradient or with what its backward reads.
Graph::Layout Graph::layout(bool recompute_outputs) {
  const int n = size();
  const auto tb = [n](int i) { return n + 2 * (n - 1 - i) + 1; };
  // Whose backward runs (conservatively: every node with a gradient, whichever node backward() starts from)
  // and when each value is read there.
  std::vector<int> fwd_last(n), bwd_first(n, std::numeric_limits<int>::max()), bwd_last(n, -1);
  std::vector<std::vector<int>> writers(n);  // backward steps that write a gradient slot of each node
  for (int i = 0; i < n; ++i) {
    fwd_last[i] = i;
    const Node& c = nodes_[i];
    if (!c.op) continue;
    const bool runs = c.needs_grad;
    const auto read_at = [&](int v, int t) {
      bwd_first[v] = std::min(bwd_first[v], t), bwd_last[v] = std::max(bwd_last[v], t);
    };
    for (size_t k = 0; k < c.inputs.size(); ++k) {
      const int in = c.inputs[k];
      fwd_last[in] = i;
      if (!runs) continue;
      if (c.op->backward_reads_input(static_cast<int>(k))) read_at(in, tb(i));
      if (nodes_[in].needs_grad) writers[in].push_back(tb(i));
    }
    if (runs && c.op->backward_reads_output()) read_at(i, tb(i));
  }
  // Recompute an output only where every input is held (or owned) until its last backward reader has run.
  std::vector<bool> recompute(n, false);
  const auto held_until = [&](int v) {
    return nodes_[v].kept ? std::numeric_limits<int>::max() : std::max(fwd_last[v], bwd_last[v]);
  };
  if (recompute_outputs)
    for (int i = 0; i < n; ++i) {
      const Node& c = nodes_[i];
      if (c.kept || !c.op || bwd_last[i] < 0 || !c.op->can_recompute()) continue;
      bool ok = true;
      for (NodeId in : c.inputs) ok = ok && !recompute[in] && held_until(in) >= bwd_last[i];
      recompute[i] = ok;
    }

  Layout l;
  l.recomputed = static_cast<int>(std::count(recompute.begin(), recompute.end(), true));
  const auto add = [&](Tensor* t, const Shape& shape, int first, int last) {
    constexpr int64_t kAlign = 16;  // 64 bytes
    const int64_t floats = (numel(shape) + Storage::kSlackFloats + kAlign - 1) / kAlign * kAlign;
    l.slots.push_back({t, shape});
    l.lives.push_back({floats, first, last});
  };
  for (int i = 0; i < n; ++i) {
    Node& v = nodes_[i];
    v.recomputed = Tensor();
    if (v.kept) continue;
    if (recompute[i]) {
      add(&v.value, v.shape, i, fwd_last[i]);
      add(&v.recomputed, v.shape, bwd_first[i] - 1, bwd_last[i]);
    } else {
      add(&v.value, v.shape, i, held_until(i));
    }
  }
  for (int i = 0; i < n; ++i) {
    Node& v = nodes_[i];
    if (!v.needs_grad) continue;
    // Slot k is written by the k-th consumer in backward order; a node no backward writes is the loss
    // (seeded at the start of backward, step n).
    std::vector<int>& w = writers[i];
    std::sort(w.begin(), w.end());
    if (w.empty()) w.push_back(n);
    if (!v.grad.defined() || v.op) add(&v.grad, v.shape, w[0], tb(i));
    v.extra.assign(static_cast<size_t>(std::max(v.consumers - 1, 0)), Tensor());
    for (size_t k = 1; k < w.size() && k - 1 < v.extra.size(); ++k) add(&v.extra[k - 1], v.shape, w[k], tb(i));
  }
  l.plan = plan_arena(l.lives, 16);
  return l;
}

void Graph::zero_slack(Tensor& t) const {
  if (reuse_) primitives(context_.device).fill(t.raw() + t.numel(), Storage::kSlackFloats, 0.0f);
}

const Tensor& Graph::backward_value(NodeId id) {
  Node& v = nodes_[id];
  if (!v.recomputed.defined()) return v.value;
  if (!v.fresh) {
    std::vector<const Tensor*> ins;
    for (NodeId in : v.inputs) ins.push_back(&backward_value(in));
    zero_slack(v.recomputed);
    v.op->recompute(context_, ins, v.recomputed);
    v.fresh = true;
  }
  return v.recomputed;
}

namespace {
using Clock = std::chrono::steady_clock;
double elapsed(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

void Graph::allocate() {
  if (reuse_)
    enter_arena();
  else if (!grads_ready_)
    allocate_gradients();
}

void Graph::enter_arena() {
  // A graph sharing its arena lays itself out again when another graph has grown it.
  if (!grads_ready_ || arena_generation_ != arena_->generation) allocate_gradients();
  arena_->last_user = id_;
}

uint64_t Graph::lay_out() {
  allocate();
  return arena_generation_;
}

void Graph::forward_node(Node& n, const ExecContext& ctx, std::vector<const Tensor*>& ins) {
  ins.clear();
  for (NodeId in : n.inputs) ins.push_back(&nodes_[in].value);
  if (!n.kept) zero_slack(n.value);
  n.op->forward(ctx, ins, n.value);
}

void Graph::forward() {
  if (reuse_) enter_arena();
  if (profiling_) timing_.resize(nodes_.size());
  std::vector<const Tensor*> ins;
  for (NodeId i = 0; i < size(); ++i) {
    Node& n = nodes_[i];
    if (!n.op) continue;
    if (!profiling_) {
      forward_node(n, context_, ins);
      continue;
    }
    const auto t0 = Clock::now();
    forward_node(n, context_, ins);
    timing_[i].forward_s += elapsed(t0);
    ++timing_[i].calls;
  }
}

void Graph::backward(NodeId loss) {
  if (loss < 0 || loss >= size() || numel(nodes_[loss].shape) != 1)
    fail_internal("backward: loss node must hold one value");
  if (reuse_ && (!planned_ || arena_->last_user != id_ || arena_generation_ != arena_->generation))
    fail_internal("backward: no forward pass of this graph since another graph used the arena they share");
  if (!grads_ready_) allocate_gradients();
  if (profiling_) timing_.resize(nodes_.size());
  Node& l = nodes_[loss];
  if (!l.needs_grad) return;
  if (l.op) zero_slack(l.grad);
  l.grad.fill(1.0f);
  for (auto& n : nodes_) n.fresh = false;

  // Each consumer of a node with fan-out k writes into its own buffer (ops overwrite), and the buffers are
  // summed when the node's own backward runs — it has then seen all consumers, as they come later in order.
  std::vector<int> written(nodes_.size(), 0);
  std::vector<const Tensor*> ins;
  std::vector<Tensor*> gins;
  for (int i = loss; i >= 0; --i) {
    Node& n = nodes_[i];
    if (!n.needs_grad) continue;
    if (i != loss) {
      if (written[i] == 0) continue;  // not on the path to the loss
      for (int k = 1; k < written[i]; ++k) axpy(1.0f, n.extra[k - 1], n.grad);
    }
    if (!n.op) continue;
    ins.clear();
    gins.clear();
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const NodeId in = n.inputs[k];
      // A value no backward reads needs no recomputing: only its shape is seen.
      ins.push_back(n.op->backward_reads_input(static_cast<int>(k)) ? &backward_value(in) : &nodes_[in].value);
      Node& src = nodes_[in];
      if (!src.needs_grad) {
        gins.push_back(nullptr);
        continue;
      }
      int slot = written[in]++;
      Tensor* g = slot == 0 ? &src.grad : &src.extra.at(slot - 1);
      if (src.op || slot > 0) zero_slack(*g);
      gins.push_back(g);
    }
    const Tensor& out = n.op->backward_reads_output() ? backward_value(i) : n.value;
    if (!profiling_) {
      n.op->backward(context_, ins, out, n.grad, gins);
      continue;
    }
    const auto t0 = Clock::now();
    n.op->backward(context_, ins, out, n.grad, gins);
    timing_[i].backward_s += elapsed(t0);
  }
}

NodeId Graph::first_non_finite() {
  if (!reuse_) {
    for (NodeId i = 0; i < size(); ++i)
      if (sf::first_non_finite(nodes_[i].value) >= 0) return i;
    return -1;
  }
  enter_arena();
  ExecContext quiet = context_;
  quiet.update_state = false;
  quiet.sync_stats = nullptr;
  std::vector<const Tensor*> ins;
  for (NodeId i = 0; i < size(); ++i) {
    Node& n = nodes_[i];
    if (n.op) forward_node(n, quiet, ins);
    if (sf::first_non_finite(n.value) >= 0) return i;
  }
  return -1;
}

}  // namespace sf
