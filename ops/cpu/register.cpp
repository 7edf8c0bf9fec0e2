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
  r.add({"dense", cpu, "loops", 30, make_dense_loops});
  for (const char* act : {"relu", "softplus"}) {
    const std::string type = act;
    r.add({type, cpu, "onednn", 20, [type](const Attrs& a) { return make_eltwise(type, a); }});
  }
  // The vectorised loops beat oneDNN 2.6's eltwise on batch-50 Liu maps (relu backward 12 vs 44 µs,
  // softplus forward + backward 134 vs 155 µs, 1 thread; bench/bench_ops.cpp), so they rank first.
  for (const char* act : {"relu", "softplus", "noisy_softplus"}) {
    const std::string type = act;
    r.add({type, cpu, "openmp", 25, [type](const Attrs& a) { return make_activation_loops(type, a); }});
  }
}

}  // namespace sf
