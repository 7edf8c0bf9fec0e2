#include "backends/sharded_simulation.h"

#include <algorithm>

#include "core/error.h"

namespace sf {

Range image_share(int64_t images, int64_t unit, int rank, int ranks) {
  if (images < ranks)
    throw Error(ErrorKind::BadInput, "--images: " + std::to_string(images) + " images cannot be shared among " +
                                         std::to_string(ranks) + " ranks (run fewer ranks)")
        .on_every_rank();
  // Whole units while every rank gets one; else single images.
  return unit_share(images, unit >= 1 && images >= ranks * unit ? unit : 1, ranks, rank);
}

namespace {

template <class T>
void concat(std::vector<T>& v, Communicator& comm) {
  v = comm.allgather_vector(v);
}

// Element-wise sum over ranks of a vector of the same length everywhere.
template <class T>
void sum(std::vector<T>& v, Communicator& comm) {
  const std::vector<T> all = comm.allgather_vector(v);
  const size_t n = v.size();
  if (all.size() != n * static_cast<size_t>(comm.size())) fail_internal("gather_results: ranks differ in length");
  std::fill(v.begin(), v.end(), T{});
  for (size_t r = 0; r < static_cast<size_t>(comm.size()); ++r)
    for (size_t i = 0; i < n; ++i) v[i] += all[r * n + i];
}

}  // namespace

void gather_results(SimResult& r, Communicator& comm, double duration_s) {
  if (!comm.distributed()) return;
  const int64_t first = comm.allgather_value(r.first_image)[0];
  const int64_t images = comm.sum_over_ranks(r.images);
  r.first_image = first;
  r.images = images;
  sum(r.correct, comm);
  concat(r.predicted, comm);
  concat(r.labels, comm);
  concat(r.output_counts, comm);
  // Each spike names its dataset image, so rank order is image order. Only rank 0 writes them, and the
  // spikes of a long run are many: gathered there alone.
  r.input_spikes = comm.gather_vector(r.input_spikes);
  for (LayerStats& l : r.layers) {
    sum(l.neuron_spikes, comm);
    l.presynaptic_spikes = comm.sum_over_ranks(l.presynaptic_spikes);
    l.negative_spikes = comm.sum_over_ranks(l.negative_spikes);
  }
  finish_layer_stats(r.layers, images, duration_s);
  double slowest = 0;
  for (double s : comm.allgather_value(r.seconds)) slowest = std::max(slowest, s);
  r.seconds = slowest;
}

}  // namespace sf
