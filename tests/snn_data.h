// Test data for the SNN simulators, shared by their test files.
#pragma once
#include <cstdint>

#include "core/rng.h"
#include "datasets/dataset.h"

namespace sf::test {

// n random 1×28×28 images in [0, 1] (about 30 % of the pixels lit) with random labels, for a Liu net.
inline Dataset random_images(int64_t n, uint64_t seed) {
  Dataset d;
  d.name = "random";
  d.images = Tensor({n, 1, 28, 28});
  Rng rng(seed);
  for (int64_t i = 0; i < d.images.numel(); ++i)
    d.images[i] = rng.uniform() < 0.3 ? static_cast<float>(rng.uniform()) : 0.0f;
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(rng.below(10)));
  d.num_classes = 10;
  return d;
}

}  // namespace sf::test
