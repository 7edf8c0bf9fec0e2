#include "ops/cpu/dnnl_context.h"

namespace sf::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// One stream per thread: data-parallel replicas (train/parallel.h) execute primitives from several threads at
// once, and a oneDNN stream is not meant to be shared by concurrent executions.
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

}  // namespace sf::onednn
