// Per-sample transforms and their composition. A transform maps one {C, H, W} image to another whose shape it
// declares from the input's; random transforms draw from an Rng the pipeline keys on (seed, epoch, sample index,
// the transform's position) through stream_seed, so a sample's augmentation depends on nothing else — not the
// thread that runs it, the batch it lands in, nor the other transforms.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace sf {

// How a transform's output height and width follow from its input's: `keeps` them, `fixes` them (the same
// output size for any input it accepts), or `depends` on them (resize_short). Pipeline::fixed_size() reads it.
enum class SizeRule { keeps, fixes, depends };

class Transform {
 public:
  virtual ~Transform() = default;
  virtual std::string name() const = 0;
  virtual SizeRule size_rule() const { return SizeRule::depends; }
  // The output shape for input `in` ({C, H, W}); BadInput when the transform cannot take that input.
  virtual Shape output_shape(const Shape& in) const = 0;
  // in: numel(in_shape) floats; out: numel(output_shape(in_shape)) floats, not aliasing in. Const and
  // stateless, so one instance serves every thread.
  virtual void apply(const float* in, const Shape& in_shape, float* out, Rng& rng) const = 0;
};

// Which sample is being transformed: the key of its augmentation streams.
struct SampleKey {
  uint64_t seed = 0;
  uint64_t epoch = 0;
  uint64_t index = 0;  // the sample's index in its source (not its position in a shuffled batch)
};

class Pipeline {
 public:
  // Per-thread buffers for the intermediate images, reused across samples to avoid allocating per sample.
  struct Scratch {
    std::vector<float> a, b;
  };

  Pipeline& add(std::unique_ptr<Transform> t);
  bool empty() const { return steps_.empty(); }
  size_t size() const { return steps_.size(); }
  const Transform& at(size_t k) const { return *steps_[k]; }
  // The shape the whole pipeline produces from `in`; BadInput naming the transform that rejects its input.
  Shape output_shape(const Shape& in) const;
  // Whether every input of the right channel count comes out the same height and width: the last step that
  // does not keep the size fixes it. Sources of varying sample sizes (image folders) need such a pipeline.
  bool fixed_size() const;
  // Transforms one sample; out holds numel(output_shape(in_shape)) floats. Thread-safe with one Scratch per thread.
  void apply(const float* in, const Shape& in_shape, float* out, const SampleKey& key, Scratch& scratch) const;

 private:
  std::vector<std::shared_ptr<const Transform>> steps_;  // shared: a Pipeline copies cheaply into loaders
};

}  // namespace sf
