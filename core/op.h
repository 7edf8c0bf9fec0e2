// The op interface. An Op instance belongs to one graph node: prepare() sees the concrete input shapes
// once, so kernels build their oneDNN primitives (or cuDNN descriptors) there and reuse them for every
// batch — per-step work is then only the computation itself. forward() and backward() get the execution
// context (core/context.h): device and stream, train or eval mode, the step's random key, scratch.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/attrs.h"
#include "core/context.h"
#include "core/error.h"
#include "core/tensor.h"

namespace sf {

class Op {
 public:
  virtual ~Op() = default;
  virtual const char* type() const = 0;  // "conv2d", ...: the registry key
  virtual const char* impl() const = 0;  // "reference", "onednn", "cuda", ...

  // Validates input shapes and returns the output shape. Called once per graph before any forward.
  virtual Shape prepare(std::span<const Shape> inputs) = 0;

  virtual void forward(const ExecContext& ctx, std::span<const Tensor* const> inputs, Tensor& output) = 0;

  // Writes (overwrites, never accumulates) d loss / d input_i into grad_inputs[i]; a null entry means
  // that input needs no gradient and the kernel may skip the work.
  virtual void backward(const ExecContext& ctx, std::span<const Tensor* const> inputs, const Tensor& output,
                        const Tensor& grad_output, std::span<Tensor* const> grad_inputs) = 0;

  // What backward() reads besides grad_output, for the graph's memory planner (core/graph.h): a buffer that
  // no backward reads is reused once the forward pass is done with it. The default, everything, is always
  // safe; a kernel that declares less must not read the rest (its shape stays valid, its values do not).
  virtual bool backward_reads_input(int i) const {
    (void)i;
    return true;
  }
  virtual bool backward_reads_output() const { return true; }

  // Whether recompute() can rebuild the output of the last forward() from the same inputs after the output
  // buffer was reused, with no side effects (no state update, no collective, no new randomness). The planner
  // then frees such an output after the forward pass and recomputes it just before backward reads it: one
  // cheap pass instead of a batch of activations held across the whole step.
  virtual bool can_recompute() const { return false; }
  virtual void recompute(const ExecContext& ctx, std::span<const Tensor* const> inputs, Tensor& output) {
    (void)ctx, (void)inputs, (void)output;
    fail_internal(std::string("op '") + type() + "' cannot recompute its output");
  }

  // Model state the op reads and, in train mode when ctx.update_state is set, updates (batch-norm running
  // statistics): tensors that share storage with the model's buffers, bound once when the graph is built.
  // Ops without state accept none.
  virtual void bind_state(std::span<const Tensor> state) {
    if (!state.empty()) fail_internal(std::string("op '") + type() + "' takes no state buffers");
  }
};

using OpPtr = std::unique_ptr<Op>;

}  // namespace sf
