#include "ops/flatten.h"
#include "ops/log_quantize.h"
#include "ops/noisy_softplus_liu.h"
#include "ops/reference/kernels.h"
#include "ops/registry.h"

namespace sf {

void register_reference_kernels(OpRegistry& r) {
  using namespace reference;
  const Device cpu = Device::cpu;
  r.add({"conv2d", cpu, "reference", 0, make_conv2d});
  r.add({"avgpool2d", cpu, "reference", 0, make_avgpool2d});
  r.add({"dense", cpu, "reference", 0, make_dense});
  r.add({"flatten", cpu, "reference", 0, [](const Attrs& a) -> OpPtr { return std::make_unique<FlattenOp>(a); }});
  // The σ² pass runs the source layer's reference kernel (oracle) or its default kernel (CPU).
  r.add({"noisy_softplus_liu", cpu, "reference", 0,
         [cpu](const Attrs& a) -> OpPtr { return std::make_unique<NoisySoftplusLiuOp>(a, "reference", cpu); }});
  r.add({"noisy_softplus_liu", cpu, "openmp", 10,
         [cpu](const Attrs& a) -> OpPtr { return std::make_unique<NoisySoftplusLiuOp>(a, "", cpu); }});
  r.add({"log_quantize", cpu, "reference", 0,
         [](const Attrs& a) -> OpPtr { return std::make_unique<LogQuantizeOp>(a); }});
  for (const char* act : {"relu", "softplus", "noisy_softplus"}) {
    const std::string type = act;
    r.add({type, cpu, "reference", 0, [type](const Attrs& a) { return make_activation(type, a); }});
  }
  for (const char* loss : {"mse_loss", "softmax_cross_entropy"}) {
    const std::string type = loss;
    r.add({type, cpu, "reference", 0, [type](const Attrs&) { return make_loss(type, false); }});
    r.add({type, cpu, "openmp", 10, [type](const Attrs&) { return make_loss(type, true); }});
  }
}

}  // namespace sf
