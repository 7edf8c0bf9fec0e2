// Data pipeline: sources, transforms (against hand-computed images), the YAML spec, and the threaded loader
// (identical batches for any worker count, error propagation, shutdown mid-epoch).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "core/config.h"
#include "core/error.h"
#include "datasets/loader.h"
#include "datasets/transform_spec.h"
#include "datasets/transforms.h"

namespace sf {
namespace {

// Sample i's pixel j is 1000·i + j, so every value says where it came from.
Dataset ramp_dataset(int64_t n, Shape sample, int classes = 10) {
  Dataset d;
  d.name = "ramp/train";
  d.num_classes = classes;
  Shape shape{n};
  shape.insert(shape.end(), sample.begin(), sample.end());
  d.images = Tensor(shape);
  const int64_t per = numel(sample);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < per; ++j) d.images[i * per + j] = static_cast<float>(1000 * i + j);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % classes));
  return d;
}

Dataset random_dataset(int64_t n, Shape sample, uint64_t seed) {
  Dataset d = ramp_dataset(n, std::move(sample));
  Rng rng(seed);
  for (int64_t i = 0; i < d.images.numel(); ++i) d.images[i] = static_cast<float>(rng.uniform());
  return d;
}

std::vector<float> run(const Transform& t, const std::vector<float>& in, const Shape& shape, Rng rng = Rng(0)) {
  std::vector<float> out(static_cast<size_t>(numel(t.output_shape(shape))));
  t.apply(in.data(), shape, out.data(), rng);
  return out;
}

template <class F>
std::string error_of(F&& f, ErrorKind kind = ErrorKind::BadInput) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an sf::Error";
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The CIFAR recipe: RandomCrop(32, padding=4), RandomHorizontalFlip(), Normalize.
Pipeline cifar_pipeline(int64_t size = 32, int64_t pad = 4) {
  Pipeline p;
  p.add(std::make_unique<RandomCrop>(size, size, pad));
  p.add(std::make_unique<HorizontalFlip>(0.5));
  p.add(std::make_unique<Normalize>(std::vector<float>{0.4914f, 0.4822f, 0.4465f},
                                    std::vector<float>{0.2470f, 0.2435f, 0.2616f}));
  return p;
}

// ---------------------------------------------------------------- transforms

// [[1 2 3] [4 5 6]] padded by 1:   0 0 0 0 0
//                                  0 1 2 3 0
//                                  0 4 5 6 0
//                                  0 0 0 0 0
const std::vector<float> k23 = {1, 2, 3, 4, 5, 6};

TEST(TransformTest, CropCutsTheZeroPaddedWindow) {
  auto crop = [](int64_t top, int64_t left, const std::vector<float>& in, Shape shape) {
    std::vector<float> out(static_cast<size_t>(shape[0] * 2 * 3));
    RandomCrop::crop(in.data(), shape, 1, top, left, 2, 3, out.data());
    return out;
  };
  EXPECT_EQ(crop(0, 0, k23, {1, 2, 3}), (std::vector<float>{0, 0, 0, 0, 1, 2}));
  EXPECT_EQ(crop(1, 1, k23, {1, 2, 3}), k23);
  EXPECT_EQ(crop(1, 2, k23, {1, 2, 3}), (std::vector<float>{2, 3, 0, 5, 6, 0}));
  EXPECT_EQ(crop(2, 2, k23, {1, 2, 3}), (std::vector<float>{5, 6, 0, 0, 0, 0}));
  EXPECT_EQ(crop(2, 0, k23, {1, 2, 3}), (std::vector<float>{0, 4, 5, 0, 0, 0}));
  // Channels are cropped alike.
  const std::vector<float> two = {1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60};
  EXPECT_EQ(crop(0, 1, two, {2, 2, 3}), (std::vector<float>{0, 0, 0, 1, 2, 3, 0, 0, 0, 10, 20, 30}));
  // Padding wider than the image: a window entirely in the padding is all zeros.
  std::vector<float> out(4, -1.0f);
  RandomCrop::crop(k23.data(), {1, 2, 3}, 5, 0, 0, 2, 2, out.data());
  EXPECT_EQ(out, (std::vector<float>(4, 0.0f)));
}

TEST(TransformTest, RandomCropDrawsEveryOffsetUniformly) {
  const RandomCrop t(2, 3, 1);
  EXPECT_EQ(t.output_shape({1, 2, 3}), (Shape{1, 2, 3}));
  EXPECT_EQ(RandomCrop(32, 32, 4).output_shape({3, 32, 32}), (Shape{3, 32, 32}));
  EXPECT_EQ(RandomCrop(24, 20, 0).output_shape({1, 28, 28}), (Shape{1, 24, 20}));
  EXPECT_TRUE(has(error_of([] { RandomCrop(40, 40, 4).output_shape({3, 28, 28}); }), "random_crop"));
  error_of([] { RandomCrop(0, 4, 0); });
  error_of([] { RandomCrop(4, 4, -1); });

  // top and left are each one of 0, 1, 2: nine windows, each drawn about 1/9 of the time.
  std::map<std::vector<float>, int> seen;
  for (uint64_t i = 0; i < 900; ++i) ++seen[run(t, k23, {1, 2, 3}, Rng::for_stream(1, Stream::augment, 0, i))];
  ASSERT_EQ(seen.size(), 9u);
  for (int64_t top = 0; top <= 2; ++top)
    for (int64_t left = 0; left <= 2; ++left) {
      std::vector<float> w(6);
      RandomCrop::crop(k23.data(), {1, 2, 3}, 1, top, left, 2, 3, w.data());
      // Binomial(900, 1/9): mean 100, sd 9.4; 5 sd bounds.
      EXPECT_NEAR(seen[w], 100, 47) << top << "," << left;
    }
}

TEST(TransformTest, FlipMirrorsEachRow) {
  std::vector<float> out(6);
  HorizontalFlip::flip(k23.data(), {1, 2, 3}, out.data());
  EXPECT_EQ(out, (std::vector<float>{3, 2, 1, 6, 5, 4}));
  std::vector<float> two(8);
  HorizontalFlip::flip(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}.data(), {2, 2, 2}, two.data());
  EXPECT_EQ(two, (std::vector<float>{2, 1, 4, 3, 6, 5, 8, 7}));

  int flipped = 0;
  for (uint64_t i = 0; i < 1000; ++i) {
    const Rng r = Rng::for_stream(2, Stream::augment, 0, i);
    EXPECT_EQ(run(HorizontalFlip(0.0), k23, {1, 2, 3}, r), k23);
    EXPECT_EQ(run(HorizontalFlip(1.0), k23, {1, 2, 3}, r), out);
    const auto y = run(HorizontalFlip(0.5), k23, {1, 2, 3}, r);
    ASSERT_TRUE(y == k23 || y == out);
    flipped += y == out;
  }
  EXPECT_NEAR(flipped, 500, 80);  // Binomial(1000, 0.5): sd 16
  error_of([] { HorizontalFlip(1.5); });
}

TEST(TransformTest, ResizeMatchesHalfPixelBilinear) {
  // torch.nn.functional.interpolate([[0, 1], [2, 3]], size=(4, 4), mode="bilinear", align_corners=False):
  // source coordinates (x + 0.5)/2 − 0.5 = −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to the last pixel).
  const std::vector<float> up = run(Resize(4, 4), {0, 1, 2, 3}, {1, 2, 2});
  const std::vector<float> expect = {0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.75f, 1.25f, 1.5f,
                                     1.5f, 1.75f, 2.25f, 2.5f, 2.0f, 2.25f, 2.75f, 3.0f};
  ASSERT_EQ(up.size(), expect.size());
  for (size_t i = 0; i < up.size(); ++i) EXPECT_FLOAT_EQ(up[i], expect[i]) << i;

  // Halving samples at 2x + 0.5: the mean of each 2×2 block.
  std::vector<float> four(16);
  for (int i = 0; i < 16; ++i) four[i] = static_cast<float>(i);
  const auto down = run(Resize(2, 2), four, {1, 4, 4});
  EXPECT_EQ(down, (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));

  // Non-square, one row: [0, 3, 6] → 2 columns samples at 0.25 and 1.75: 0.75 and 5.25; [0, 10] → 5 columns
  // samples at −0.3 (0), 0.1, 0.5, 0.9, 1.3 (the last pixel).
  EXPECT_EQ(run(Resize(1, 2), {0, 3, 6}, {1, 1, 3}), (std::vector<float>{0.75f, 5.25f}));
  const auto wide = run(Resize(1, 5), {0, 10}, {1, 1, 2});
  const std::vector<float> wide_expect = {0, 1, 5, 9, 10};
  for (size_t i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(wide[i], wide_expect[i]) << i;

  // Same size: unchanged. Channels: resized independently.
  EXPECT_EQ(run(Resize(2, 3), k23, {1, 2, 3}), k23);
  const auto two = run(Resize(4, 4), {0, 1, 2, 3, 0, 10, 20, 30}, {2, 2, 2});
  for (size_t i = 0; i < 16; ++i) {
    EXPECT_FLOAT_EQ(two[i], expect[i]);
    EXPECT_FLOAT_EQ(two[16 + i], 10 * expect[i]);
  }
  EXPECT_EQ(Resize(224, 160).output_shape({3, 32, 32}), (Shape{3, 224, 160}));
  error_of([] { Resize(0, 3); });
}

TEST(TransformTest, NormalizeIsPerChannel) {
  const Normalize n({0.5f, 1.0f}, {0.25f, 2.0f});
  EXPECT_EQ(run(n, {0.0f, 0.5f, 1.0f, 1.0f, 3.0f, -1.0f}, {2, 1, 3}),
            (std::vector<float>{-2.0f, 0.0f, 2.0f, 0.0f, 1.0f, -1.0f}));
  EXPECT_TRUE(has(error_of([&] { n.output_shape({3, 4, 4}); }), "2 means and stds for 3 channels"));
  error_of([] { Normalize({0.5f}, {0.0f}); });
  error_of([] { Normalize({0.5f, 0.5f}, {1.0f}); });
  error_of([] { Normalize({}, {}); });
}

// ---------------------------------------------------------------- pipeline

TEST(PipelineTest, OutputShapeChainsAndNamesTheFailingTransform) {
  Pipeline p = cifar_pipeline();
  p.add(std::make_unique<Resize>(64, 48));
  EXPECT_EQ(p.output_shape({3, 32, 32}), (Shape{3, 64, 48}));
  EXPECT_EQ(Pipeline().output_shape({1, 28, 28}), (Shape{1, 28, 28}));
  EXPECT_TRUE(has(error_of([&] { p.output_shape({1, 28, 28}); }), "normalize"));  // 3 means, 1 channel
  error_of([] { Pipeline().output_shape({28, 28}); });
}

TEST(PipelineTest, EachTransformDrawsFromItsOwnKeyedStream) {
  const Dataset d = random_dataset(1, {3, 8, 8}, 4);
  const Pipeline p = cifar_pipeline(8, 2);
  const Shape s{3, 8, 8};
  auto apply = [&](SampleKey key) {
    std::vector<float> out(192);
    Pipeline::Scratch scratch;
    p.apply(d.images.data(), s, out.data(), key, scratch);
    return out;
  };
  // Step k of the pipeline draws from stream (seed, augment, epoch, index, k): the manual composition agrees.
  const SampleKey key{5, 2, 17};
  std::vector<float> a(192), b(192), c(192);
  Rng r0 = Rng::for_stream(5, Stream::augment, 2, 17, 0), r1 = Rng::for_stream(5, Stream::augment, 2, 17, 1), r2(0);
  p.at(0).apply(d.images.data(), s, a.data(), r0);
  p.at(1).apply(a.data(), s, b.data(), r1);
  p.at(2).apply(b.data(), s, c.data(), r2);
  EXPECT_EQ(apply(key), c);
  EXPECT_EQ(apply(key), apply(key));
  // Over a few indices, epochs and seeds, the keys give different augmentations (9·9·2 = 162 outcomes).
  int differ = 0;
  for (uint64_t i = 0; i < 8; ++i) {
    differ += apply({5, 2, 100 + i}) != apply({5, 2, 200 + i});
    differ += apply({5, 2, 100 + i}) != apply({5, 3, 100 + i});
    differ += apply({5, 2, 100 + i}) != apply({6, 2, 100 + i});
  }
  EXPECT_GE(differ, 20);
}

// ---------------------------------------------------------------- spec

TEST(TransformSpecTest, ParsesEveryType) {
  const ConfigNode c = ConfigNode::load_string(R"(
augment:
  - {type: random_crop, size: 32, padding: 4}
  - {type: hflip}
  - {type: hflip, p: 0.25}
  - {type: resize, height: 40, width: 36}
  - {type: normalize, mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616]}
  - {type: normalize, mean: 0.1307, std: 0.3081}
)",
                                               "aug.yaml");
  const auto specs = parse_transforms(c, "augment");
  c.check_unknown_keys();
  ASSERT_EQ(specs.size(), 6u);
  EXPECT_EQ(specs[0].type, TransformType::random_crop);
  EXPECT_EQ(specs[0].height, 32);
  EXPECT_EQ(specs[0].width, 32);
  EXPECT_EQ(specs[0].padding, 4);
  EXPECT_EQ(specs[1].type, TransformType::hflip);
  EXPECT_EQ(specs[1].p, 0.5);
  EXPECT_EQ(specs[2].p, 0.25);
  EXPECT_EQ(specs[3].type, TransformType::resize);
  EXPECT_EQ(specs[3].height, 40);
  EXPECT_EQ(specs[3].width, 36);
  EXPECT_EQ(specs[4].mean, (std::vector<double>{0.4914, 0.4822, 0.4465}));
  EXPECT_EQ(specs[4].std, (std::vector<double>{0.2470, 0.2435, 0.2616}));
  EXPECT_EQ(specs[5].mean, std::vector<double>{0.1307});
  EXPECT_STREQ(transform_type_name(specs[3].type), "resize");

  std::vector<TransformSpec> cifar(specs.begin(), specs.begin() + 3);
  cifar.push_back(specs[4]);
  EXPECT_EQ(make_pipeline(cifar).output_shape({3, 32, 32}), (Shape{3, 32, 32}));
  EXPECT_EQ(make_pipeline({specs[3]}).output_shape({1, 28, 28}), (Shape{1, 40, 36}));
  EXPECT_TRUE(parse_transforms(c, "absent").empty());
}

TEST(TransformSpecTest, ErrorsNameFileLineAndKey) {
  auto error = [](const std::string& item) {
    return error_of([&] {
      const ConfigNode c = ConfigNode::load_string("augment:\n  - " + item + "\n", "aug.yaml");
      parse_transforms(c, "augment");
      c.check_unknown_keys();
    });
  };
  std::string m = error("{type: rotate}");
  EXPECT_TRUE(has(m, "aug.yaml:2")) << m;
  EXPECT_TRUE(has(m, "unknown transform 'rotate' (random_crop, hflip, resize, normalize, random_resized_crop, resize_short, "
                      "center_crop, pad, scale, repeat_channels)")) << m;
  m = error("{type: hflip, padding: 4}");  // a key of another transform
  EXPECT_TRUE(has(m, "augment.0.padding")) << m;
  EXPECT_TRUE(has(m, "unknown key")) << m;
  EXPECT_TRUE(has(error("{type: random_crop, padding: 4}"), "augment.0.height")) << "size is required";
  EXPECT_TRUE(has(error("{type: random_crop, size: 32, width: 30}"), "not both"));
  EXPECT_TRUE(has(error("{type: random_crop, size: 0}"), "augment.0.size"));
  EXPECT_TRUE(has(error("{type: random_crop, size: 32, padding: -1}"), "augment.0.padding"));
  EXPECT_TRUE(has(error("{type: hflip, p: 2}"), "augment.0.p"));
  EXPECT_TRUE(has(error("{type: resize, height: 10}"), "augment.0.width"));
  m = error("{type: normalize, mean: [0.5, 0.5], std: [0.2]}");
  EXPECT_TRUE(has(m, "augment.0.std")) << m;
  EXPECT_TRUE(has(m, "one value per channel like mean (2)")) << m;
  m = error("{type: normalize, mean: [0.5, x], std: [1, 1]}");
  EXPECT_TRUE(has(m, "augment.0.mean")) << m;
  EXPECT_TRUE(has(m, "item 1: expected a number, got 'x'")) << m;
  EXPECT_TRUE(has(error("{type: normalize, mean: {r: 1}, std: 1}"), "expected a list of a number"));
  EXPECT_TRUE(has(error("{type: normalize, mean: [0.5], std: [0]}"), "augment.0.std"));
  EXPECT_TRUE(has(error("{type: normalize, std: [1]}"), "augment.0.mean"));
}

// ---------------------------------------------------------------- sources

TEST(MemorySourceTest, ReadsSamplesOfTheDataset) {
  const Dataset d = ramp_dataset(5, {2, 3, 4}, 7);
  const MemorySource s(d);
  EXPECT_EQ(s.size(), 5);
  EXPECT_EQ(s.sample_shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(s.sample_shape_of(3), (Shape{2, 3, 4}));
  EXPECT_EQ(s.num_classes(), 7);
  EXPECT_EQ(s.name(), "ramp/train");
  std::vector<float> px(24);
  int32_t label = -1;
  s.read(3, px.data(), &label);
  EXPECT_EQ(label, 3);
  for (int j = 0; j < 24; ++j) EXPECT_EQ(px[j], 3000.0f + j);
  error_of([&] { s.read(5, px.data(), &label); }, ErrorKind::Internal);
  EXPECT_TRUE(has(error_of([] { MemorySource{Dataset{}}; }), "[N, C, H, W]"));
}

// ---------------------------------------------------------------- loader

struct Epoch {
  std::vector<std::vector<float>> images, one_hot;
  std::vector<std::vector<int32_t>> labels;
  bool operator==(const Epoch&) const = default;
};

// Every batch of one epoch, copied out through the loader's fill() (DataLoader and BatchLoader alike).
template <class Loader>
Epoch fill_epoch(Loader& l, int64_t per, int64_t k, int64_t epoch, float on, float off) {
  l.start_epoch(epoch);
  Epoch e;
  for (int64_t b = 0; b < l.batches(); ++b) {
    const int64_t n = l.batch_size(b);
    std::vector<float> img(static_cast<size_t>(n * per)), hot(static_cast<size_t>(n * k));
    std::vector<int32_t> lab(static_cast<size_t>(n));
    l.fill(b, img.data(), hot.data(), lab.data(), on, off);
    e.images.push_back(img);
    e.one_hot.push_back(hot);
    e.labels.push_back(lab);
  }
  return e;
}

Epoch take_epoch(DataLoader& l, int64_t epoch, float on = 1.0f, float off = 0.0f) {
  return fill_epoch(l, numel(l.sample_shape()), l.num_classes(), epoch, on, off);
}

Epoch take_epoch(BatchLoader& l, const Dataset& d, int epoch, float on, float off) {
  return fill_epoch(l, numel(d.sample_shape()), d.num_classes, epoch, on, off);
}

// Without transforms the new loader hands out exactly BatchLoader's batches, so switching the trainer over
// changes nothing for runs without augmentation.
TEST(DataLoaderTest, WithoutTransformsMatchesBatchLoader) {
  const Dataset d = ramp_dataset(53, {1, 3, 2});
  const MemorySource src(d);
  for (bool shuffle : {false, true})
    for (int workers : {0, 2}) {
      BatchLoader old(d, 8, shuffle, 9);
      DataLoader now(src, Pipeline(), {.batch = 8, .shuffle = shuffle, .seed = 9, .workers = workers});
      ASSERT_EQ(now.batches(), 7);
      EXPECT_EQ(now.batch_size(6), 5);
      for (int epoch : {0, 1, 4})
        EXPECT_EQ(take_epoch(now, epoch, 0.9f, -0.1f), take_epoch(old, d, epoch, 0.9f, -0.1f))
            << shuffle << " " << workers << " " << epoch;
    }
}

TEST(DataLoaderTest, BatchesAreBitIdenticalForAnyWorkerCount) {
  const Dataset d = random_dataset(103, {3, 8, 8}, 3);
  const MemorySource src(d);
  const Pipeline p = cifar_pipeline(8, 2);
  DataLoader sync(src, p, {.batch = 10, .seed = 4, .workers = 0});
  const Epoch e0 = take_epoch(sync, 0), e1 = take_epoch(sync, 1);
  EXPECT_NE(e0.images, e1.images);
  for (int workers : {1, 2, 4})
    for (int prefetch : {0, 1, 5}) {
      DataLoader threaded(src, p, {.batch = 10, .seed = 4, .workers = workers, .prefetch = prefetch});
      EXPECT_EQ(take_epoch(threaded, 0), e0) << workers << " workers, prefetch " << prefetch;
      EXPECT_EQ(take_epoch(threaded, 1), e1) << workers << " workers, prefetch " << prefetch;
    }
  // The same epoch again, after others: the same batches.
  EXPECT_EQ(take_epoch(sync, 0), e0);
}

// A sample's augmentation is keyed on (seed, epoch, its source index): the batch size and its position in the
// shuffled order do not change it.
TEST(DataLoaderTest, SampleAugmentationDependsOnlyOnSeedEpochAndIndex) {
  const Dataset d = random_dataset(40, {3, 8, 8}, 5);
  const MemorySource src(d);
  const Pipeline p = cifar_pipeline(6, 1);
  auto by_index = [&](int64_t batch, int workers) {
    DataLoader l(src, p, {.batch = batch, .seed = 2, .workers = workers});
    l.start_epoch(3);
    std::map<int64_t, std::vector<float>> out;
    for (int64_t b = 0; b < l.batches(); ++b) {
      const Batch& x = l.batch(b);
      EXPECT_EQ(x.index, b);
      for (int64_t i = 0; i < x.size; ++i)
        out[x.samples[static_cast<size_t>(i)]].assign(x.images.begin() + i * 108, x.images.begin() + (i + 1) * 108);
    }
    return out;
  };
  const auto a = by_index(7, 0);
  ASSERT_EQ(a.size(), 40u);
  EXPECT_EQ(by_index(16, 3), a);
  Pipeline::Scratch scratch;
  std::vector<float> expect(108);
  p.apply(d.images.data() + 11 * 192, {3, 8, 8}, expect.data(), SampleKey{2, 3, 11}, scratch);
  EXPECT_EQ(a.at(11), expect);
}

TEST(DataLoaderTest, ShapesComeFromThePipeline) {
  const Dataset d = ramp_dataset(6, {1, 2, 2}, 3);
  const MemorySource src(d);
  Pipeline p;
  p.add(std::make_unique<Resize>(5, 3));
  DataLoader l(src, p, {.batch = 4, .shuffle = false, .workers = 1});
  EXPECT_EQ(l.sample_shape(), (Shape{1, 5, 3}));
  EXPECT_EQ(l.num_classes(), 3);
  l.start_epoch(0);
  EXPECT_EQ(l.batch(0).size, 4);
  const Batch& b1 = l.batch(1);
  EXPECT_EQ(b1.size, 2);
  EXPECT_EQ(b1.images.size(), 2u * 15);
  EXPECT_EQ(b1.labels, (std::vector<int32_t>{1, 2}));  // samples 4, 5: labels i % 3
  std::vector<float> hot(6);
  b1.one_hot(hot.data(), 3, 1.0f, 0.0f);
  EXPECT_EQ(hot, (std::vector<float>{0, 1, 0, 0, 0, 1}));
  // The first sample of batch 1 is sample 4 (pixels 4000..4003): corners of a resize keep the corners.
  EXPECT_EQ(b1.images[0], 4000.0f);
  EXPECT_EQ(b1.images[14], 4003.0f);
  // Bad pipelines and options are rejected up front, naming the source.
  Pipeline bad;
  bad.add(std::make_unique<RandomCrop>(9, 9, 0));
  const std::string m = error_of([&] { DataLoader(src, bad, {}); });
  EXPECT_TRUE(has(m, "ramp/train")) << m;
  EXPECT_TRUE(has(m, "random_crop")) << m;
  error_of([&] { DataLoader(src, p, {.batch = 0}); });
  error_of([&] { DataLoader(src, p, {.workers = -1}); });
  error_of([&] { DataLoader(src, p, {.prefetch = -1}); });
}

TEST(DataLoaderTest, BatchesAreTakenInOrder) {
  const Dataset d = ramp_dataset(20, {1, 1, 1});
  const MemorySource src(d);
  for (int workers : {0, 2}) {
    DataLoader l(src, Pipeline(), {.batch = 5, .shuffle = false, .workers = workers});
    error_of([&] { l.batch(0); }, ErrorKind::Internal);  // before start_epoch
    l.start_epoch(0);
    error_of([&] { l.batch(1); }, ErrorKind::Internal);
    EXPECT_EQ(l.batch(0).images[0], 0.0f);
    EXPECT_EQ(&l.batch(0), &l.batch(0));  // the current batch again: unchanged
    EXPECT_EQ(l.batch(1).images[0], 5000.0f);
    error_of([&] { l.batch(0); }, ErrorKind::Internal);
    error_of([&] { l.batch(4); }, ErrorKind::Internal);  // out of range
    // Restarting mid-epoch begins a fresh epoch.
    l.start_epoch(0);
    EXPECT_EQ(l.batch(0).images[0], 0.0f);
  }
}

// A source whose sample `bad` is a corrupt file; reads can be slowed to keep workers busy.
class FlakySource final : public DataSource {
 public:
  FlakySource(const Dataset& d, int64_t bad, int delay_us = 0) : mem_(d), bad_(bad), delay_us_(delay_us) {}
  int64_t size() const override { return mem_.size(); }
  Shape sample_shape() const override { return mem_.sample_shape(); }
  int num_classes() const override { return mem_.num_classes(); }
  std::string name() const override { return "flaky"; }
  void read(int64_t index, float* pixels, int32_t* label) const override {
    ++reads;
    if (delay_us_) std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
    if (index == bad_) fail_input("/data/img" + std::to_string(index) + ".png", "corrupt PNG (bad CRC)");
    mem_.read(index, pixels, label);
  }
  mutable std::atomic<int64_t> reads{0};

 private:
  MemorySource mem_;
  int64_t bad_;
  int delay_us_;
};

TEST(DataLoaderTest, AWorkersErrorReachesTheConsumerAtItsBatch) {
  const Dataset d = ramp_dataset(30, {1, 2, 2});
  const FlakySource src(d, 13);
  for (int workers : {0, 1, 3}) {
    Pipeline same;  // a transform, so the error passes the pipeline path too; 2×2 → 2×2 keeps the pixels
    same.add(std::make_unique<Resize>(2, 2));
    DataLoader l(src, same, {.batch = 4, .shuffle = false, .workers = workers});
    for (int round = 0; round < 2; ++round) {  // a new epoch clears the error, and meets it again
      l.start_epoch(round);
      for (int64_t b = 0; b < 3; ++b) EXPECT_EQ(l.batch(b).images[0], 4000.0f * static_cast<float>(b));
      for (int again = 0; again < 2; ++again) {  // sample 13 is in batch 3; asking again fails again
        const std::string m = error_of([&] { l.batch(3); });
        EXPECT_EQ(m, "/data/img13.png: corrupt PNG (bad CRC)") << workers << " workers";
      }
    }
  }
}

TEST(DataLoaderTest, DestructorJoinsWorkersMidEpoch) {
  const Dataset d = ramp_dataset(400, {1, 4, 4});
  const FlakySource src(d, -1, 500);
  const auto start = std::chrono::steady_clock::now();
  {
    DataLoader l(src, Pipeline(), {.batch = 8, .workers = 4});
    l.start_epoch(0);
    EXPECT_EQ(l.batch(0).size, 8);
    l.start_epoch(1);  // abandons the epoch with batches in flight
    EXPECT_EQ(l.batch(0).size, 8);
  }  // destroyed with batches in flight
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // 4 workers, 8 prefetched batches: at most about 12 batches of 8 × 0.5 ms were read, not the 50-batch epoch.
  EXPECT_LT(src.reads.load(), 200);
  EXPECT_LT(seconds, 5.0);
}

TEST(DataLoaderTest, LabelsOutOfRangeAreBadInput) {
  Dataset d = ramp_dataset(4, {1, 1, 1}, 3);
  d.labels[2] = 7;
  const MemorySource src(d);
  for (int workers : {0, 2}) {
    DataLoader l(src, Pipeline(), {.batch = 4, .workers = workers});
    l.start_epoch(0);
    const std::string m = error_of([&] { l.batch(0); });
    EXPECT_TRUE(has(m, "ramp/train: sample 2: label 7 is out of range [0, 3)")) << m;
  }
}

// Samples of different stored sizes (an image folder): fine when the pipeline ends in a resize.
class VaryingSource final : public DataSource {
 public:
  int64_t size() const override { return 4; }
  Shape sample_shape() const override { return {1, 2, 2}; }
  Shape sample_shape_of(int64_t i) const override { return {1, 2 + i, 2}; }
  int num_classes() const override { return 2; }
  std::string name() const override { return "folder"; }
  void read(int64_t index, float* pixels, int32_t* label) const override {
    for (int64_t j = 0; j < (2 + index) * 2; ++j) pixels[j] = static_cast<float>(index);
    *label = static_cast<int32_t>(index % 2);
  }
};

TEST(DataLoaderTest, SamplesOfVaryingSizeNeedAResize) {
  const VaryingSource src;
  Pipeline resize;
  resize.add(std::make_unique<Resize>(3, 3));
  DataLoader ok(src, resize, {.batch = 4, .shuffle = false, .workers = 2});
  ok.start_epoch(0);
  const Batch& b = ok.batch(0);
  for (int64_t i = 0; i < 4; ++i)
    for (int j = 0; j < 9; ++j) EXPECT_EQ(b.images[static_cast<size_t>(i * 9 + j)], static_cast<float>(i));
  Pipeline flip;
  flip.add(std::make_unique<HorizontalFlip>());
  DataLoader bad(src, flip, {.batch = 4, .shuffle = false});
  bad.start_epoch(0);
  const std::string m = error_of([&] { bad.batch(0); });
  EXPECT_TRUE(has(m, "folder: sample 1 of shape [1,3,2] becomes [1,3,2]")) << m;
  EXPECT_TRUE(has(m, "end the pipeline with a resize")) << m;
}

}  // namespace
}  // namespace sf
