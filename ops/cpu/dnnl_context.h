// One oneDNN CPU engine and stream for the process, plus the small helpers every oneDNN kernel uses.
// Kernels create their primitives and memory objects once in prepare(); per call they only rebind the
// data pointers (set_data_handle is a pointer store) and execute.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "core/tensor.h"

namespace sf::onednn {

dnnl::engine& engine();
dnnl::stream& stream();

inline dnnl::memory::desc plain(const Shape& s) {
  using tag = dnnl::memory::format_tag;
  const tag t = s.size() == 1 ? tag::a : s.size() == 2 ? tag::ab : s.size() == 4 ? tag::abcd : tag::undef;
  return dnnl::memory::desc(dnnl::memory::dims(s.begin(), s.end()), dnnl::memory::data_type::f32, t);
}

// A memory object without data; bind() points it at a tensor before execution.
inline dnnl::memory unbound(const dnnl::memory::desc& md) { return dnnl::memory(md, engine(), DNNL_MEMORY_NONE); }

inline void bind(dnnl::memory& m, const Tensor& t) { m.set_data_handle(const_cast<float*>(t.data())); }

using Args = std::unordered_map<int, dnnl::memory>;

inline void run(const dnnl::primitive& p, const Args& args) { p.execute(stream(), args); }

// Primitive attributes with a scratchpad owned by the primitive's op (scratchpad_mode::user) rather than the
// library's shared one: replicas that run the same kind of primitive on several threads (train/parallel.h)
// crashed in the shared scratchpad (oneDNN 2.6, NCHW gemm convolution).
inline dnnl::primitive_attr own_scratchpad() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}
// Allocates the scratchpad a primitive desc (created with own_scratchpad()) asks for, into its argument map.
inline void add_scratchpad(Args& args, const dnnl::memory::desc& md) {
  if (md.get_size()) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(md, engine());
}

}  // namespace sf::onednn
