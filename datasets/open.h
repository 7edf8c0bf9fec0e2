// A dataset opened for training and testing, whatever it is stored as: every split is a DataSource, so the
// DataLoader reads MNIST from memory, CIFAR from its bytes and an image folder from disk through one path.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/source.h"

namespace sf {

struct DatasetOptions {
  std::string name = "mnist";    // known_datasets(): mnist | fashion_mnist | cifar10 | cifar100 | image_folder
  std::string path;              // "" = default_dataset_dir(name)
  std::string label = "fine";    // cifar100: fine (100 classes) | coarse (20 superclasses)
  bool skip_bad_images = false;  // image_folder: replace and count undecodable images instead of failing
};

// The sample shape as stored and the classes. Reads nothing but an image folder's train/ class folders (not its
// files), so an experiment can be checked without loading the data.
DatasetInfo dataset_info(const DatasetOptions& options);

class DataSplits {
 public:
  virtual ~DataSplits() = default;
  virtual const DataSource& train() const = 0;
  // The held-out tail of the training set when open_dataset was given a fraction (train() is then the rest);
  // null otherwise.
  virtual const DataSource* held_out() const = 0;
  // MNIST's t10k files, CIFAR's test batches, an image folder's val/.
  virtual const DataSource& test() const = 0;
  // In label order, for the checkpoint; empty for MNIST.
  std::vector<std::string> class_names() const { return train().class_names(); }
  // Images met so far that did not decode and were replaced (image_folder with skip_bad_images), each counted
  // once, and the first of them ("path: reason").
  virtual int64_t skipped_images() const { return 0; }
  virtual std::vector<std::string> skipped_files() const { return {}; }
};

// held_out: a fraction in (0, 1) of the training set to hold out (Keras's validation_split: its last samples),
// or 0 for none. BadInput naming the file or folder for data that is missing or malformed.
std::unique_ptr<DataSplits> open_dataset(const DatasetOptions& options, double held_out = 0);

}  // namespace sf
