#include "ops/registry.h"

#include <algorithm>
#include <mutex>

#include "core/error.h"

namespace sf {

OpRegistry& OpRegistry::instance() {
  static OpRegistry registry;
  static std::once_flag once;
  std::call_once(once, [] {
    register_reference_kernels(registry);
    register_onednn_kernels(registry);
  });
  return registry;
}

void OpRegistry::add(KernelEntry entry) { entries_.push_back(std::move(entry)); }

OpPtr OpRegistry::make(const std::string& type, const Attrs& attrs, Device device, const std::string& impl) const {
  const KernelEntry* best = nullptr;
  for (const auto& e : entries_) {
    if (e.type != type || e.device != device) continue;
    if (!impl.empty() && e.impl != impl) continue;
    if (!best || e.priority > best->priority) best = &e;
  }
  if (!best) {
    if (!has_type(type)) fail_internal("unknown op '" + type + "'");
    fail_internal("op '" + type + "': no " + (impl.empty() ? std::string() : "'" + impl + "' ") + "kernel for device " +
                  std::string(to_string(device)));
  }
  return best->factory(attrs);
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
