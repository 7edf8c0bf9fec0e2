#include "ops/cpu/kernels.h"
#include "ops/registry.h"

namespace sf {

void register_onednn_kernels(OpRegistry& r) {
  using namespace onednn;
  const Device cpu = Device::cpu;
  r.add({"conv2d", cpu, "onednn", 20, make_conv2d});
  r.add({"conv2d", cpu, "gemm", 30, make_conv2d_gemm});
  r.add({"avgpool2d", cpu, "onednn", 20, make_avgpool2d});
  r.add({"avgpool2d", cpu, "loops", 30, make_avgpool2d_loops});
  r.add({"dense", cpu, "onednn", 20, make_dense});
  for (const char* act : {"relu", "softplus"}) {
    const std::string type = act;
    r.add({type, cpu, "onednn", 20, [type](const Attrs& a) { return make_eltwise(type, a); }});
  }
}

}  // namespace sf
