// In-memory image classification datasets and the batch loader the trainer and converters use.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace sf {

struct Dataset {
  std::string name;             // "mnist/train", "fashion_mnist/test", ...
  Tensor images;                // [N, C, H, W], float32, pixels / 255 → [0, 1]
  std::vector<int32_t> labels;  // N labels in [0, num_classes)
  int num_classes = 0;          // from the dataset's definition, not from the labels seen
  // The dataset index of row 0: a slice of a larger set keeps its images' numbering, which keys their random
  // streams (Poisson input) and names them in results.
  int64_t first_index = 0;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t end_index() const { return first_index + size(); }
  // Dataset image `index` (in [first_index, end_index())).
  const float* image(int64_t index) const { return images.data() + (index - first_index) * numel(sample_shape()); }
  int32_t label(int64_t index) const { return labels[static_cast<size_t>(index - first_index)]; }
  Shape sample_shape() const { return {images.dim(1), images.dim(2), images.dim(3)}; }
};

struct DatasetSplit {
  Dataset train, test;
};

// name: "mnist" or "fashion_mnist" (dir: folder with the four IDX files, raw or .gz; empty = the default,
// data/mnist or /usr/share/datasets/fashion-mnist), or "cifar10" / "cifar100" (datasets/cifar.h; copied into
// floats here, for code that needs a Dataset — training streams them from bytes, datasets/open.h). Missing or
// truncated files raise BadInput naming the path and, for a missing file, the command that fetches it.
// "image_folder" has no in-memory form (BadInput).
DatasetSplit load_dataset(const std::string& name, const std::string& dir = "");
// What a model built for dataset `name` needs before the data is loaded: its sample shape {C, H, W} and
// class count. BadInput for an unknown name, listing the known ones, and for image_folder, whose classes are
// its folders (datasets/open.h dataset_info(DatasetOptions) reads them). CIFAR-100: its fine labels.
struct DatasetInfo {
  Shape sample_shape;  // as stored; image_folder: the stand-in {3, 256, 256} (its images differ in size)
  int num_classes = 0;
  std::vector<std::string> class_names;  // label order; empty where only the name was given or the set has none
};
DatasetInfo dataset_info(const std::string& name);
// data/<folder> (or $SPIKEFORGE_DATA_DIR/<folder>): data/mnist, data/cifar10, data/cifar100, data/imagenet;
// Fashion-MNIST's Debian package folder.
std::string default_dataset_dir(const std::string& name);
std::vector<std::string> known_datasets();
// BadInput "WHERE: unknown dataset 'x' (known: ...)" unless `name` is known; `where` is the file and key (or
// the flag) the name came from.
void check_dataset_name(const std::string& name, const std::string& where);

// Splits the last `fraction` of `train` off as a validation set (no shuffle: deterministic, like Keras
// validation_split).
Dataset split_tail(Dataset& train, double fraction);
// Where split_tail cuts n samples: the first int(n · (1 − fraction)) train (Keras's arithmetic). BadInput unless
// both parts are non-empty.
int64_t split_point(int64_t n, double fraction);

// The sample order of an epoch: identity, or (shuffle) a permutation drawn from the (seed, shuffle, epoch) stream,
// so that it depends only on (seed, epoch), and epochs and seeds differ. Shared by BatchLoader and DataLoader.
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, uint64_t epoch);

// Iterates a dataset in batches, in epoch_order. The last batch may be smaller (Keras semantics).
class BatchLoader {
 public:
  BatchLoader(const Dataset& data, int64_t batch, bool shuffle, uint64_t seed);
  void start_epoch(int epoch);
  int64_t batches() const;
  int64_t batch_size(int64_t b) const;  // number of samples in batch b
  // Copies batch b: images [n, C, H, W], one-hot targets [n, K] (with the given on/off values), labels [n].
  void fill(int64_t b, float* images, float* one_hot, int32_t* labels, float on = 1.0f, float off = 0.0f) const;
  // The same for samples [first, first + count) of batch b (one data-parallel shard of it).
  void fill_range(int64_t b, int64_t first, int64_t count, float* images, float* one_hot, int32_t* labels,
                  float on = 1.0f, float off = 0.0f) const;

 private:
  const Dataset& data_;
  int64_t batch_;
  bool shuffle_;
  uint64_t seed_;
  std::vector<int64_t> order_;
};

}  // namespace sf
