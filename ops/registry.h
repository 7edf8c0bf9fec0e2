// Kernel registry: (op type, device, implementation) → factory. make_op() picks the highest-priority
// implementation registered for the device unless a specific one is requested (tests ask for
// "reference" to get the oracle). A CUDA kernel set registers under Device::cuda and nothing else changes.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/op.h"

namespace sf {

using OpFactory = std::function<OpPtr(const Attrs&)>;

struct KernelEntry {
  std::string type;
  Device device;
  std::string impl;
  int priority;  // higher wins when no implementation is requested
  OpFactory factory;
};

class OpRegistry {
 public:
  static OpRegistry& instance();
  void add(KernelEntry entry);
  OpPtr make(const std::string& type, const Attrs& attrs, Device device, const std::string& impl = "") const;
  std::vector<std::string> implementations(const std::string& type, Device device) const;
  bool has_type(const std::string& type) const;

 private:
  std::vector<KernelEntry> entries_;
};

inline OpPtr make_op(const std::string& type, const Attrs& attrs = {}, Device device = Device::cpu,
                     const std::string& impl = "") {
  return OpRegistry::instance().make(type, attrs, device, impl);
}

// Each kernel set exposes one registration function; the registry calls them once on first use.
void register_reference_kernels(OpRegistry& r);
void register_onednn_kernels(OpRegistry& r);

}  // namespace sf
