// MobileNet v1 training on the GPU (device cuda): the peer case, alpha 1.0 on 32x32 (CIFAR strides),
// batch 128, fp32, against bench/pytorch_mobilenet.py --device cuda (scripts/gpu_check.sh runs both).
//   MobileNetTrainCuda/alpha:<α·100>/size:<s>/batch:<b>/nhwc:<0|1>
// Random images in memory, as the PyTorch peer's, so the data pipeline is not what is timed. Napkin math: a step
// costs ≈ 3× the forward MACs at 2 FLOPs each; `peak` divides the achieved rate by the GPU's plain-fp32 peak,
// multiprocessors × 128 FP32 lanes × 2 × the boost clock (sm_80/sm_90 have 128 lanes per multiprocessor), so
// TF32 tensor-core work can show above 1. Without a GPU each case reports why and does not run.
#include <benchmark/benchmark.h>

#include <string>

#include "bench/mobilenet_case.h"
#include "core/device.h"

#if SPIKEFORGE_CUDA
#include <cuda_runtime.h>
#endif

namespace {

double fp32_peak_gflops() {
#if SPIKEFORGE_CUDA
  int sms = 0, khz = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess ||
      cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0) != cudaSuccess)
    return 0;
  return sms * 128.0 * 2.0 * khz * 1e-6;
#else
  return 0;
#endif
}

void MobileNetTrainCuda(benchmark::State& state) {
  if (const std::string why = sf::device_unavailable_reason(sf::Device::cuda); !why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  const int64_t size = state.range(1), batch = state.range(2), steps = 40;
  const sf::ModelSpec spec = sf::bench::mobilenet_spec(state.range(0), size, state.range(3) != 0);
  sf::Model model = sf::build_model(spec, 1);
  const sf::Dataset data = sf::bench::random_images(spec, steps * batch);
  const sf::TrainSpec t = sf::bench::one_epoch(batch);
  sf::Trainer trainer(model, t, sf::Device::cuda, 1);
  trainer.fit(data, nullptr);  // warm-up: cuDNN plans, allocations

  double seconds = 0;
  for (auto _ : state) {
    const auto h = trainer.fit(data, nullptr);
    seconds += h.at(0).train_seconds;
    state.SetIterationTime(h.at(0).train_seconds);
  }
  const double images = static_cast<double>(state.iterations() * steps * batch);
  const double gflops = 3.0 * 2.0 * static_cast<double>(model.macs()) * images / seconds * 1e-9;
  state.counters["images_per_s"] = images / seconds;
  state.counters["GFLOPs"] = gflops;
  state.counters["peak"] = gflops / fp32_peak_gflops();
}
BENCHMARK(MobileNetTrainCuda)
    ->ArgNames({"alpha", "size", "batch", "nhwc"})
    ->Args({100, 32, 128, 0})
    ->Args({100, 32, 128, 1})
    ->UseManualTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

}  // namespace
