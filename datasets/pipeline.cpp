#include "datasets/pipeline.h"

#include <cstring>

#include "core/error.h"

namespace sf {

Pipeline& Pipeline::add(std::unique_ptr<Transform> t) {
  if (!t) fail_internal("Pipeline::add: null transform");
  steps_.push_back(std::move(t));
  return *this;
}

Shape Pipeline::output_shape(const Shape& in) const {
  if (in.size() != 3 || numel(in) <= 0)
    fail_input("pipeline", "expected a sample shape {C, H, W}, got " + to_string(in));
  Shape s = in;
  for (const auto& t : steps_) s = t->output_shape(s);
  return s;
}

bool Pipeline::fixed_size() const {
  for (auto it = steps_.rbegin(); it != steps_.rend(); ++it)
    if ((*it)->size_rule() != SizeRule::keeps) return (*it)->size_rule() == SizeRule::fixes;
  return false;
}

void Pipeline::apply(const float* in, const Shape& in_shape, float* out, const SampleKey& key, Scratch& scratch) const {
  if (steps_.empty()) {
    std::memcpy(out, in, static_cast<size_t>(numel(in_shape)) * sizeof(float));
    return;
  }
  const float* src = in;
  Shape shape = in_shape;
  for (size_t k = 0; k < steps_.size(); ++k) {
    Shape next = steps_[k]->output_shape(shape);
    float* dst = out;
    if (k + 1 < steps_.size()) {  // alternate the two buffers so that a step never writes its own input
      auto& buf = k % 2 == 0 ? scratch.a : scratch.b;
      buf.resize(static_cast<size_t>(numel(next)));
      dst = buf.data();
    }
    Rng rng = Rng::for_stream(key.seed, Stream::augment, key.epoch, key.index, k);
    steps_[k]->apply(src, shape, dst, rng);
    src = dst;
    shape = std::move(next);
  }
}

}  // namespace sf
