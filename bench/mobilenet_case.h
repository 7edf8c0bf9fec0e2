// The MobileNet training case both MobileNet benchmarks time (bench_mobilenet.cpp on the CPU,
// bench_train_cuda.cpp on the GPU): the net at alpha/100 on size×size RGB, 10 classes, and `steps` batches of
// random images in memory (the PyTorch peers time random tensors too, so the data pipeline is not measured).
#pragma once
#include <cstdint>

#include "core/rng.h"
#include "models/zoo.h"
#include "train/trainer.h"

namespace sf::bench {

inline ModelSpec mobilenet_spec(int64_t alpha_percent, int64_t size, bool nhwc) {
  ModelSpec spec;
  spec.arch = "mobilenet_v1";
  spec.activation = "relu6";
  spec.alpha = static_cast<double>(alpha_percent) / 100.0;
  spec.data_format = nhwc ? "channels_last" : "channels_first";
  spec.input = {3, size, size};
  spec.classes = 10;
  return spec;
}

inline Dataset random_images(const ModelSpec& spec, int64_t count) {
  Dataset data;
  data.name = "random";
  data.num_classes = spec.classes;
  data.images = Tensor({count, spec.input[0], spec.input[1], spec.input[2]});
  Rng rng(1);
  for (int64_t i = 0; i < data.images.numel(); ++i) data.images[i] = static_cast<float>(rng.uniform(0, 1));
  for (int64_t i = 0; i < count; ++i) data.labels.push_back(static_cast<int32_t>(i % spec.classes));
  return data;
}

// One epoch of `batch`-sized steps without shuffling: SGD lr 0.01 momentum 0.9, softmax cross-entropy.
inline TrainSpec one_epoch(int64_t batch) {
  TrainSpec t;
  t.epochs = 1, t.batch = static_cast<int>(batch), t.loss = "crossentropy", t.shuffle = false;
  t.optimizer.lr = 0.01, t.optimizer.momentum = 0.9;
  return t;
}

}  // namespace sf::bench
