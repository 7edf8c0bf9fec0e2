#include "ops/activation.h"
#include "ops/dropout.h"
#include "ops/flatten.h"
#include "ops/log_quantize.h"
#include "ops/loss.h"
#include "ops/noisy_softplus_liu.h"
#include "ops/qcfs.h"
#include "ops/reference/kernels.h"
#include "ops/registry.h"

namespace sf {

// Every reference kernel supports everything its op allows: they are the oracle and the fallback.
void register_reference_kernels(OpRegistry& r) {
  using namespace reference;
  const Device cpu = Device::cpu;
  r.add({"conv2d", cpu, "reference", 0, make_conv2d});
  r.add({"avgpool2d", cpu, "reference", 0, make_avgpool2d});
  r.add({"dense", cpu, "reference", 0, make_dense});
  r.add({"global_avgpool", cpu, "reference", 0, make_global_avgpool});
  r.add({"batchnorm", cpu, "reference", 0, make_batchnorm});
  r.add({"to_nhwc", cpu, "reference", 0, make_to_nhwc});
  // Dropout's one kernel is the CPU kernel as well (ops/dropout.h): a hashed mask, nothing for oneDNN to add.
  r.add({"dropout", cpu, "reference", 0, [](const Attrs& a) -> OpPtr { return std::make_unique<DropoutOp>(a); }});
  r.add({"flatten", cpu, "reference", 0, [](const Attrs& a) -> OpPtr { return std::make_unique<FlattenOp>(a); }});
  // The σ² pass runs the source layer's reference kernel (oracle) or the kernel the registry chooses for the
  // source's shapes (CPU).
  r.add({"noisy_softplus_liu", cpu, "reference", 0,
         [cpu](const Attrs& a) -> OpPtr { return std::make_unique<NoisySoftplusLiuOp>(a, "reference", cpu); }});
  r.add({"noisy_softplus_liu", cpu, "openmp", 10,
         [cpu](const Attrs& a) -> OpPtr { return std::make_unique<NoisySoftplusLiuOp>(a, "", cpu); }});
  r.add({"qcfs", cpu, "reference", 0, [](const Attrs& a) -> OpPtr { return std::make_unique<QcfsOp>(a); }});
  r.add({"log_quantize", cpu, "reference", 0,
         [](const Attrs& a) -> OpPtr { return std::make_unique<LogQuantizeOp>(a); }});
  for (const ActivationType& act : kActivations) {
    const std::string type(act.type);
    r.add({type, cpu, "reference", 0, [type](const Attrs& a) { return make_activation(type, a); }});
  }
  for (const OpSchema& loss : kLosses) {
    const std::string type(loss.op);
    r.add({type, cpu, "reference", 0, [type](const Attrs&) { return make_loss(type, false); }});
    r.add({type, cpu, "openmp", 10, [type](const Attrs&) { return make_loss(type, true); }});
  }
}

}  // namespace sf
