#include "ops/cpu/dnnl_context.h"

namespace sf::onednn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

}  // namespace sf::onednn
