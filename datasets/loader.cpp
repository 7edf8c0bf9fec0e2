#include "datasets/loader.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace sf {
namespace {

constexpr int kMaxWorkers = 1024;  // far above any CPU this runs on; stops a typo from spawning 1e5 threads

}  // namespace

void Batch::one_hot(float* out, int k, float on, float off) const {
  std::fill(out, out + size * k, off);
  for (int64_t i = 0; i < size; ++i) out[i * k + labels[static_cast<size_t>(i)]] = on;
}

DataLoader::DataLoader(const DataSource& source, const Pipeline& pipeline, const LoaderOptions& options)
    : source_(source), pipeline_(pipeline), opts_(options) {
  if (opts_.batch < 1) fail_input("batch_size", "must be at least 1, got " + std::to_string(opts_.batch));
  if (opts_.workers < 0 || opts_.workers > kMaxWorkers)
    fail_input("workers", "must be in [0, " + std::to_string(kMaxWorkers) + "], got " + std::to_string(opts_.workers));
  if (opts_.prefetch < 0) fail_input("prefetch", "must be >= 0, got " + std::to_string(opts_.prefetch));
  if (opts_.parts < 1 || opts_.part < 0 || opts_.part_count < 1 || opts_.part + opts_.part_count > opts_.parts)
    fail_internal("DataLoader: parts [" + std::to_string(opts_.part) + ", +" + std::to_string(opts_.part_count) +
                  ") of " + std::to_string(opts_.parts));
  if (source_.num_classes() < 1) fail_input(source_.name(), "has no classes");
  in_shape_ = source_.sample_shape();
  try {
    out_shape_ = pipeline_.output_shape(in_shape_);
  } catch (const Error& e) {
    fail_input(source_.name(), e.what());
  }
  depth_ = opts_.prefetch > 0 ? opts_.prefetch : 2 * opts_.workers;
  try {
    for (int i = 0; i < opts_.workers; ++i) workers_.emplace_back([this] { work(); });
  } catch (...) {  // a thread failed to start: join the others, or their std::thread destructors terminate
    stop_workers();
    throw;
  }
}

DataLoader::~DataLoader() { stop_workers(); }

// A worker in the middle of a batch finishes that batch (a read cannot be interrupted) and then exits.
void DataLoader::stop_workers() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

int64_t DataLoader::batches() const { return (source_.size() + opts_.batch - 1) / opts_.batch; }

int64_t DataLoader::whole_batch_size(int64_t b) const {
  if (b < 0 || b >= batches())
    fail_internal("DataLoader: batch " + std::to_string(b) + " out of range [0, " + std::to_string(batches()) + ")");
  return std::min(opts_.batch, source_.size() - b * opts_.batch);
}

Range DataLoader::slice(int64_t b) const {
  const int64_t n = whole_batch_size(b);
  const Range first = shard_range(n, opts_.parts, opts_.part);
  const Range last = shard_range(n, opts_.parts, opts_.part + opts_.part_count - 1);
  return {first.first, last.first + last.count - first.first};
}

int64_t DataLoader::batch_size(int64_t b) const { return slice(b).count; }

std::vector<int64_t> DataLoader::samples(int64_t b) const {
  const Range r = slice(b);
  const auto first = order_.begin() + b * opts_.batch + r.first;
  return std::vector<int64_t>(first, first + r.count);  // a copy: start_epoch may replace order_
}

std::unique_ptr<Batch> DataLoader::take_buffer() {
  if (free_.empty()) return std::make_unique<Batch>();
  auto b = std::move(free_.back());
  free_.pop_back();
  return b;
}

void DataLoader::start_epoch(int64_t epoch) {
  std::vector<int64_t> order = epoch_order(source_.size(), opts_.shuffle, opts_.seed, static_cast<uint64_t>(epoch));
  {
    std::lock_guard lk(mu_);
    ++generation_;  // batches still being made for the old epoch are dropped when they come back
    epoch_ = static_cast<uint64_t>(epoch);
    order_ = std::move(order);
    claimed_ = consumed_ = 0;
    for (auto& [b, buf] : ready_) free_.push_back(std::move(buf));
    ready_.clear();
    if (current_) free_.push_back(std::move(current_));
    error_ = nullptr;
    error_batch_ = -1;
    started_ = true;
  }
  work_cv_.notify_all();
}

void DataLoader::build(Batch& out, int64_t b, uint64_t epoch, std::vector<int64_t> samples, std::vector<float>& raw,
                       Pipeline::Scratch& scratch) const {
  const int64_t n = static_cast<int64_t>(samples.size()), per = numel(out_shape_);
  const int k = source_.num_classes();
  out.index = b;
  out.size = n;
  out.offset = slice(b).first;
  out.whole = whole_batch_size(b);
  out.samples = std::move(samples);
  out.images.resize(static_cast<size_t>(n * per));
  out.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t idx = out.samples[static_cast<size_t>(i)];
    float* dst = out.images.data() + i * per;
    int32_t& label = out.labels[static_cast<size_t>(i)];
    const Shape shape = source_.sample_shape_of(idx);
    if (shape != in_shape_) {  // a source of varying sizes: the pipeline must still reach the batch's shape
      const Shape got = pipeline_.output_shape(shape);
      if (got != out_shape_)
        fail_input(source_.name(), "sample " + std::to_string(idx) + " of shape " + to_string(shape) + " becomes " +
                                       to_string(got) + " after the transforms, not " + to_string(out_shape_) +
                                       " (end the pipeline with a resize)");
    }
    if (pipeline_.empty()) {
      source_.read(idx, dst, &label);  // straight into the batch: no intermediate copy
    } else {
      raw.resize(static_cast<size_t>(numel(shape)));
      source_.read(idx, raw.data(), &label);
      pipeline_.apply(raw.data(), shape, dst, SampleKey{opts_.seed, epoch, static_cast<uint64_t>(idx)}, scratch);
    }
    if (label < 0 || label >= k)  // would index past a one-hot row
      fail_input(source_.name(), "sample " + std::to_string(idx) + ": label " + std::to_string(label) +
                                     " is out of range [0, " + std::to_string(k) + ")");
  }
}

void DataLoader::work() {
  std::vector<float> raw;
  Pipeline::Scratch scratch;
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait(
        lk, [&] { return stop_ || (started_ && !error_ && claimed_ < batches() && claimed_ < consumed_ + depth_); });
    if (stop_) return;
    const int64_t b = claimed_++;
    const uint64_t generation = generation_, epoch = epoch_;
    std::vector<int64_t> samples = this->samples(b);
    std::unique_ptr<Batch> buf = take_buffer();
    lk.unlock();
    std::exception_ptr error;
    try {
      build(*buf, b, epoch, std::move(samples), raw, scratch);
    } catch (...) {
      error = std::current_exception();
    }
    lk.lock();
    if (generation != generation_) {
      free_.push_back(std::move(buf));
      continue;
    }
    if (error) {
      // Keep the earliest failed batch: the consumer, taking batches in order, reaches it first.
      if (!error_ || b < error_batch_) {
        error_ = error;
        error_batch_ = b;
      }
      free_.push_back(std::move(buf));
    } else {
      ready_[b] = std::move(buf);
    }
    ready_cv_.notify_all();
  }
}

const Batch& DataLoader::batch(int64_t b) {
  std::unique_lock lk(mu_);
  if (!started_) fail_internal("DataLoader: call start_epoch before asking for batches");
  batch_size(b);  // range check
  if (current_ && current_->index == b) return *current_;
  if (b != consumed_)
    fail_internal("DataLoader: batches are taken in order; asked for " + std::to_string(b) + ", the next is " +
                  std::to_string(consumed_));
  if (current_) free_.push_back(std::move(current_));

  if (workers_.empty()) {
    std::unique_ptr<Batch> buf = take_buffer();
    build(*buf, b, epoch_, samples(b), raw_, scratch_);  // an error leaves b the next batch
    consumed_ = claimed_ = b + 1;
    current_ = std::move(buf);
    release_pool_after(b);
    return *current_;
  }

  consumed_ = b + 1;  // frees a prefetch slot
  work_cv_.notify_all();
  ready_cv_.wait(lk, [&] { return ready_.count(b) > 0 || error_batch_ == b; });
  if (error_batch_ == b) {
    consumed_ = b;  // asking again rethrows again
    std::rethrow_exception(error_);
  }
  auto it = ready_.find(b);
  current_ = std::move(it->second);
  ready_.erase(it);
  release_pool_after(b);
  return *current_;
}

// After an epoch's last batch the pool's other buffers would sit idle until the next start_epoch, while the
// other loader (validation, or training again) fills its own: a few 224² batches of 38.5 MB each. They go back.
void DataLoader::release_pool_after(int64_t b) {
  if (b + 1 == batches()) free_.clear();
}

void DataLoader::fill(int64_t b, float* images, float* one_hot, int32_t* labels, float on, float off) {
  const Batch& x = batch(b);
  if (images) std::memcpy(images, x.images.data(), x.images.size() * sizeof(float));
  if (one_hot) x.one_hot(one_hot, source_.num_classes(), on, off);
  if (labels) std::memcpy(labels, x.labels.data(), x.labels.size() * sizeof(int32_t));
}

}  // namespace sf
