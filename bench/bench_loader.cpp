// DataLoader throughput (samples/s, wall clock) with the consumer doing nothing but take batches of 128:
//   mnist: 1×28×28 from memory, no transforms;   cifar: 3×32×32 from memory, RandomCrop(32, padding=4) +
//   horizontal flip + Normalize. Argument: the worker count (0 = made on the caller). Synthetic pixels: the
// cost does not depend on their values.
#include <benchmark/benchmark.h>

#include "core/rng.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"

namespace {

sf::Dataset random_dataset(int64_t n, const sf::Shape& sample) {
  sf::Dataset d;
  d.name = "bench";
  d.num_classes = 10;
  d.images = sf::Tensor({n, sample[0], sample[1], sample[2]});
  sf::Rng rng(1);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = static_cast<float>(rng.uniform());
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 10));
  return d;
}

void run(benchmark::State& state, const sf::Dataset& d, const sf::Pipeline& p) {
  const sf::MemorySource src(d);
  sf::DataLoader loader(src, p, {.batch = 128, .seed = 1, .workers = static_cast<int>(state.range(0))});
  int64_t epoch = 0, b = 0, samples = 0;
  loader.start_epoch(epoch);
  for (auto _ : state) {
    if (b == loader.batches()) {
      loader.start_epoch(++epoch);
      b = 0;
    }
    const sf::Batch& x = loader.batch(b++);
    benchmark::DoNotOptimize(x.images.data());
    samples += x.size;
  }
  state.SetItemsProcessed(samples);
}

void BM_LoaderMnist(benchmark::State& state) {
  static const sf::Dataset d = random_dataset(60000, {1, 28, 28});
  run(state, d, sf::Pipeline());
}

void BM_LoaderCifarCropFlipNormalize(benchmark::State& state) {
  static const sf::Dataset d = random_dataset(10000, {3, 32, 32});
  sf::Pipeline p;
  p.add(std::make_unique<sf::RandomCrop>(32, 32, 4));
  p.add(std::make_unique<sf::HorizontalFlip>(0.5));
  p.add(std::make_unique<sf::Normalize>(std::vector<float>{0.4914f, 0.4822f, 0.4465f},
                                        std::vector<float>{0.2470f, 0.2435f, 0.2616f}));
  run(state, d, p);
}

BENCHMARK(BM_LoaderMnist)->Arg(0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LoaderCifarCropFlipNormalize)->Arg(0)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
