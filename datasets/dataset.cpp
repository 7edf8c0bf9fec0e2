#include "datasets/dataset.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "core/error.h"
#include "datasets/cifar.h"
#include "datasets/idx.h"

namespace sf {
namespace {

namespace fs = std::filesystem;

// What load_dataset knows about each dataset it can read.
struct KnownDataset {
  const char* name;
  int classes;  // image_folder: from its folders
  int64_t channels, height, width;
  const char* folder;  // under data/ (or $SPIKEFORGE_DATA_DIR); null: a fixed system folder
};
constexpr KnownDataset kKnown[] = {{"mnist", 10, 1, 28, 28, "mnist"},
                                   {"fashion_mnist", 10, 1, 28, 28, nullptr},
                                   {"cifar10", 10, 3, 32, 32, "cifar10"},
                                   {"cifar100", 100, 3, 32, 32, "cifar100"},
                                   {"image_folder", 0, 3, 256, 256, "imagenet"}};

const KnownDataset& check_known(const std::string& name, const std::string& where) {
  for (const auto& k : kKnown)
    if (name == k.name) return k;
  std::string list;
  for (const auto& k : kKnown) list += (list.empty() ? "" : ", ") + std::string(k.name);
  fail_input(where, "unknown dataset '" + name + "' (known: " + list + ")");
}

std::string fetch_hint(const std::string& name, const std::string& dir) {
  // The script's own default is <repo>/data/mnist; any other folder (a flag, SPIKEFORGE_DATA_DIR) is passed on.
  if (name == "mnist")
    return dir == "data/mnist" ? "run scripts/fetch_data.sh mnist" : "run scripts/fetch_data.sh mnist " + dir;
  return "run scripts/fetch_data.sh fashion_mnist, which installs the Debian package dataset-fashion-mnist";
}

// Raw wins over .gz when both exist: it is what fetch_data.sh writes and it loads without inflating.
std::string find_file(const std::string& dir, const std::string& base, const std::string& hint) {
  const std::string raw = (fs::path(dir) / base).string();
  std::error_code ec;
  if (fs::exists(raw, ec)) return raw;
  if (fs::exists(raw + ".gz", ec)) return raw + ".gz";
  fail_input(raw, "missing (" + hint + ")");
}

std::string shape_str(const std::vector<int64_t>& dims) { return to_string(Shape(dims.begin(), dims.end())); }

Dataset load_part(const std::string& name, int classes, const std::string& part, const std::string& images_path,
                  const std::string& labels_path) {
  IdxArray img = read_idx(images_path);
  if (img.dims.size() != 3) fail_input(images_path, "expected 3-D images [N, H, W], got shape " + shape_str(img.dims));
  IdxArray lab = read_idx(labels_path);
  if (lab.dims.size() != 1) fail_input(labels_path, "expected 1-D labels [N], got shape " + shape_str(lab.dims));
  const int64_t n = img.dims[0], h = img.dims[1], w = img.dims[2];
  if (lab.dims[0] != n)
    fail_input(labels_path, "has " + std::to_string(lab.dims[0]) + " labels but " + images_path + " has " +
                                std::to_string(n) + " images");

  Dataset d;
  d.name = name + "/" + part;
  d.num_classes = classes;
  d.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int v = lab.data[static_cast<size_t>(i)];
    if (v >= classes)
      fail_input(labels_path, "label " + std::to_string(v) + " at index " + std::to_string(i) +
                                  " is out of range [0, " + std::to_string(classes) + ")");
    d.labels[static_cast<size_t>(i)] = v;
  }

  // IDX images [N, H, W] are one grey channel. A plain loop the compiler vectorises (about 15 ms for MNIST's
  // 47M pixels; first-touch page faults on the new tensor cost more than the arithmetic).
  d.images = Tensor({n, 1, h, w});
  float* dst = d.images.data();
  const uint8_t* src = img.data.data();
  const int64_t count = n * h * w;
  for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  return d;
}

}  // namespace

std::vector<std::string> known_datasets() {
  std::vector<std::string> out;
  for (const auto& k : kKnown) out.push_back(k.name);
  return out;
}

DatasetInfo dataset_info(const std::string& name) {
  const KnownDataset& k = check_known(name, "");
  if (k.classes == 0)
    fail_input(name, "its class count comes from its folder; the dataset name alone does not tell it");
  return {{k.channels, k.height, k.width}, k.classes, {}};
}

void check_dataset_name(const std::string& name, const std::string& where) { check_known(name, where); }

std::string default_dataset_dir(const std::string& name) {
  const KnownDataset& k = check_known(name, "");
  if (!k.folder) return "/usr/share/datasets/fashion-mnist";
  const char* root = std::getenv("SPIKEFORGE_DATA_DIR");
  const fs::path base = (root && *root) ? fs::path(root) : fs::path("data");
  return (base / k.folder).string();
}

DatasetSplit load_dataset(const std::string& name, const std::string& dir) {
  // A backstop: callers that read the name from a file check it there, with the file and key.
  const int classes = check_known(name, "").classes;
  if (name == "cifar10" || name == "cifar100") {
    const CifarData c = load_cifar(name == "cifar10" ? CifarKind::cifar10 : CifarKind::cifar100, dir);
    return {materialize(*c.train), materialize(*c.test)};
  }
  if (name == "image_folder")
    fail_input(name, "is streamed from disk and has no in-memory form (train on it through an experiment)");
  const std::string d = dir.empty() ? default_dataset_dir(name) : dir;
  const std::string hint = fetch_hint(name, d);
  // Resolve all four paths first so a half-fetched folder reports the missing file before any parsing.
  const std::string tr_img = find_file(d, "train-images-idx3-ubyte", hint);
  const std::string tr_lab = find_file(d, "train-labels-idx1-ubyte", hint);
  const std::string te_img = find_file(d, "t10k-images-idx3-ubyte", hint);
  const std::string te_lab = find_file(d, "t10k-labels-idx1-ubyte", hint);

  DatasetSplit s;
  s.train = load_part(name, classes, "train", tr_img, tr_lab);
  s.test = load_part(name, classes, "test", te_img, te_lab);
  if (s.train.sample_shape() != s.test.sample_shape())
    fail_input(te_img, "image shape " + to_string(s.test.sample_shape()) + " differs from the training images' " +
                           to_string(s.train.sample_shape()));
  return s;
}

int64_t split_point(int64_t n, double fraction) {
  if (!(fraction > 0.0 && fraction < 1.0))
    fail_input("validation_split", "must be in (0, 1), got " + std::to_string(fraction));
  // Same arithmetic as Keras (int(n * (1 - split))) so split points match its runs exactly.
  const int64_t n_train = static_cast<int64_t>(static_cast<double>(n) * (1.0 - fraction));
  if (n_train < 1 || n - n_train < 1)
    fail_input("validation_split", std::to_string(fraction) + " of " + std::to_string(n) +
                                       " samples leaves an empty training or validation set");
  return n_train;
}

Dataset split_tail(Dataset& train, double fraction) {
  const int64_t n = train.size();
  const int64_t n_train = split_point(n, fraction);
  const int64_t n_val = n - n_train;

  const Shape sample = train.sample_shape();
  const int64_t per = numel(sample);
  auto rows = [&](int64_t first, int64_t count) {
    Shape shape{count};
    shape.insert(shape.end(), sample.begin(), sample.end());
    Tensor t(shape);
    std::memcpy(t.data(), train.images.data() + first * per, static_cast<size_t>(count * per) * sizeof(float));
    return t;
  };

  Dataset val;
  const auto slash = train.name.rfind('/');
  val.name = (slash == std::string::npos ? train.name : train.name.substr(0, slash)) + "/val";
  val.num_classes = train.num_classes;
  val.images = rows(n_train, n_val);
  val.labels.assign(train.labels.begin() + n_train, train.labels.end());

  train.images = rows(0, n_train);
  train.labels.resize(static_cast<size_t>(n_train));
  return val;
}

BatchLoader::BatchLoader(const Dataset& data, int64_t batch, bool shuffle, uint64_t seed)
    : data_(data), batch_(batch), shuffle_(shuffle), seed_(seed) {
  if (batch < 1) fail_input("batch_size", "must be at least 1, got " + std::to_string(batch));
  start_epoch(0);  // usable without an explicit start_epoch call
}

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, uint64_t epoch) {
  // From identity each time, so an epoch's order depends only on (seed, epoch), not on earlier epochs.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (shuffle) Rng::for_stream(seed, Stream::shuffle, epoch).shuffle(order.begin(), order.end());
  return order;
}

void BatchLoader::start_epoch(int epoch) {
  order_ = epoch_order(data_.size(), shuffle_, seed_, static_cast<uint64_t>(epoch));
}

int64_t BatchLoader::batches() const { return (data_.size() + batch_ - 1) / batch_; }

int64_t BatchLoader::batch_size(int64_t b) const {
  if (b < 0 || b >= batches())
    fail_internal("BatchLoader: batch " + std::to_string(b) + " out of range [0, " + std::to_string(batches()) + ")");
  return std::min(batch_, data_.size() - b * batch_);
}

// Any output pointer may be null (e.g. evaluation needs no one-hot targets).
void BatchLoader::fill(int64_t b, float* images, float* one_hot, int32_t* labels, float on, float off) const {
  fill_range(b, 0, batch_size(b), images, one_hot, labels, on, off);
}

void BatchLoader::fill_range(int64_t b, int64_t first, int64_t count, float* images, float* one_hot, int32_t* labels,
                             float on, float off) const {
  if (first < 0 || count < 0 || first + count > batch_size(b))
    fail_internal("BatchLoader::fill_range: samples [" + std::to_string(first) + ", " + std::to_string(first + count) +
                  ") outside batch " + std::to_string(b));
  const int64_t per = numel(data_.sample_shape());
  const int k = data_.num_classes;
  const float* src = data_.images.data();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t idx = order_[static_cast<size_t>(b * batch_ + first + i)];
    const int32_t y = data_.labels[static_cast<size_t>(idx)];
    if (images) std::memcpy(images + i * per, src + idx * per, static_cast<size_t>(per) * sizeof(float));
    if (one_hot) {
      std::fill(one_hot + i * k, one_hot + (i + 1) * k, off);
      one_hot[i * k + y] = on;
    }
    if (labels) labels[i] = y;
  }
}

}  // namespace sf
