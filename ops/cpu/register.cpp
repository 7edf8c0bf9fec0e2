#include "ops/activation.h"
#include "ops/batchnorm.h"
#include "ops/cpu/kernels.h"
#include "ops/registry.h"

namespace sf {

// Priorities rank the kernels where they were measured against each other; each hand-written kernel's
// supports() bounds where that is (ops/cpu/kernels.h), so outside it oneDNN (20), which takes every shape
// and attribute the op allows (conv2d: any groups, either layout), wins. The micro-GEMM's supports() takes
// only groups 1 and layout nchw.
void register_onednn_kernels(OpRegistry& r) {
  using namespace onednn;
  const Device cpu = Device::cpu;
  r.add({"conv2d", cpu, "onednn", 20, make_conv2d});
  r.add({"conv2d", cpu, "gemm", 30, make_conv2d_gemm, conv2d_gemm_supports, kConv2dGemmCovers});
  r.add({"avgpool2d", cpu, "onednn", 20, make_avgpool2d});
  r.add({"avgpool2d", cpu, "loops", 30, make_avgpool2d_loops, avgpool2d_loops_supports, kAvgPool2dLoopsCovers});
  r.add({"dense", cpu, "onednn", 20, make_dense});
  r.add({"dense", cpu, "loops", 30, make_dense_loops, dense_loops_supports, kDenseLoopsCovers});
  r.add({"batchnorm", cpu, "onednn", 20, make_batchnorm,
         [](const Attrs& a, std::span<const Shape>) {
           return kBatchNormSchema.get_string(a, "activation") == "none" && kBatchNormSchema.get_int(a, "sync") == 0;
         },
         "activation none, sync 0"});
  r.add({"batchnorm", cpu, "loops", 30, make_batchnorm_loops, batchnorm_loops_supports, kBatchNormLoopsCovers});
  r.add({"global_avgpool", cpu, "onednn", 20, make_global_avgpool});
  // The loops measured 2.7–9× faster than oneDNN's pooling on MobileNet's last map and level or faster on long
  // maps (ops/cpu/global_avgpool.cpp).
  r.add({"global_avgpool", cpu, "loops", 30, make_global_avgpool_loops});
  r.add({"to_nhwc", cpu, "onednn", 20, make_to_nhwc});
  for (const ActivationType& act : kActivations) {
    const std::string type(act.type);
    if (act.kind != ActKind::noisy_softplus)  // no oneDNN 2.6 eltwise form
      r.add({type, cpu, "onednn", 20, [type](const Attrs& a) { return make_eltwise(type, a); },
             [type](const Attrs& a, std::span<const Shape>) { return eltwise_supports(type, a); }, kEltwiseCovers});
    // The vectorised loops beat oneDNN 2.6's eltwise on batch-50 Liu maps (relu backward 12 vs 44 µs,
    // softplus forward + backward 134 vs 155 µs, 1 thread; bench/bench_ops.cpp), so they rank first. They
    // support every shape: an element-wise map has no shape beyond its length, and neither kernel's cost per
    // element depends on it.
    r.add({type, cpu, "openmp", 25, [type](const Attrs& a) { return make_activation_loops(type, a); }});
  }
}

}  // namespace sf
