// Batches from a DataSource through a Pipeline, read and augmented on worker threads while the caller trains.
// Reproducible and independent of the worker count: the epoch's order comes from the shuffle stream of
// (seed, epoch) (the same order as BatchLoader's), and each sample's augmentation from its own (seed, epoch,
// sample index) stream, so batch b is bit-identical whether 0, 1 or 16 workers made it.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/parallel.h"
#include "datasets/pipeline.h"
#include "datasets/source.h"

namespace sf {

struct LoaderOptions {
  int64_t batch = 32;
  bool shuffle = true;
  uint64_t seed = 1;
  int workers = 0;   // threads that read and transform batches; 0 = synchronously on the caller
  int prefetch = 0;  // batches made ahead of the one being consumed; 0 = 2 per worker
  // This process's slice of every batch, for data-parallel ranks: each batch is cut into `parts` parts by
  // shard_range (core/parallel.h), and this loader reads and builds parts [part, part + part_count) only. The
  // order and each sample's augmentation are the whole batch's, so the ranks' slices put together are the
  // batch a single process makes.
  int64_t parts = 1, part = 0, part_count = 1;
};

// One batch, in the loader's output shape. Valid until the next batch()/start_epoch() call.
struct Batch {
  int64_t index = -1;            // b
  int64_t size = 0;              // n samples (the last batch may be smaller: Keras semantics)
  int64_t offset = 0;            // of the first sample in the whole batch (LoaderOptions::parts)
  int64_t whole = 0;             // samples of the whole batch, all slices together
  std::vector<float> images;     // [n, C, H, W]
  std::vector<int32_t> labels;   // [n]
  std::vector<int64_t> samples;  // [n] the source indices, in batch order
  // Writes the one-hot targets [n, k]: `on` at the label, `off` elsewhere.
  void one_hot(float* out, int k, float on = 1.0f, float off = 0.0f) const;
};

class DataLoader {
 public:
  // source must outlive the loader; the pipeline is copied (its transforms are shared, immutable). BadInput when the
  // pipeline cannot take the source's samples or the options are out of range.
  DataLoader(const DataSource& source, const Pipeline& pipeline, const LoaderOptions& options);
  ~DataLoader();  // stops and joins the workers, also in the middle of an epoch
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const Shape& sample_shape() const { return out_shape_; }  // {C, H, W} after the pipeline
  int num_classes() const { return source_.num_classes(); }
  int64_t batches() const;
  int64_t batch_size(int64_t b) const;  // this loader's slice of batch b
  int64_t whole_batch_size(int64_t b) const;

  // Draws the epoch's order and starts the workers on it; an epoch still in flight is abandoned.
  void start_epoch(int64_t epoch);
  // Batch b of the current epoch, waiting for the workers if needed. Batches are taken in order (0, 1, ...); asking
  // again for the current one returns it unchanged. A worker's error (a corrupt file) is rethrown here, as the
  // original sf::Error, by the call for the batch it occurred in.
  const Batch& batch(int64_t b);
  // Copies batch b out like BatchLoader::fill; any pointer may be null.
  void fill(int64_t b, float* images, float* one_hot, int32_t* labels, float on = 1.0f, float off = 0.0f);

 private:
  Range slice(int64_t b) const;                   // of batch b's samples, in batch positions
  std::vector<int64_t> samples(int64_t b) const;  // source indices of the slice; caller holds mu_
  void build(Batch& out, int64_t b, uint64_t epoch, std::vector<int64_t> samples, std::vector<float>& raw,
             Pipeline::Scratch& scratch) const;
  void work();
  void stop_workers();
  std::unique_ptr<Batch> take_buffer();  // caller holds mu_
  void release_pool_after(int64_t b);    // caller holds mu_

  const DataSource& source_;
  const Pipeline pipeline_;
  LoaderOptions opts_;
  Shape in_shape_, out_shape_;  // the source's sample shape and the pipeline's output for it
  int depth_ = 0;               // the bound on batches claimed ahead of the consumer

  std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  bool stop_ = false;
  bool started_ = false;
  uint64_t generation_ = 0;  // bumped by start_epoch, so results of an abandoned epoch are dropped
  uint64_t epoch_ = 0;
  std::vector<int64_t> order_;
  int64_t claimed_ = 0;   // batches [0, claimed_) have been handed to a worker (or built)
  int64_t consumed_ = 0;  // batches [0, consumed_) have been given to the caller
  std::map<int64_t, std::unique_ptr<Batch>> ready_;
  std::vector<std::unique_ptr<Batch>> free_;
  std::unique_ptr<Batch> current_;
  std::exception_ptr error_;  // the first failed batch's exception
  int64_t error_batch_ = -1;
  std::vector<float> raw_;  // synchronous mode's buffers
  Pipeline::Scratch scratch_;
  std::vector<std::thread> workers_;
};

}  // namespace sf
