// Datasets layer: IDX parsing (raw and gzip), MNIST-style loading and validation, split_tail, BatchLoader.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "tests/support.h"

namespace fs = std::filesystem;
using namespace sf;

namespace {

using test::bad_input;

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("sf_datasets") {}
};

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                               uint8_t dtype = 0x08) {
  std::vector<uint8_t> b = {0, 0, dtype, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_raw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> iota_bytes(size_t n, int start = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((start + i * 7) & 0xff);
  return v;
}

// Writes a tiny MNIST-style folder: n_train/n_test images of h×w with the given labels (raw or .gz).
void write_mnist_like(const TempDir& dir, const std::vector<uint8_t>& train_labels,
                      const std::vector<uint8_t>& test_labels, bool gz, uint32_t h = 3, uint32_t w = 2) {
  auto put = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    if (gz)
      write_gz(dir.file(name + ".gz"), bytes);
    else
      write_raw(dir.file(name), bytes);
  };
  const auto ntr = static_cast<uint32_t>(train_labels.size()), nte = static_cast<uint32_t>(test_labels.size());
  put("train-images-idx3-ubyte", idx_bytes({ntr, h, w}, iota_bytes(ntr * h * w)));
  put("train-labels-idx1-ubyte", idx_bytes({ntr}, train_labels));
  put("t10k-images-idx3-ubyte", idx_bytes({nte, h, w}, iota_bytes(nte * h * w, 3)));
  put("t10k-labels-idx1-ubyte", idx_bytes({nte}, test_labels));
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A small in-memory dataset whose sample i has every pixel equal to i, so order is easy to read back.
Dataset make_dataset(int64_t n, int64_t c = 1, int64_t h = 2, int64_t w = 2) {
  Dataset d;
  d.name = "toy/train";
  d.num_classes = 10;
  d.images = Tensor({n, c, h, w});
  const int64_t per = c * h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < per; ++j) d.images[i * per + j] = static_cast<float>(i);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 10));
  return d;
}

std::vector<int32_t> epoch_labels_order(BatchLoader& loader, const Dataset& d, int epoch) {
  loader.start_epoch(epoch);
  std::vector<int32_t> ids;
  const int64_t per = numel(d.sample_shape());
  for (int64_t b = 0; b < loader.batches(); ++b) {
    const int64_t n = loader.batch_size(b);
    std::vector<float> img(static_cast<size_t>(n * per));
    loader.fill(b, img.data(), nullptr, nullptr);
    for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(img[static_cast<size_t>(i * per)]));
  }
  return ids;
}

}  // namespace

// ---------------------------------------------------------------- IDX

TEST(IdxTest, RoundTripRawAndGzip) {
  TempDir dir;
  const auto data = iota_bytes(2 * 3 * 4);
  const auto bytes = idx_bytes({2, 3, 4}, data);
  write_raw(dir.file("a"), bytes);
  write_gz(dir.file("a.gz"), bytes);
  for (const auto& p : {dir.file("a"), dir.file("a.gz")}) {
    const IdxArray a = read_idx(p);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3, 4})) << p;
    EXPECT_EQ(a.data, data) << p;
  }
}

TEST(IdxTest, BigEndianDims) {
  TempDir dir;
  write_raw(dir.file("a"), idx_bytes({258}, iota_bytes(258)));
  EXPECT_EQ(read_idx(dir.file("a")).dims, std::vector<int64_t>{258});
}

TEST(IdxTest, MissingFile) {
  TempDir dir;
  const std::string msg = bad_input([&] { read_idx(dir.file("nope")); });
  EXPECT_TRUE(has(msg, dir.file("nope"))) << msg;
  EXPECT_TRUE(has(msg, "missing")) << msg;
}

TEST(IdxTest, TruncatedRawAndGzip) {
  TempDir dir;
  auto bytes = idx_bytes({10, 4}, iota_bytes(40));
  bytes.resize(bytes.size() - 15);
  write_raw(dir.file("t"), bytes);
  write_gz(dir.file("t.gz"), bytes);
  for (const auto& p : {dir.file("t"), dir.file("t.gz")}) {
    const std::string msg = bad_input([&] { read_idx(p); });
    EXPECT_TRUE(has(msg, p)) << msg;
    EXPECT_TRUE(has(msg, "truncated: expected 40 bytes of data, found 25")) << msg;
  }
}

TEST(IdxTest, CutGzipStream) {
  TempDir dir;
  write_gz(dir.file("c.gz"), idx_bytes({200, 50}, iota_bytes(10000)));
  fs::resize_file(dir.file("c.gz"), fs::file_size(dir.file("c.gz")) / 2);
  const std::string msg = bad_input([&] { read_idx(dir.file("c.gz")); });
  EXPECT_TRUE(has(msg, dir.file("c.gz"))) << msg;
  EXPECT_TRUE(has(msg, "truncated")) << msg;
}

TEST(IdxTest, TruncatedHeader) {
  TempDir dir;
  write_raw(dir.file("h"), {0, 0, 8, 3, 0, 0});
  EXPECT_TRUE(has(bad_input([&] { read_idx(dir.file("h")); }), "truncated"));
}

TEST(IdxTest, TrailingGarbage) {
  TempDir dir;
  auto bytes = idx_bytes({4}, iota_bytes(4));
  bytes.push_back(1);
  bytes.push_back(2);
  write_raw(dir.file("g"), bytes);
  const std::string msg = bad_input([&] { read_idx(dir.file("g")); });
  EXPECT_TRUE(has(msg, "2 bytes of trailing data")) << msg;
}

TEST(IdxTest, BadMagic) {
  TempDir dir;
  auto bytes = idx_bytes({4}, iota_bytes(4));
  bytes[0] = 0x12;
  write_raw(dir.file("m"), bytes);
  const std::string msg = bad_input([&] { read_idx(dir.file("m")); });
  EXPECT_TRUE(has(msg, dir.file("m"))) << msg;
  EXPECT_TRUE(has(msg, "bad magic")) << msg;
}

TEST(IdxTest, UnsupportedDtypeIsNamed) {
  TempDir dir;
  write_raw(dir.file("f"), idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  const std::string msg = bad_input([&] { read_idx(dir.file("f")); });
  EXPECT_TRUE(has(msg, "0x0D (float32)")) << msg;
}

TEST(IdxTest, BadRankAndZeroDim) {
  TempDir dir;
  write_raw(dir.file("r"), idx_bytes({1, 1, 1, 1, 1}, {7}));
  EXPECT_TRUE(has(bad_input([&] { read_idx(dir.file("r")); }), "rank 5"));
  write_raw(dir.file("z"), idx_bytes({3, 0}, {}));
  EXPECT_TRUE(has(bad_input([&] { read_idx(dir.file("z")); }), "zero"));
}

// ---------------------------------------------------------------- load_dataset

TEST(DatasetTest, LoadsRawAndScalesPixels) {
  TempDir dir;
  write_mnist_like(dir, {1, 2, 3, 4, 5}, {9, 0}, /*gz=*/false);
  const DatasetSplit s = load_dataset("mnist", dir.str());
  EXPECT_EQ(s.train.name, "mnist/train");
  EXPECT_EQ(s.test.name, "mnist/test");
  EXPECT_EQ(s.train.num_classes, 10);
  EXPECT_EQ(s.train.images.shape(), (Shape{5, 1, 3, 2}));
  EXPECT_EQ(s.test.images.shape(), (Shape{2, 1, 3, 2}));
  EXPECT_EQ(s.train.labels, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(s.test.labels, (std::vector<int32_t>{9, 0}));
  const auto px = iota_bytes(5 * 6);
  for (size_t i = 0; i < px.size(); ++i) EXPECT_EQ(s.train.images[static_cast<int64_t>(i)], px[i] / 255.0f);
  EXPECT_EQ(s.train.sample_shape(), (Shape{1, 3, 2}));
}

TEST(DatasetTest, LoadsGzipAndPrefersRaw) {
  TempDir dir;
  write_mnist_like(dir, {1, 2, 3}, {4}, /*gz=*/true);
  const DatasetSplit gz = load_dataset("fashion_mnist", dir.str());
  EXPECT_EQ(gz.train.name, "fashion_mnist/train");
  EXPECT_EQ(gz.train.labels, (std::vector<int32_t>{1, 2, 3}));
  // A raw file next to the .gz wins.
  write_raw(dir.file("train-labels-idx1-ubyte"), idx_bytes({3}, {7, 8, 9}));
  EXPECT_EQ(load_dataset("fashion_mnist", dir.str()).train.labels, (std::vector<int32_t>{7, 8, 9}));
}

TEST(DatasetTest, MissingFileNamesPathAndFix) {
  TempDir dir;
  write_mnist_like(dir, {1, 2}, {3}, false);
  fs::remove(dir.file("t10k-images-idx3-ubyte"));
  std::string msg = bad_input([&] { load_dataset("mnist", dir.str()); });
  EXPECT_TRUE(has(msg, dir.file("t10k-images-idx3-ubyte"))) << msg;
  EXPECT_TRUE(has(msg, "missing")) << msg;
  EXPECT_TRUE(has(msg, "scripts/fetch_data.sh mnist")) << msg;
  msg = bad_input([&] { load_dataset("fashion_mnist", dir.str()); });
  EXPECT_TRUE(has(msg, "scripts/fetch_data.sh fashion_mnist")) << msg;
  EXPECT_TRUE(has(msg, "dataset-fashion-mnist")) << msg;
}

TEST(DatasetTest, TruncatedFileNamesPath) {
  TempDir dir;
  write_mnist_like(dir, {1, 2}, {3}, false);
  fs::resize_file(dir.file("train-images-idx3-ubyte"), 16 + 5);
  const std::string msg = bad_input([&] { load_dataset("mnist", dir.str()); });
  EXPECT_TRUE(has(msg, dir.file("train-images-idx3-ubyte"))) << msg;
  EXPECT_TRUE(has(msg, "truncated")) << msg;
}

TEST(DatasetTest, UnknownName) {
  const std::string msg = bad_input([] { load_dataset("cifar7", ""); });
  EXPECT_TRUE(has(msg, "cifar7")) << msg;
  EXPECT_TRUE(has(msg, "mnist, fashion_mnist, cifar10, cifar100, image_folder")) << msg;
  EXPECT_EQ(known_datasets(),
            (std::vector<std::string>{"mnist", "fashion_mnist", "cifar10", "cifar100", "image_folder"}));
}

TEST(DatasetTest, DefaultDirs) {
  const char* old = std::getenv("SPIKEFORGE_DATA_DIR");
  const std::string saved = old ? old : "";
  ::unsetenv("SPIKEFORGE_DATA_DIR");
  EXPECT_EQ(default_dataset_dir("mnist"), "data/mnist");
  EXPECT_EQ(default_dataset_dir("fashion_mnist"), "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(default_dataset_dir("cifar10"), "data/cifar10");
  EXPECT_EQ(default_dataset_dir("cifar100"), "data/cifar100");
  EXPECT_EQ(default_dataset_dir("image_folder"), "data/imagenet");
  ::setenv("SPIKEFORGE_DATA_DIR", "/srv/data", 1);
  EXPECT_EQ(default_dataset_dir("mnist"), "/srv/data/mnist");
  EXPECT_EQ(default_dataset_dir("cifar10"), "/srv/data/cifar10");
  if (old)
    ::setenv("SPIKEFORGE_DATA_DIR", saved.c_str(), 1);
  else
    ::unsetenv("SPIKEFORGE_DATA_DIR");
}

TEST(DatasetTest, LabelCountMismatch) {
  TempDir dir;
  write_mnist_like(dir, {1, 2, 3}, {4}, false);
  write_raw(dir.file("train-labels-idx1-ubyte"), idx_bytes({2}, {1, 2}));
  const std::string msg = bad_input([&] { load_dataset("mnist", dir.str()); });
  EXPECT_TRUE(has(msg, dir.file("train-labels-idx1-ubyte"))) << msg;
  EXPECT_TRUE(has(msg, "2 labels")) << msg;
  EXPECT_TRUE(has(msg, "3 images")) << msg;
}

TEST(DatasetTest, LabelOutOfRange) {
  TempDir dir;
  write_mnist_like(dir, {1, 2, 3}, {4, 10}, false);
  const std::string msg = bad_input([&] { load_dataset("mnist", dir.str()); });
  EXPECT_TRUE(has(msg, dir.file("t10k-labels-idx1-ubyte"))) << msg;
  EXPECT_TRUE(has(msg, "label 10 at index 1")) << msg;
}

TEST(DatasetTest, WrongRank) {
  TempDir dir;
  write_mnist_like(dir, {1, 2}, {3}, false);
  write_raw(dir.file("train-images-idx3-ubyte"), idx_bytes({2, 6}, iota_bytes(12)));
  const std::string msg = bad_input([&] { load_dataset("mnist", dir.str()); });
  EXPECT_TRUE(has(msg, "3-D")) << msg;
}

TEST(DatasetTest, SplitTailSizes) {
  Dataset train = make_dataset(10);
  const Dataset val = split_tail(train, 0.25);  // Keras: int(10 * 0.75) = 7 train, 3 val
  EXPECT_EQ(train.size(), 7);
  EXPECT_EQ(val.size(), 3);
  EXPECT_EQ(train.images.shape(), (Shape{7, 1, 2, 2}));
  EXPECT_EQ(val.images.shape(), (Shape{3, 1, 2, 2}));
  EXPECT_EQ(val.images[0], 7.0f);  // the tail, in order
  EXPECT_EQ(val.labels, (std::vector<int32_t>{7, 8, 9}));
  EXPECT_EQ(train.images[6 * 4], 6.0f);
  EXPECT_EQ(val.name, "toy/val");
  EXPECT_EQ(val.num_classes, 10);

  Dataset big = make_dataset(60000, 1, 1, 1);
  EXPECT_EQ(split_tail(big, 0.1).size(), 6000);
  EXPECT_EQ(big.size(), 54000);

  Dataset t = make_dataset(4);
  bad_input([&] { split_tail(t, 0.0); });
  bad_input([&] { split_tail(t, 1.0); });
}

// ---------------------------------------------------------------- BatchLoader

TEST(BatchLoaderTest, PartialLastBatchAndOneHot) {
  const Dataset d = make_dataset(10);
  BatchLoader loader(d, 4, false, 0);
  loader.start_epoch(0);
  ASSERT_EQ(loader.batches(), 3);
  EXPECT_EQ(loader.batch_size(0), 4);
  EXPECT_EQ(loader.batch_size(2), 2);

  std::vector<float> img(2 * 4), hot(2 * 10);
  std::vector<int32_t> lab(2);
  loader.fill(2, img.data(), hot.data(), lab.data(), 0.9f, -0.1f);
  EXPECT_EQ(lab, (std::vector<int32_t>{8, 9}));
  for (int i = 0; i < 2; ++i) {
    for (int k = 0; k < 10; ++k) EXPECT_EQ(hot[i * 10 + k], k == lab[i] ? 0.9f : -0.1f);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(img[i * 4 + j], static_cast<float>(8 + i));
  }
  EXPECT_EQ(BatchLoader(d, 5, false, 0).batches(), 2);
  EXPECT_EQ(BatchLoader(d, 64, false, 0).batches(), 1);
}

TEST(BatchLoaderTest, NoShuffleKeepsOrder) {
  const Dataset d = make_dataset(23);
  BatchLoader loader(d, 5, false, 7);
  std::vector<int32_t> expect(23);
  std::iota(expect.begin(), expect.end(), 0);
  EXPECT_EQ(epoch_labels_order(loader, d, 0), expect);
  EXPECT_EQ(epoch_labels_order(loader, d, 3), expect);
}

TEST(BatchLoaderTest, ShuffleIsDeterministicPermutation) {
  const Dataset d = make_dataset(100);
  BatchLoader a(d, 16, true, 42), b(d, 16, true, 42);
  const auto e0 = epoch_labels_order(a, d, 0);
  std::vector<int32_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int32_t> ident(100);
  std::iota(ident.begin(), ident.end(), 0);
  EXPECT_EQ(sorted, ident);
  EXPECT_NE(e0, ident);

  EXPECT_EQ(epoch_labels_order(b, d, 0), e0);  // same seed + epoch
  const auto e1 = epoch_labels_order(a, d, 1);
  EXPECT_NE(e1, e0);                           // epochs differ
  EXPECT_EQ(epoch_labels_order(a, d, 0), e0);  // independent of history
  EXPECT_EQ(epoch_labels_order(b, d, 1), e1);

  // Labels and one-hot rows follow the shuffled images.
  a.start_epoch(5);
  std::vector<float> img(16 * 4), hot(16 * 10);
  std::vector<int32_t> lab(16);
  a.fill(0, img.data(), hot.data(), lab.data());
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(lab[i], static_cast<int32_t>(img[i * 4]) % 10);
    EXPECT_EQ(hot[i * 10 + lab[i]], 1.0f);
    EXPECT_EQ(std::accumulate(hot.begin() + i * 10, hot.begin() + (i + 1) * 10, 0.0f), 1.0f);
  }
}

TEST(BatchLoaderTest, RejectsBadBatch) {
  bad_input([] { BatchLoader(make_dataset(3), 0, false, 0); });
}

// ---------------------------------------------------------------- real data (skipped when absent)

TEST(DatasetTest, RealMnist) {
  const std::string dir = std::string(SPIKEFORGE_SOURCE_DIR) + "/data/mnist";
  if (!fs::exists(dir + "/train-images-idx3-ubyte") && !fs::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "MNIST not found in " << dir << " (run scripts/fetch_data.sh mnist)";
  const DatasetSplit s = load_dataset("mnist", dir);
  EXPECT_EQ(s.train.size(), 60000);
  EXPECT_EQ(s.test.size(), 10000);
  EXPECT_EQ(s.train.images.shape(), (Shape{60000, 1, 28, 28}));
  EXPECT_EQ(s.train.labels[0], 5);
  EXPECT_EQ(s.test.labels[0], 7);
}

TEST(DatasetTest, RealFashionMnist) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir + "/train-images-idx3-ubyte") && !fs::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not found in " << dir << " (run scripts/fetch_data.sh fashion_mnist)";
  const DatasetSplit s = load_dataset("fashion_mnist", "");
  EXPECT_EQ(s.train.size(), 60000);
  EXPECT_EQ(s.test.size(), 10000);
  EXPECT_EQ(s.test.images.shape(), (Shape{10000, 1, 28, 28}));
}
