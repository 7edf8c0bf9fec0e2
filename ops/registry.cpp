#include "ops/registry.h"

#include <algorithm>
#include <mutex>

#include "core/error.h"
#include "ops/op_schema.h"

namespace sf {

namespace {

bool accepts(const KernelEntry& e, const Attrs& attrs, std::span<const Shape> shapes) {
  return !e.supports || e.supports(attrs, shapes);
}

std::string shapes_str(std::span<const Shape> shapes) {
  std::string out;
  for (const auto& s : shapes) out += (out.empty() ? "" : ", ") + to_string(s);
  return out.empty() ? "(none)" : out;
}

// Attributes checked against the op's table; a type ops/ does not define takes none.
void validate(const std::string& type, const Attrs& attrs) {
  if (const OpSchema* s = find_schema(type)) return s->validate(attrs);
  const OpSchema none{type, {}};
  none.validate(attrs);
}

// The op make_op() returns before shapes are known: chooses its kernel in prepare() (see ops/registry.h).
class KernelSelector final : public Op {
 public:
  KernelSelector(const OpRegistry& registry, const KernelEntry& provisional, const Attrs& attrs, std::string impl)
      : registry_(registry),
        type_(provisional.type),
        device_(provisional.device),
        attrs_(attrs),
        requested_(std::move(impl)),
        chosen_(provisional.impl),
        kernel_(provisional.factory(attrs)) {}  // constructed now: attribute values are checked at make_op()

  const char* type() const override { return type_.c_str(); }
  const char* impl() const override { return kernel_->impl(); }

  Shape prepare(std::span<const Shape> inputs) override {
    const KernelEntry& e = registry_.select(type_, attrs_, device_, inputs, requested_);
    if (e.impl != chosen_) {
      OpPtr k = e.factory(attrs_);
      if (bound_) k->bind_state(state_);
      kernel_ = std::move(k);
      chosen_ = e.impl;
    }
    return kernel_->prepare(inputs);
  }
  void forward(const ExecContext& ctx, std::span<const Tensor* const> inputs, Tensor& output) override {
    kernel_->forward(ctx, inputs, output);
  }
  void backward(const ExecContext& ctx, std::span<const Tensor* const> inputs, const Tensor& output,
                const Tensor& grad_output, std::span<Tensor* const> grad_inputs) override {
    kernel_->backward(ctx, inputs, output, grad_output, grad_inputs);
  }
  bool backward_reads_input(int i) const override { return kernel_->backward_reads_input(i); }
  bool backward_reads_output() const override { return kernel_->backward_reads_output(); }
  bool can_recompute() const override { return kernel_->can_recompute(); }
  void recompute(const ExecContext& ctx, std::span<const Tensor* const> inputs, Tensor& output) override {
    kernel_->recompute(ctx, inputs, output);
  }
  // Bound now (an op that takes no state says so at once) and again if prepare() picks another kernel.
  void bind_state(std::span<const Tensor> state) override {
    kernel_->bind_state(state);
    state_.assign(state.begin(), state.end());
    bound_ = true;
  }

 private:
  const OpRegistry& registry_;
  std::string type_;
  Device device_;
  Attrs attrs_;
  std::string requested_;  // empty: the registry's choice
  std::string chosen_;     // the entry kernel_ was made from
  OpPtr kernel_;
  std::vector<Tensor> state_;
  bool bound_ = false;
};

}  // namespace

OpRegistry& OpRegistry::instance() {
  static OpRegistry registry;
  static std::once_flag once;
  std::call_once(once, [] {
    register_reference_kernels(registry);
    register_onednn_kernels(registry);
#if SPIKEFORGE_CUDA
    register_cuda_kernels(registry);
#endif
  });
  return registry;
}

void OpRegistry::add(KernelEntry entry) { entries_.push_back(std::move(entry)); }

const KernelEntry* OpRegistry::find(const std::string& type, Device device, const std::string& impl) const {
  for (const auto& e : entries_)
    if (e.type == type && e.device == device && e.impl == impl) return &e;
  return nullptr;
}

// The requested kernel, or the highest-priority one for (type, device) when impl is empty.
const KernelEntry& OpRegistry::entry(const std::string& type, Device device, const std::string& impl) const {
  const KernelEntry* best = nullptr;
  for (const auto& e : entries_) {
    if (e.type != type || e.device != device) continue;
    if (!impl.empty() && e.impl != impl) continue;
    if (!best || e.priority > best->priority) best = &e;
  }
  if (!best) {
    if (!has_type(type)) fail_internal("unknown op '" + type + "'");
    // A device that lacks the op altogether is the user's choice to change (device: cpu), not a bug.
    if (impl.empty())
      fail_input("device", "op '" + type + "' has no " + std::string(to_string(device)) +
                               " kernel in this build; run it on another device (device: cpu)");
    fail_internal("op '" + type + "': no '" + impl + "' kernel for device " + std::string(to_string(device)));
  }
  return *best;
}

const KernelEntry& OpRegistry::select(const std::string& type, const Attrs& attrs, Device device,
                                      std::span<const Shape> shapes, const std::string& impl) const {
  const KernelEntry& top = entry(type, device, impl);
  const KernelEntry* best = nullptr;
  if (!impl.empty()) {
    if (accepts(top, attrs, shapes)) return top;
  } else {
    for (const auto& e : entries_)
      if (e.type == type && e.device == device && accepts(e, attrs, shapes) && (!best || e.priority > best->priority))
        best = &e;
    if (best) return *best;
  }
  // Nothing fits: say what was asked, what the kernel covers and which kernels would take it.
  std::string others;
  for (const auto& e : entries_)
    if (e.type == type && e.device == device && accepts(e, attrs, shapes))
      others += (others.empty() ? "" : ", ") + e.impl;
  const std::string attrs_str = attrs.values().empty() ? std::string() : " with " + attrs.str();
  if (!impl.empty())
    fail_internal("op '" + type + "': kernel '" + impl + "' does not support input shapes " + shapes_str(shapes) +
                  attrs_str + (top.covers.empty() ? std::string() : " (it covers " + top.covers + ")") +
                  (others.empty() ? "; no other kernel does either" : "; kernels that do: " + others));
  fail_internal("op '" + type + "': no kernel for device " + std::string(to_string(device)) +
                " supports input shapes " + shapes_str(shapes) + attrs_str);
}

OpPtr OpRegistry::make(const std::string& type, const Attrs& attrs, Device device, const std::string& impl) const {
  const KernelEntry& provisional = entry(type, device, impl);
  validate(type, attrs);
  return std::make_unique<KernelSelector>(*this, provisional, attrs, impl);
}

OpPtr OpRegistry::make(const std::string& type, const Attrs& attrs, Device device, std::span<const Shape> shapes,
                       const std::string& impl) const {
  entry(type, device, impl);  // unknown type or implementation first: the clearer message
  validate(type, attrs);
  return select(type, attrs, device, shapes, impl).factory(attrs);
}

bool OpRegistry::supports(const std::string& type, Device device, const std::string& impl, const Attrs& attrs,
                          std::span<const Shape> shapes) const {
  const KernelEntry* e = find(type, device, impl);
  return e && accepts(*e, attrs, shapes);
}

std::vector<std::string> OpRegistry::implementations(const std::string& type, Device device) const {
  std::vector<std::string> out;
  for (const auto& e : entries_)
    if (e.type == type && e.device == device) out.push_back(e.impl);
  return out;
}

bool OpRegistry::has_type(const std::string& type) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const KernelEntry& e) { return e.type == type; });
}

}  // namespace sf
