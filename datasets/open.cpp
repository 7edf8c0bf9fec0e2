#include "datasets/open.h"

#include <optional>

#include "core/error.h"
#include "datasets/cifar.h"
#include "datasets/image_folder.h"

namespace sf {
namespace {

std::string dir_of(const DatasetOptions& o) { return o.path.empty() ? default_dataset_dir(o.name) : o.path; }

// MNIST-style data in memory; a held-out tail is split off by split_tail, so the sources stay MemorySources.
class MemorySplits final : public DataSplits {
 public:
  MemorySplits(const DatasetOptions& o, double held_out) : data_(load_dataset(o.name, o.path)) {
    if (held_out > 0) {
      held_data_ = split_tail(data_.train, held_out);
      held_.emplace(held_data_);
    }
    train_.emplace(data_.train);
    test_.emplace(data_.test);
  }
  const DataSource& train() const override { return *train_; }
  const DataSource* held_out() const override { return held_ ? &*held_ : nullptr; }
  const DataSource& test() const override { return *test_; }

 private:
  DatasetSplit data_;
  Dataset held_data_;
  std::optional<MemorySource> train_, test_, held_;
};

// The training part and held-out tail of a source that is not in memory, as views of it.
struct Tail {
  std::optional<SubsetSource> head, tail;
  Tail(const DataSource& train, double fraction) {
    if (fraction <= 0) return;
    const int64_t n = train.size(), cut = split_point(n, fraction);
    const std::string name = train.name(), base = name.substr(0, name.rfind('/'));
    head.emplace(train, 0, cut, name);
    tail.emplace(train, cut, n - cut, base + "/val");
  }
  const DataSource& train(const DataSource& whole) const { return head ? *head : whole; }
};

class CifarSplits final : public DataSplits {
 public:
  CifarSplits(const DatasetOptions& o, double held_out)
      : data_(load_cifar(o.name == "cifar10" ? CifarKind::cifar10 : CifarKind::cifar100, o.path, o.label)),
        tail_(*data_.train, held_out) {}
  const DataSource& train() const override { return tail_.train(*data_.train); }
  const DataSource* held_out() const override { return tail_.tail ? &*tail_.tail : nullptr; }
  const DataSource& test() const override { return *data_.test; }

 private:
  CifarData data_;
  Tail tail_;
};

class FolderSplits final : public DataSplits {
 public:
  FolderSplits(const DatasetOptions& o, double held_out)
      : data_(open_image_folder(dir_of(o), o.skip_bad_images)), tail_(*data_.train, held_out) {}
  const DataSource& train() const override { return tail_.train(*data_.train); }
  const DataSource* held_out() const override { return tail_.tail ? &*tail_.tail : nullptr; }
  const DataSource& test() const override { return *data_.val; }
  int64_t skipped_images() const override { return data_.train->skipped_images() + data_.val->skipped_images(); }
  std::vector<std::string> skipped_files() const override {
    std::vector<std::string> out = data_.train->skipped_files(), val = data_.val->skipped_files();
    out.insert(out.end(), val.begin(), val.end());
    return out;
  }

 private:
  ImageFolderSplit data_;
  Tail tail_;
};

}  // namespace

DatasetInfo dataset_info(const DatasetOptions& o) {
  check_dataset_name(o.name, "");
  if (o.name == "image_folder") {
    DatasetInfo info{{3, 256, 256}, 0, image_folder_classes(dir_of(o) + "/train")};
    info.num_classes = static_cast<int>(info.class_names.size());
    return info;
  }
  DatasetInfo info = dataset_info(o.name);
  if (o.name == "cifar100" && o.label == "coarse") info.num_classes = 20;
  return info;
}

std::unique_ptr<DataSplits> open_dataset(const DatasetOptions& o, double held_out) {
  check_dataset_name(o.name, "");
  if (o.name == "cifar10" || o.name == "cifar100") return std::make_unique<CifarSplits>(o, held_out);
  if (o.name == "image_folder") return std::make_unique<FolderSplits>(o, held_out);
  return std::make_unique<MemorySplits>(o, held_out);
}

}  // namespace sf
