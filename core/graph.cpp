#include "core/graph.h"

#include <chrono>

#include "core/error.h"
#include "core/primitives.h"

namespace sf {

NodeId Graph::input(std::string name, Shape shape) {
  Node n;
  n.name = std::move(name);
  n.value = Tensor::zeros(std::move(shape), context_.device);
  nodes_.push_back(std::move(n));
  grads_ready_ = false;
  return size() - 1;
}

NodeId Graph::parameter(std::string name, Tensor value, Tensor grad) {
  if (grad.defined() && grad.shape() != value.shape())
    fail_internal("parameter " + name + ": gradient shape differs from value shape");
  Node n;
  n.name = std::move(name);
  n.value = std::move(value);
  n.grad = std::move(grad);
  n.needs_grad = n.grad.defined();
  nodes_.push_back(std::move(n));
  grads_ready_ = false;
  return size() - 1;
}

NodeId Graph::apply(std::string name, OpPtr op, std::vector<NodeId> inputs) {
  std::vector<Shape> shapes;
  bool needs_grad = false;
  for (NodeId in : inputs) {
    if (in < 0 || in >= size()) fail_internal("graph node " + name + ": input id out of range");
    shapes.push_back(nodes_[in].value.shape());
    needs_grad = needs_grad || nodes_[in].needs_grad;
  }
  Node n;
  n.name = std::move(name);
  Shape out = op->prepare(shapes);
  n.value = Tensor(std::move(out), context_.device);
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
  for (auto& n : nodes_) {
    if (!n.needs_grad) continue;
    if (!n.grad.defined()) n.grad = Tensor(n.value.shape(), context_.device);
    n.extra.clear();
    for (int k = 1; k < n.consumers; ++k) n.extra.emplace_back(n.value.shape(), context_.device);
  }
  grads_ready_ = true;
}

namespace {
using Clock = std::chrono::steady_clock;
double elapsed(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

void Graph::forward() {
  if (profiling_) timing_.resize(nodes_.size());
  std::vector<const Tensor*> ins;
  for (NodeId i = 0; i < size(); ++i) {
    Node& n = nodes_[i];
    if (!n.op) continue;
    ins.clear();
    for (NodeId in : n.inputs) ins.push_back(&nodes_[in].value);
    if (!profiling_) {
      n.op->forward(context_, ins, n.value);
      continue;
    }
    const auto t0 = Clock::now();
    n.op->forward(context_, ins, n.value);
    timing_[i].forward_s += elapsed(t0);
    ++timing_[i].calls;
  }
}

void Graph::backward(NodeId loss) {
  if (loss < 0 || loss >= size() || nodes_[loss].value.numel() != 1)
    fail_internal("backward: loss node must hold one value");
  if (!grads_ready_) allocate_gradients();
  if (profiling_) timing_.resize(nodes_.size());
  Node& l = nodes_[loss];
  if (!l.needs_grad) return;
  l.grad.fill(1.0f);

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
    for (NodeId in : n.inputs) {
      ins.push_back(&nodes_[in].value);
      Node& src = nodes_[in];
      if (!src.needs_grad) {
        gins.push_back(nullptr);
        continue;
      }
      int slot = written[in]++;
      gins.push_back(slot == 0 ? &src.grad : &src.extra.at(slot - 1));
    }
    if (!profiling_) {
      n.op->backward(context_, ins, n.value, n.grad, gins);
      continue;
    }
    const auto t0 = Clock::now();
    n.op->backward(context_, ins, n.value, n.grad, gins);
    timing_[i].backward_s += elapsed(t0);
  }
}

NodeId Graph::first_non_finite() const {
  for (NodeId i = 0; i < size(); ++i)
    if (sf::first_non_finite(nodes_[i].value) >= 0) return i;
  return -1;
}

}  // namespace sf
