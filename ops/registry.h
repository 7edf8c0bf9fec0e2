// Kernel registry: (op type, device, implementation) → factory, with what each kernel supports.
//
// Choosing a kernel. Each entry carries a priority — which kernel is fastest where the kernels were measured
// against each other — and a supports() predicate over the attributes and the concrete input shapes: the
// region that measurement covers, or what the kernel can do at all (empty: everything the op allows). The
// default choice for (type, device) is the highest-priority kernel whose supports() accepts the attributes
// and the input shapes; a kernel tuned for Liu's ≤ 64-channel layers thus never runs a 512-channel layer it
// was never measured on. A requested implementation (tests ask for "reference", the oracle) is used only
// where its supports() accepts the shapes — an internal error naming op, kernel and shapes otherwise.
//
// Where the choice is made. Input shapes are known only when the op is prepared, so that is where it
// happens: make_op() without shapes validates the attributes against the op's table (ops/op_schema.h) and
// returns a selector op whose prepare() chooses the kernel for the shapes it is given, prepares it and
// from then on forwards every call to it (one extra virtual call per op and pass). Graphs, models, the
// trainer and the simulators call make_op() and Graph::apply() as before and get shape-aware choices without
// knowing about them, and an op prepared again on other shapes chooses again. Callers that know the shapes
// already (an op's inner pass, tests) use the overload with shapes, which returns the chosen kernel itself.
// Before its first prepare() a selector's impl() names the highest-priority kernel (the one chosen if it
// supports the shapes); afterwards the chosen one.
//
// Devices. A CUDA build's registration function (register_cuda_kernels, called from OpRegistry::instance()
// next to the two below) registers under Device::cuda the op types it has kernels for, each with its own
// supports(); make_op refuses the others on that device, naming the op. The graph, the models and the trainer
// need no change: they name op types and pass the graph's device.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/op.h"

namespace sf {

using OpFactory = std::function<OpPtr(const Attrs&)>;
// Whether a kernel covers these (already validated) attributes and these input shapes. Shapes the op itself
// rejects (wrong rank or arity) should be accepted here, so that prepare() reports them in the op's words.
using KernelSupports = std::function<bool(const Attrs&, std::span<const Shape> input_shapes)>;

struct KernelEntry {
  std::string type;
  Device device;
  std::string impl;
  int priority;  // higher wins among the kernels that support the shapes
  OpFactory factory;
  KernelSupports supports = {};  // empty: every attribute and shape the op allows
  std::string covers = {};       // what supports() accepts, in words, for error messages
};

class OpRegistry {
 public:
  static OpRegistry& instance();
  void add(KernelEntry entry);

  // Shapes not known yet: validates the attributes and returns an op that chooses its kernel in prepare().
  OpPtr make(const std::string& type, const Attrs& attrs, Device device, const std::string& impl = "") const;
  // Shapes known: validates the attributes, chooses and constructs the kernel (not yet prepared).
  OpPtr make(const std::string& type, const Attrs& attrs, Device device, std::span<const Shape> input_shapes,
             const std::string& impl = "") const;
  // The kernel that make() chooses for these shapes (impl non-empty: that one, if it supports them); the
  // reference stays valid until the next add().
  const KernelEntry& select(const std::string& type, const Attrs& attrs, Device device,
                            std::span<const Shape> input_shapes, const std::string& impl = "") const;
  // Whether implementation `impl` of `type` exists for `device` and supports these attributes and shapes.
  bool supports(const std::string& type, Device device, const std::string& impl, const Attrs& attrs,
                std::span<const Shape> input_shapes) const;
  std::vector<std::string> implementations(const std::string& type, Device device) const;
  const KernelEntry* find(const std::string& type, Device device, const std::string& impl) const;
  bool has_type(const std::string& type) const;

 private:
  const KernelEntry& entry(const std::string& type, Device device, const std::string& impl) const;
  std::vector<KernelEntry> entries_;
};

inline OpPtr make_op(const std::string& type, const Attrs& attrs = {}, Device device = Device::cpu,
                     const std::string& impl = "") {
  return OpRegistry::instance().make(type, attrs, device, impl);
}
inline OpPtr make_op(const std::string& type, const Attrs& attrs, Device device, std::span<const Shape> input_shapes,
                     const std::string& impl = "") {
  return OpRegistry::instance().make(type, attrs, device, input_shapes, impl);
}

// Each kernel set exposes one registration function; the registry calls them once on first use.
void register_reference_kernels(OpRegistry& r);
void register_onednn_kernels(OpRegistry& r);
void register_cuda_kernels(OpRegistry& r);  // a CUDA build's (ops/cuda/register.cpp)

}  // namespace sf
