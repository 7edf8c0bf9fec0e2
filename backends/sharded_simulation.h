// A distributed `convert` (mpirun / srun): each rank simulates its share of the test images, and the shares
// are gathered into the SimResult one process would have made, so that the result folder (predictions,
// spike counts, accuracy over time) is the same file for any rank count. Images are independent in a rate-
// coded SNN and each draws its Poisson input from a stream keyed on its dataset index, so nothing but the
// results crosses ranks.
#pragma once
#include <cstdint>

#include "backends/backend.h"
#include "core/distributed.h"
#include "core/parallel.h"

namespace sf {

// Rank `rank`'s images of [0, images) among `ranks`: contiguous runs of whole `unit`s (the dense kernel's batch), so
// every batch holds the same images as in one process (its GEMMs round alike). BadInput when there are fewer images
// than ranks.
Range image_share(int64_t images, int64_t unit, int rank, int ranks);

// Replaces each rank's `r` by the merge of all ranks' results, in rank order: per-step correct counts and
// spike counts summed, per-image rows concatenated, rates and events recomputed (finish_layer_stats), the
// wall time the slowest rank's. Every rank calls it; the recorded input spikes end up on rank 0 only.
void gather_results(SimResult& r, Communicator& comm, double duration_s);

}  // namespace sf
