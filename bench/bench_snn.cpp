// The SNN simulator's hot path: the Liu small net (Glorot-random weights, so rates are realistic but not
// trained), 16 random MNIST-like images × 200 steps, per propagation kernel and neuron model. items_per_second
// is image-steps per second (×1000 steps per image for Liu's 1 s runs). Real time: the images run on OpenMP
// threads.
#include <benchmark/benchmark.h>

#include "backends/cpu/simulator.h"
#include "backends/snn/converter.h"
#include "models/zoo.h"

namespace {

sf::Dataset random_images(int64_t n) {
  sf::Dataset d;
  d.name = "random";
  d.images = sf::Tensor({n, 1, 28, 28});
  sf::Rng rng(3);
  // ~19 % of MNIST pixels are lit: the input spike load of the real set.
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = rng.uniform() < 0.19 ? 0.5f + 0.5f * float(rng.uniform()) : 0.0f;
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(rng.below(10)));
  d.num_classes = 10;
  return d;
}

void BM_Simulate(benchmark::State& state, sf::Propagation prop, sf::snn::NeuronModel neuron) {
  const sf::Model model = sf::build_model(sf::ModelSpec{}, 1);
  const sf::Dataset data = random_images(16);
  sf::snn::ConvertOptions o;
  o.neuron = neuron;
  o.norm_images = 16;
  const auto c = sf::snn::convert(model, data, o);
  sf::SimOptions so;
  so.steps = 200;
  so.propagation = prop;
  so.batch = 8;
  sf::cpu::CpuSimulator sim;
  for (auto _ : state) benchmark::DoNotOptimize(sim.simulate(c.net, data, so));
  state.SetItemsProcessed(state.iterations() * data.size() * so.steps);
}

BENCHMARK_CAPTURE(BM_Simulate, event_lif, sf::Propagation::event, sf::snn::NeuronModel::lif)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Simulate, dense_lif, sf::Propagation::dense, sf::snn::NeuronModel::lif)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Simulate, event_if, sf::Propagation::event, sf::snn::NeuronModel::if_reset_zero)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Simulate, dense_if, sf::Propagation::dense, sf::snn::NeuronModel::if_reset_zero)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
