// CIFAR-10/100 binaries (folder and .tar.gz, written here in the exact release format and read back byte for
// byte), image folders of JPEGs and PNGs written with stb_image_write, the ImageNet-style transforms, and the
// experiment keys that reach them (dataset.label, resize / pad / channels, eval_transforms, skip_bad_images).
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "datasets/cifar.h"
#include "datasets/image_folder.h"
#include "datasets/loader.h"
#include "datasets/open.h"
#include "datasets/transform_spec.h"
#include "datasets/transforms.h"
#include "tests/support.h"
#include "train/experiment.h"
#include "train/run.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace fs = std::filesystem;

namespace sf {
namespace {

using test::bad_input;

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("sf_cifar_imagenet") {}
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

DatasetOptions options(const std::string& name, const std::string& path = "", const std::string& label = "fine",
                       bool skip_bad_images = false) {
  DatasetOptions o;
  o.name = name;
  o.path = path;
  o.label = label;
  o.skip_bad_images = skip_bad_images;
  return o;
}

void write_bytes(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
}
void write_text(const std::string& path, const std::string& text) { write_bytes(path, text.data(), text.size()); }

// ---------------------------------------------------------------- CIFAR files

// Sample g of a split (training samples first, then test ones, numbered on): its label bytes and pixels are
// functions of g and the byte's position, so any misplaced byte shows.
uint8_t pixel_byte(int64_t g, int64_t j) { return static_cast<uint8_t>((g * 13 + j * 7) & 0xff); }
uint8_t label_byte(int64_t g, int k, int classes) { return static_cast<uint8_t>((g * 7 + k * 3) % classes); }

std::vector<uint8_t> cifar_records(int64_t first, int64_t count, const std::vector<int>& classes) {
  const int64_t lb = static_cast<int64_t>(classes.size()), rec = lb + kCifarPixels;
  std::vector<uint8_t> out(static_cast<size_t>(count * rec));
  for (int64_t r = 0; r < count; ++r) {
    uint8_t* p = out.data() + r * rec;
    for (int k = 0; k < lb; ++k) p[k] = label_byte(first + r, k, classes[static_cast<size_t>(k)]);
    for (int64_t j = 0; j < kCifarPixels; ++j) p[lb + j] = pixel_byte(first + r, j);
  }
  return out;
}

std::string numbered_names(const std::string& stem, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += stem + std::to_string(i) + "\n";
  return s + "\n";  // the release files end with a blank line
}

struct Member {
  std::string name;
  std::string bytes;
};

std::string as_string(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

// The CIFAR-10 release: 5 training batches of 10,000, the test batch, the label names and a readme.
std::vector<Member> cifar10_members() {
  std::vector<Member> m;
  for (int b = 0; b < 5; ++b)
    m.push_back({"data_batch_" + std::to_string(b + 1) + ".bin", as_string(cifar_records(b * 10000, 10000, {10}))});
  m.push_back({"test_batch.bin", as_string(cifar_records(50000, 10000, {10}))});
  m.push_back({"batches.meta.txt", numbered_names("class", 10)});
  m.push_back({"readme.html", "<html></html>\n"});
  return m;
}

std::vector<Member> cifar100_members() {
  return {{"train.bin", as_string(cifar_records(0, 50000, {20, 100}))},
          {"test.bin", as_string(cifar_records(50000, 10000, {20, 100}))},
          {"coarse_label_names.txt", numbered_names("super", 20)},
          {"fine_label_names.txt", numbered_names("fine", 100)}};
}

void write_folder(const std::string& dir, const std::vector<Member>& members) {
  fs::create_directories(dir);
  for (const Member& m : members) write_text((fs::path(dir) / m.name).string(), m.bytes);
}

// A .tar.gz as the release's: the folder entry, then its files.
void write_tar_gz(const std::string& path, const std::string& folder, const std::vector<Member>& members) {
  archive* a = archive_write_new();
  ASSERT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
  archive_write_set_filter_option(a, "gzip", "compression-level", "1");
  ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, (folder + "/").c_str());
  archive_entry_set_filetype(e, AE_IFDIR);
  archive_entry_set_perm(e, 0755);
  ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
  for (const Member& m : members) {
    archive_entry_clear(e);
    archive_entry_set_pathname(e, (folder + "/" + m.name).c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(m.bytes.size()));
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    size_t done = 0;
    while (done < m.bytes.size()) {
      const la_ssize_t n = archive_write_data(a, m.bytes.data() + done, m.bytes.size() - done);
      ASSERT_GT(n, 0) << archive_error_string(a);
      done += static_cast<size_t>(n);
    }
  }
  archive_entry_free(e);
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

// Every sample of `s` against the generator: the label byte `k` and all 3,072 pixels, in file order (R plane, G, B,
// each row-major, which is CHW).
void expect_samples(const DataSource& s, int64_t first, int k, int classes) {
  ASSERT_EQ(s.sample_shape(), (Shape{3, 32, 32}));
  std::vector<float> px(kCifarPixels);
  int64_t wrong = 0;
  for (int64_t i = 0; i < s.size(); ++i) {
    int32_t label = -1;
    s.read(i, px.data(), &label);
    wrong += label != label_byte(first + i, k, classes);
    for (int64_t j = 0; j < kCifarPixels; ++j)
      wrong += px[static_cast<size_t>(j)] != static_cast<float>(pixel_byte(first + i, j)) / 255.0f;
  }
  EXPECT_EQ(wrong, 0) << s.name();
}

TEST(CifarTest, Cifar10FromFolderAndTarGzReadBackExactly) {
  TempDir dir;
  const std::vector<Member> members = cifar10_members();
  write_folder(dir.file("extracted/cifar-10-batches-bin"), members);
  write_tar_gz(dir.file("archive/cifar-10-binary.tar.gz"), "cifar-10-batches-bin", members);
  // The folder holding the extracted one, the extracted one itself, the folder holding the archive, the archive.
  for (const std::string& path : {dir.file("extracted"), dir.file("extracted/cifar-10-batches-bin"),
                                  dir.file("archive"), dir.file("archive/cifar-10-binary.tar.gz")}) {
    SCOPED_TRACE(path);
    const CifarData c = load_cifar(CifarKind::cifar10, path);
    ASSERT_EQ(c.train->size(), 50000);
    ASSERT_EQ(c.test->size(), 10000);
    EXPECT_EQ(c.train->num_classes(), 10);
    EXPECT_EQ(c.train->name(), "cifar10/train");
    EXPECT_EQ(c.train->class_names().front(), "class0");
    EXPECT_EQ(c.test->class_names().back(), "class9");
    expect_samples(*c.train, 0, 0, 10);
    expect_samples(*c.test, 50000, 0, 10);
  }
  // A hand-placed pixel: record 0 of the test batch, green plane (c = 1), row 1, column 2.
  std::vector<float> px(kCifarPixels);
  int32_t label = 0;
  load_cifar(CifarKind::cifar10, dir.file("archive")).test->read(0, px.data(), &label);
  EXPECT_EQ(px[1024 + 1 * 32 + 2], static_cast<float>(pixel_byte(50000, 1024 + 32 + 2)) / 255.0f);
  // Through open_dataset, with a held-out tail of the training set.
  const auto splits = open_dataset(options("cifar10", dir.file("archive")), 0.1);
  EXPECT_EQ(splits->train().size(), 45000);
  ASSERT_NE(splits->held_out(), nullptr);
  EXPECT_EQ(splits->held_out()->size(), 5000);
  EXPECT_EQ(splits->held_out()->name(), "cifar10/val");
  EXPECT_EQ(splits->class_names().size(), 10u);
  splits->held_out()->read(0, px.data(), &label);
  EXPECT_EQ(label, label_byte(45000, 0, 10));
  EXPECT_EQ(px[5], static_cast<float>(pixel_byte(45000, 5)) / 255.0f);
}

TEST(CifarTest, Cifar100FineAndCoarseLabels) {
  TempDir dir;
  const std::vector<Member> members = cifar100_members();
  write_folder(dir.file("cifar-100-binary"), members);
  write_tar_gz(dir.file("cifar-100-binary.tar.gz"), "cifar-100-binary", members);
  const CifarData fine = load_cifar(CifarKind::cifar100, dir.str());  // the extracted folder wins
  EXPECT_EQ(fine.origin, dir.file("cifar-100-binary"));
  EXPECT_EQ(fine.train->num_classes(), 100);
  EXPECT_EQ(fine.train->class_names()[42], "fine42");
  expect_samples(*fine.train, 0, 1, 100);
  expect_samples(*fine.test, 50000, 1, 100);
  const CifarData coarse = load_cifar(CifarKind::cifar100, dir.file("cifar-100-binary.tar.gz"), "coarse");
  EXPECT_EQ(coarse.train->num_classes(), 20);
  EXPECT_EQ(coarse.test->class_names()[19], "super19");
  expect_samples(*coarse.train, 0, 0, 20);
  expect_samples(*coarse.test, 50000, 0, 20);
  EXPECT_EQ(dataset_info(options("cifar100", "", "coarse")).num_classes, 20);
  EXPECT_EQ(dataset_info(options("cifar100")).num_classes, 100);
}

TEST(CifarTest, WrongSizedFilesNameTheFileAndTheExpectedSize) {
  TempDir dir;
  const std::string batch = dir.file("cifar-10-batches-bin/data_batch_1.bin");
  // One record short: a whole number of records, but not the 10,000 of a batch.
  write_text(batch, as_string(cifar_records(0, 9999, {10})));
  std::string m = bad_input([&] { load_cifar(CifarKind::cifar10, dir.str()); });
  EXPECT_TRUE(has(m, batch + ": truncated: 30,726,927 bytes (9,999 records)")) << m;
  EXPECT_TRUE(has(m, "expected 30,730,000 bytes (10,000 records of 3073 bytes)")) << m;
  // Cut inside a record.
  std::string bytes = as_string(cifar_records(0, 10000, {10}));
  write_text(batch, bytes.substr(0, bytes.size() - 5));
  m = bad_input([&] { load_cifar(CifarKind::cifar10, dir.str()); });
  EXPECT_TRUE(has(m, batch + ": 30,729,995 bytes is not a whole number of 3073-byte records")) << m;
  EXPECT_TRUE(has(m, "expected 30,730,000 bytes")) << m;
  // A later file missing: named, with the command that fetches the set.
  write_text(batch, bytes);
  m = bad_input([&] { load_cifar(CifarKind::cifar10, dir.str()); });
  EXPECT_TRUE(has(m, "data_batch_2.bin: missing (run scripts/fetch_data.sh cifar10 " + dir.str())) << m;
  // Nothing there at all, or a folder without the data.
  m = bad_input([&] { load_cifar(CifarKind::cifar10, dir.file("nowhere")); });
  EXPECT_TRUE(has(m, "nowhere: missing (expected cifar-10-batches-bin/ or cifar-10-binary.tar.gz in it)")) << m;
  EXPECT_TRUE(has(m, "scripts/fetch_data.sh cifar10")) << m;
  fs::create_directories(dir.file("empty"));
  m = bad_input([&] { load_cifar(CifarKind::cifar10, dir.file("empty")); });
  EXPECT_TRUE(has(m, "empty: holds neither cifar-10-batches-bin/ nor cifar-10-binary.tar.gz")) << m;

  // In an archive: a member of the wrong size, named inside the archive.
  std::vector<Member> members = cifar10_members();
  members[2].bytes.resize(3073);
  write_tar_gz(dir.file("short.tar.gz"), "cifar-10-batches-bin", members);
  m = bad_input([&] { load_cifar(CifarKind::cifar10, dir.file("short.tar.gz")); });
  EXPECT_TRUE(has(m, "short.tar.gz: cifar-10-batches-bin/data_batch_3.bin: truncated: 3,073 bytes (1 records)")) << m;
  EXPECT_TRUE(has(m, "expected 30,730,000 bytes")) << m;
}

TEST(CifarTest, CutArchivesMissingMembersAndBadLabels) {
  TempDir dir;
  const std::vector<Member> members = cifar100_members();
  write_tar_gz(dir.file("full.tar.gz"), "cifar-100-binary", members);
  // The download cut off half way: libarchive's error, naming the archive and the member it was reading.
  std::string gz;
  {
    std::ifstream in(dir.file("full.tar.gz"), std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_text(dir.file("cut.tar.gz"), gz.substr(0, gz.size() / 2));
  std::string m = bad_input([&] { load_cifar(CifarKind::cifar100, dir.file("cut.tar.gz")); });
  EXPECT_TRUE(has(m, dir.file("cut.tar.gz") + ": cifar-100-binary/train.bin")) << m;
  EXPECT_TRUE(has(m, "truncated") || has(m, "corrupt")) << m;
  // Not an archive at all.
  write_text(dir.file("junk.tar.gz"), std::string(2000, 'x'));
  m = bad_input([&] { load_cifar(CifarKind::cifar100, dir.file("junk.tar.gz")); });
  EXPECT_TRUE(has(m, dir.file("junk.tar.gz") + ": ")) << m;
  // The Python-pickle release: told apart by its folder name.
  write_tar_gz(dir.file("py.tar.gz"), "cifar-100-python", {{"train", "x"}});
  m = bad_input([&] { load_cifar(CifarKind::cifar100, dir.file("py.tar.gz")); });
  EXPECT_TRUE(has(m, "has no cifar-100-binary/train.bin (this is the Python-pickle release")) << m;
  // Label bytes out of range and the wrong count of names.
  std::vector<uint8_t> recs = cifar_records(0, 3, {20, 100});
  recs[2 * 3074 + 1] = 100;
  m = bad_input([&] { check_cifar_records(CifarKind::cifar100, recs.data(), 3 * 3074, 0, "x.bin"); });
  EXPECT_TRUE(has(m, "x.bin: record 2 has fine label 100, outside [0, 100)")) << m;
  recs[2 * 3074 + 1] = 5;
  recs[3074] = 20;
  m = bad_input([&] { check_cifar_records(CifarKind::cifar100, recs.data(), 3 * 3074, 0, "x.bin"); });
  EXPECT_TRUE(has(m, "record 1 has coarse label 20, outside [0, 20)")) << m;
  check_cifar_records(CifarKind::cifar100, recs.data(), 3074, 1, "x.bin");  // record 0 alone is fine
  m = bad_input([&] { check_cifar_records(CifarKind::cifar10, recs.data(), 3074, 0, "x.bin"); });
  EXPECT_TRUE(has(m, "not a whole number of 3073-byte records")) << m;
  std::vector<Member> few = members;
  few[3].bytes = numbered_names("fine", 99);
  write_folder(dir.file("few/cifar-100-binary"), few);
  m = bad_input([&] { load_cifar(CifarKind::cifar100, dir.file("few")); });
  EXPECT_TRUE(has(m, "fine_label_names.txt: has 99 class names, expected 100")) << m;
}

// ---------------------------------------------------------------- images

// w×h RGB with pixel (y, x) = (x·20 + y, y·30 + x, 7·(x + y)), exact in a PNG.
std::vector<uint8_t> rgb_pattern(int w, int h) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = px.data() + (y * w + x) * 3;
      p[0] = static_cast<uint8_t>(x * 20 + y);
      p[1] = static_cast<uint8_t>(y * 30 + x);
      p[2] = static_cast<uint8_t>(7 * (x + y));
    }
  return px;
}

void write_png(const std::string& path, int w, int h, int comp, const std::vector<uint8_t>& px) {
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, comp, px.data(), w * comp), 0) << path;
}
void write_jpg(const std::string& path, int w, int h, int comp, const std::vector<uint8_t>& px) {
  ASSERT_NE(stbi_write_jpg(path.c_str(), w, h, comp, px.data(), 95), 0) << path;
}
std::vector<uint8_t> solid(int w, int h, std::vector<uint8_t> color) {
  std::vector<uint8_t> px;
  for (int i = 0; i < w * h; ++i) px.insert(px.end(), color.begin(), color.end());
  return px;
}

// The sample as read: [3, h, w] floats.
std::vector<float> read_sample(const DataSource& s, int64_t i, int32_t* label = nullptr) {
  const Shape shape = s.sample_shape_of(i);
  std::vector<float> px(static_cast<size_t>(numel(shape)));
  int32_t l = -1;
  s.read(i, px.data(), &l);
  if (label) *label = l;
  return px;
}

// train/{ant,bee,cat} and val/{ant,bee,cat}, ImageNet's oddities included: a PNG named .JPEG, grey images (PNG and
// JPEG), an RGBA PNG, a nested folder and a file that is not an image.
void write_image_folder(const TempDir& dir) {
  write_jpg(dir.file("train/ant/a1.jpg"), 20, 16, 3, solid(20, 16, {200, 100, 50}));
  write_png(dir.file("train/ant/a2.png"), 8, 6, 3, rgb_pattern(8, 6));
  write_png(dir.file("train/ant/sub/a3.png"), 5, 9, 3, rgb_pattern(5, 9));
  write_text(dir.file("train/ant/notes.txt"), "not an image");
  write_png(dir.file("train/bee/b1.JPEG"), 7, 4, 3, rgb_pattern(7, 4));
  std::vector<uint8_t> grey(6 * 5);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint8_t>(i * 8);
  write_png(dir.file("train/bee/b2.png"), 6, 5, 1, grey);
  write_jpg(dir.file("train/cat/c1.jpg"), 16, 16, 1, solid(16, 16, {90}));
  std::vector<uint8_t> rgba;
  for (int i = 0; i < 12; ++i) rgba.insert(rgba.end(), {10, 20, 30, static_cast<uint8_t>(i * 20)});
  write_png(dir.file("train/cat/c2.png"), 4, 3, 4, rgba);
  write_png(dir.file("val/ant/v1.png"), 8, 6, 3, rgb_pattern(8, 6));
  write_jpg(dir.file("val/bee/v2.jpg"), 9, 9, 3, solid(9, 9, {10, 220, 30}));
  write_png(dir.file("val/cat/v3.png"), 3, 3, 3, rgb_pattern(3, 3));
}

TEST(ImageFolderTest, ClassesInSortedOrderAndImagesDecodedByContent) {
  TempDir dir;
  write_image_folder(dir);
  const ImageFolderSplit s = open_image_folder(dir.str(), false);
  const ImageFolderSource& t = *s.train;
  EXPECT_EQ(t.class_names(), (std::vector<std::string>{"ant", "bee", "cat"}));
  EXPECT_EQ(t.num_classes(), 3);
  ASSERT_EQ(t.size(), 7);  // notes.txt is not an image
  const std::vector<std::string> order = {"ant/a1.jpg", "ant/a2.png", "ant/sub/a3.png", "bee/b1.JPEG",
                                          "bee/b2.png", "cat/c1.jpg", "cat/c2.png"};
  const std::vector<int32_t> labels = {0, 0, 0, 1, 1, 2, 2};
  for (int64_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t.file(i), (fs::path(dir.str()) / "train" / order[static_cast<size_t>(i)]).string());
    EXPECT_EQ(t.label_of(i), labels[static_cast<size_t>(i)]);
  }
  EXPECT_EQ(s.val->size(), 3);
  EXPECT_EQ(s.val->class_names(), t.class_names());

  // PNGs exactly, CHW: channel c of pixel (y, x) at c·h·w + y·w + x.
  int32_t label = -1;
  EXPECT_EQ(t.sample_shape_of(1), (Shape{3, 6, 8}));
  std::vector<float> px = read_sample(t, 1, &label);
  EXPECT_EQ(label, 0);
  const std::vector<uint8_t> ref = rgb_pattern(8, 6);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 8; ++x)
        ASSERT_EQ(px[static_cast<size_t>(c * 48 + y * 8 + x)],
                  static_cast<float>(ref[static_cast<size_t>((y * 8 + x) * 3 + c)]) / 255.0f);
  // The PNG named .JPEG.
  EXPECT_EQ(t.sample_shape_of(3), (Shape{3, 4, 7}));
  px = read_sample(t, 3, &label);
  EXPECT_EQ(label, 1);
  EXPECT_EQ(px[2 * 28 + 3 * 7 + 6], static_cast<float>(rgb_pattern(7, 4)[(3 * 7 + 6) * 3 + 2]) / 255.0f);
  // Grey PNG: three equal planes.
  px = read_sample(t, 4);
  ASSERT_EQ(px.size(), 3u * 30);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(px[static_cast<size_t>(i)], static_cast<float>(i * 8) / 255.0f);
    EXPECT_EQ(px[static_cast<size_t>(30 + i)], px[static_cast<size_t>(i)]);
    EXPECT_EQ(px[static_cast<size_t>(60 + i)], px[static_cast<size_t>(i)]);
  }
  // JPEGs: lossy, so within a few levels; the grey one expanded too. RGBA: alpha dropped.
  px = read_sample(t, 0);
  ASSERT_EQ(px.size(), 3u * 20 * 16);
  EXPECT_NEAR(px[0], 200 / 255.0, 4 / 255.0);
  EXPECT_NEAR(px[320 + 100], 100 / 255.0, 4 / 255.0);
  EXPECT_NEAR(px[640 + 319], 50 / 255.0, 4 / 255.0);
  px = read_sample(t, 5);
  ASSERT_EQ(px.size(), 3u * 256);
  EXPECT_NEAR(px[17], 90 / 255.0, 3 / 255.0);
  EXPECT_EQ(px[256 + 17], px[17]);
  EXPECT_EQ(px[512 + 17], px[17]);
  px = read_sample(t, 6);
  ASSERT_EQ(px.size(), 3u * 12);
  EXPECT_EQ(px[5], 10 / 255.0f);
  EXPECT_EQ(px[12 + 5], 20 / 255.0f);
  EXPECT_EQ(px[24 + 5], 30 / 255.0f);

  // Through open_dataset and dataset_info (which lists only the class folders).
  const DatasetInfo info = dataset_info(options("image_folder", dir.str()));
  EXPECT_EQ(info.num_classes, 3);
  EXPECT_EQ(info.class_names, t.class_names());
  const auto splits = open_dataset(options("image_folder", dir.str()));
  EXPECT_EQ(splits->class_names(), t.class_names());
  EXPECT_EQ(splits->test().size(), 3);
  EXPECT_EQ(splits->skipped_images(), 0);
}

TEST(ImageFolderTest, ValClassesMustMatchTrainAndNoClassMayBeEmpty) {
  TempDir dir;
  write_image_folder(dir);
  fs::rename(dir.file("val/cat"), dir.file("val/dog"));
  std::string m = bad_input([&] { open_image_folder(dir.str(), false); });
  EXPECT_TRUE(has(m, dir.file("val") + ": its classes differ from " + dir.file("train") + "'s")) << m;
  EXPECT_TRUE(has(m, "only in train: cat; only in val: dog")) << m;
  fs::remove_all(dir.file("val/dog"));
  m = bad_input([&] { open_image_folder(dir.str(), false); });
  EXPECT_TRUE(has(m, "(2 against 3); only in train: cat")) << m;
  fs::create_directories(dir.file("val/cat"));
  write_png(dir.file("val/cat/v3.png"), 3, 3, 3, rgb_pattern(3, 3));

  fs::create_directories(dir.file("train/eel"));
  write_text(dir.file("train/eel/readme.txt"), "no images here");
  fs::create_directories(dir.file("val/eel"));
  m = bad_input([&] { open_image_folder(dir.str(), false); });
  EXPECT_TRUE(has(m, dir.file("train/eel") + ": empty class folder: no file named .jpg, .jpeg, .png")) << m;

  m = bad_input([&] { open_image_folder(dir.file("nowhere"), false); });
  EXPECT_TRUE(has(m, "nowhere: missing (expected")) << m;
  fs::remove_all(dir.file("val"));
  m = bad_input([&] { open_image_folder(dir.str(), false); });
  EXPECT_TRUE(has(m, dir.file("val") + ": missing")) << m;
}

TEST(ImageFolderTest, UndecodableImagesFailNamingTheFileOrAreSkippedAndCounted) {
  TempDir dir;
  write_image_folder(dir);
  write_text(dir.file("train/bee/b0.jpg"), "\xff\xd8\xff garbage, not a JPEG");  // a JPEG's magic, then junk
  write_text(dir.file("val/ant/v0.png"), "PNG? no");
  {
    const ImageFolderSplit s = open_image_folder(dir.str(), false);
    ASSERT_EQ(s.train->file(3), dir.file("train/bee/b0.jpg"));
    const std::string m = bad_input([&] { read_sample(*s.train, 3); });
    EXPECT_TRUE(has(m, dir.file("train/bee/b0.jpg") + ": ")) << m;
    EXPECT_TRUE(has(m, "stb_image: ")) << m;
    EXPECT_TRUE(has(m, "dataset.skip_bad_images: true")) << m;
    // Through the loader's workers, to the batch that holds it.
    Pipeline resize;
    resize.add(std::make_unique<Resize>(4, 4));
    DataLoader loader(*s.train, resize, {.batch = 2, .shuffle = false, .workers = 2});
    loader.start_epoch(0);
    loader.batch(0);
    const std::string lm = bad_input([&] { loader.batch(1); });
    EXPECT_TRUE(has(lm, "b0.jpg")) << lm;
  }
  const auto splits = open_dataset(options("image_folder", dir.str(), "fine", true));
  const DataSource& train = splits->train();
  // The bad image is replaced by the next one in order (bee/b1.JPEG), label and all, and counted once.
  int32_t label = -1;
  EXPECT_EQ(read_sample(train, 3, &label), read_sample(train, 4));
  EXPECT_EQ(label, 1);
  EXPECT_EQ(splits->skipped_images(), 1);
  Pipeline p;
  p.add(std::make_unique<CenterCrop>(4, 4));
  for (int epoch = 0; epoch < 2; ++epoch) {
    DataLoader loader(train, p, {.batch = 3, .workers = 2});
    loader.start_epoch(epoch);
    for (int64_t b = 0; b < loader.batches(); ++b) loader.batch(b);
  }
  TransformedSource val(splits->test(), p);
  for (int64_t i = 0; i < val.size(); ++i) read_sample(val, i);
  EXPECT_EQ(splits->skipped_images(), 2);
  const std::vector<std::string> files = splits->skipped_files();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(has(files[0], "b0.jpg: ")) << files[0];
  EXPECT_TRUE(has(files[1], "v0.png: ")) << files[1];
}

TEST(ImageFolderTest, DecoderRejectsWhatStbRejectsNamingTheInput) {
  const std::string bmp = "BM\x36\0\0\0\0\0\0\0\x36\0\0\0";
  std::string m = bad_input([&] { decode_image(reinterpret_cast<const uint8_t*>(bmp.data()), bmp.size(), "x.bmp"); });
  EXPECT_TRUE(has(m, "x.bmp: not a JPEG or PNG image")) << m;
  m = bad_input([&] { decode_image(nullptr, 0, "empty.jpg"); });
  EXPECT_TRUE(has(m, "empty.jpg: ")) << m;
  // A PNG header claiming 9000×9000 pixels is refused before any allocation.
  TempDir dir;
  write_png(dir.file("small.png"), 2, 2, 3, rgb_pattern(2, 2));
  std::string png;
  {
    std::ifstream in(dir.file("small.png"), std::ios::binary);
    png.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (int at : {16, 20}) {  // IHDR width and height, big-endian
    png[static_cast<size_t>(at)] = 0;
    png[static_cast<size_t>(at + 1)] = 0;
    png[static_cast<size_t>(at + 2)] = 0x23;
    png[static_cast<size_t>(at + 3)] = 0x28;
  }
  m = bad_input([&] { decode_image(reinterpret_cast<const uint8_t*>(png.data()), png.size(), "huge.png"); });
  EXPECT_TRUE(has(m, "huge.png: is 9000×9000 pixels")) << m;
  // A DHT segment of more than 256 codes, which stb_image 2.27 would write past its table for (a fuzz finding).
  std::vector<uint8_t> dht = {0xFF, 0xD8, 0xFF, 0xC4, 0x01, 0x3F, 0x00};
  for (int c = 0; c < 16; ++c) dht.push_back(c == 15 ? 255 : c == 14 ? 45 : 0);
  dht.resize(dht.size() + 300, 7);
  m = bad_input([&] { decode_image(dht.data(), dht.size(), "dht.jpg"); });
  EXPECT_TRUE(has(m, "dht.jpg: corrupt JPEG: a Huffman table (DHT segment) of more than 256 codes")) << m;
  // A PNG chunk claiming more bytes than the file has (stb would allocate them first), and a 28-byte JPEG whose
  // header claims 31237×2051 pixels (stb would decode 64 MP of zeros).
  std::string cut = png.substr(0, 33) + std::string("\x40\x00\x00\x00IDAT", 8) + "xx";
  m = bad_input([&] { decode_image(reinterpret_cast<const uint8_t*>(cut.data()), cut.size(), "cut.png"); });
  EXPECT_TRUE(has(m, "cut.png: corrupt or truncated PNG: chunk IDAT claims 1073741824 bytes, the file has 2 left"))
      << m;
  const std::vector<uint8_t> bomb = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x08, 0x03, 0x7a, 0x05, 0x03, 0x01, 0x22,
                                     0x00, 0x02, 0x14, 0x01, 0x03, 0x11, 0x01, 0xff, 0xd9, 0xff, 0x01, 0x07, 0xff};
  m = bad_input([&] { decode_image(bomb.data(), bomb.size(), "bomb.jpg"); });
  EXPECT_TRUE(has(m, "bomb.jpg: claims 31237×2051 pixels, more than its 27 bytes can hold")) << m;
  // An empty IDAT chunk before the data is legal PNG (stb 2.27 memcpy'd from it with a null pointer).
  std::string small;
  {
    std::ifstream in(dir.file("small.png"), std::ios::binary);
    small.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string empty_idat = std::string("\0\0\0\0IDAT", 8) + "\x35\xaf\x06\x1e";  // length 0, CRC of "IDAT"
  const std::string with_empty = small.substr(0, 33) + empty_idat + small.substr(33);
  const Image a = decode_image(reinterpret_cast<const uint8_t*>(small.data()), small.size(), "a.png");
  const Image b = decode_image(reinterpret_cast<const uint8_t*>(with_empty.data()), with_empty.size(), "b.png");
  ASSERT_EQ(b.height, 2);
  EXPECT_EQ(std::vector<uint8_t>(a.rgb.get(), a.rgb.get() + 12), std::vector<uint8_t>(b.rgb.get(), b.rgb.get() + 12));
  EXPECT_TRUE(has_image_extension("a.JPEG"));
  EXPECT_TRUE(has_image_extension("b.Png"));
  EXPECT_FALSE(has_image_extension("c.txt"));
}

// The fuzzer's findings in stb_image 2.27 (tests/fuzz/corpus/image/finding_*, each the fuzz target's mode byte and
// the file): every one decodes or fails as BadInput — no overflow, abort or runaway allocation.
TEST(ImageFolderTest, FuzzFindingsDecodeOrFailCleanly) {
  int files = 0;
  for (const auto& e : fs::directory_iterator(std::string(SPIKEFORGE_SOURCE_DIR) + "/tests/fuzz/corpus/image")) {
    if (!e.path().filename().string().starts_with("finding_")) continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    ASSERT_FALSE(bytes.empty());
    try {
      const Image img = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()) + 1, bytes.size() - 1, "f");
      EXPECT_LE(img.height * img.width, int64_t{1} << 22) << e.path();
    } catch (const Error& err) {
      EXPECT_EQ(err.kind(), ErrorKind::BadInput) << err.what();
    }
    ++files;
  }
  EXPECT_GE(files, 7);
}

TEST(ImageFolderTest, StreamsThroughTheLoaderBitIdenticallyForAnyWorkerCount) {
  TempDir dir;
  write_image_folder(dir);
  const ImageFolderSplit s = open_image_folder(dir.str(), false);
  Pipeline train;
  train.add(std::make_unique<RandomResizedCrop>(5, 5));
  train.add(std::make_unique<HorizontalFlip>(0.5));
  train.add(std::make_unique<Scale>(-1, 1));
  ASSERT_TRUE(train.fixed_size());
  auto epoch = [&](int workers) {
    DataLoader loader(*s.train, train, {.batch = 3, .seed = 9, .workers = workers});
    loader.start_epoch(1);
    std::vector<float> all;
    for (int64_t b = 0; b < loader.batches(); ++b) {
      const Batch& x = loader.batch(b);
      EXPECT_EQ(x.images.size(), static_cast<size_t>(x.size * 75));
      all.insert(all.end(), x.images.begin(), x.images.end());
    }
    return all;
  };
  const std::vector<float> a = epoch(0);
  EXPECT_EQ(a, epoch(1));
  EXPECT_EQ(a, epoch(3));
  for (float v : a) {  // convex combinations of [0, 1] pixels, scaled
    EXPECT_GE(v, -1.0f - 1e-5f);
    EXPECT_LE(v, 1.0f + 1e-5f);
  }
  // Evaluation: resize_short + center_crop inside a TransformedSource, as train/run.cpp wraps the test split.
  Pipeline eval;
  eval.add(std::make_unique<ResizeShort>(6));
  eval.add(std::make_unique<CenterCrop>(5, 5));
  const TransformedSource val(*s.val, eval);
  EXPECT_EQ(val.sample_shape(), (Shape{3, 5, 5}));
  DataLoader loader(val, Pipeline(), {.batch = 2, .shuffle = false, .workers = 2});
  loader.start_epoch(0);
  EXPECT_EQ(loader.batch(0).images.size(), 2u * 75);
  EXPECT_EQ(loader.batch(1).labels, (std::vector<int32_t>{2}));
  // Without a fixed-size end the varying images are refused by the loader.
  Pipeline flip;
  flip.add(std::make_unique<HorizontalFlip>(0.5));
  EXPECT_FALSE(flip.fixed_size());
  DataLoader bad(*s.train, flip, {.batch = 7, .shuffle = false});
  bad.start_epoch(0);
  EXPECT_TRUE(has(bad_input([&] { bad.batch(0); }), "end the pipeline with a resize"));
}

// ---------------------------------------------------------------- transforms

std::vector<float> apply(const Transform& t, const std::vector<float>& in, const Shape& shape, Rng rng = Rng(0)) {
  std::vector<float> out(static_cast<size_t>(numel(t.output_shape(shape))));
  t.apply(in.data(), shape, out.data(), rng);
  return out;
}

std::vector<float> ramp(const Shape& s) {
  std::vector<float> v(static_cast<size_t>(numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return v;
}

TEST(ImageTransformTest, RandomResizedCropFollowsTorchvisionsDraw) {
  const RandomResizedCrop t(224, 224);
  EXPECT_EQ(t.output_shape({3, 375, 500}), (Shape{3, 224, 224}));
  EXPECT_EQ(t.size_rule(), SizeRule::fixes);
  // Windows lie inside the image with an area fraction in [0.08, 1] and an aspect ratio in [3/4, 4/3] (up to the
  // rounding to whole pixels).
  double min_frac = 1, max_frac = 0;
  for (uint64_t i = 0; i < 2000; ++i) {
    Rng rng = Rng::for_stream(1, Stream::augment, 0, i, 0);
    const auto w = t.window(375, 500, rng);
    ASSERT_GE(w.top, 0);
    ASSERT_GE(w.left, 0);
    ASSERT_LE(w.top + w.height, 375);
    ASSERT_LE(w.left + w.width, 500);
    const double frac = static_cast<double>(w.height * w.width) / (375.0 * 500.0);
    min_frac = std::min(min_frac, frac);
    max_frac = std::max(max_frac, frac);
    const double ratio = static_cast<double>(w.width) / static_cast<double>(w.height);
    EXPECT_GT(ratio, 0.75 * 0.98);
    EXPECT_LT(ratio, 4.0 / 3.0 * 1.02);
    EXPECT_GT(frac, 0.08 * 0.97);
  }
  EXPECT_LT(min_frac, 0.1);
  EXPECT_GT(max_frac, 0.7);
  // No try fits a 1×1000 strip: torchvision's fallback, the central crop at the ratio's bound (h 1, w round(4/3)).
  Rng rng(3);
  EXPECT_EQ(t.window(1, 1000, rng), (RandomResizedCrop::Window{0, 499, 1, 1}));
  EXPECT_EQ(t.window(1000, 2, rng), (RandomResizedCrop::Window{498, 0, 3, 2}));  // w 2, h round(2 / 0.75) = 3
  // The whole image at its own size resamples to itself.
  const Shape s{2, 5, 7};
  std::vector<float> out(70);
  const std::vector<float> in = ramp(s);
  resize_window(in.data(), s, 0, 0, 5, 7, 5, 7, out.data());
  EXPECT_EQ(out, in);
}

TEST(ImageTransformTest, RandomResizedCropIsKeyedOnSeedEpochAndIndex) {
  Pipeline p;
  p.add(std::make_unique<RandomResizedCrop>(8, 8));
  p.add(std::make_unique<HorizontalFlip>(0.5));
  const Shape s{3, 30, 40};
  const std::vector<float> in = ramp(s);
  auto run = [&](SampleKey key) {
    std::vector<float> out(192);
    Pipeline::Scratch scratch;
    p.apply(in.data(), s, out.data(), key, scratch);
    return out;
  };
  EXPECT_EQ(run({1, 2, 3}), run({1, 2, 3}));
  int differ = 0;
  for (uint64_t i = 0; i < 8; ++i) {
    differ += run({1, 2, i}) != run({1, 2, i + 100});
    differ += run({1, 2, i}) != run({1, 3, i});
    differ += run({1, 2, i}) != run({2, 2, i});
  }
  EXPECT_GE(differ, 22);
  // The first step draws its window from stream (seed, augment, epoch, index, 0).
  Rng r = Rng::for_stream(1, Stream::augment, 2, 3, 0);
  const auto w = RandomResizedCrop(8, 8).window(30, 40, r);
  std::vector<float> a(192), b(192);
  resize_window(in.data(), s, w.top, w.left, w.height, w.width, 8, 8, a.data());
  Rng r1 = Rng::for_stream(1, Stream::augment, 2, 3, 1);
  p.at(1).apply(a.data(), {3, 8, 8}, b.data(), r1);
  EXPECT_EQ(run({1, 2, 3}), b);
}

TEST(ImageTransformTest, ResizeShortAndCenterCropGeometry) {
  const ResizeShort r(256);
  EXPECT_EQ(r.output_shape({3, 300, 400}), (Shape{3, 256, 341}));  // int(256 · 400 / 300)
  EXPECT_EQ(r.output_shape({3, 400, 300}), (Shape{3, 341, 256}));
  EXPECT_EQ(r.output_shape({3, 50, 50}), (Shape{3, 256, 256}));
  EXPECT_EQ(r.size_rule(), SizeRule::depends);
  // Python's round, halves to even: (341 − 224) / 2 = 58.5 → 58; 1.5 → 2; 2.5 → 2; smaller inputs are padded.
  EXPECT_EQ(CenterCrop::offset(341, 224), 58);
  EXPECT_EQ(CenterCrop::offset(256, 224), 16);
  EXPECT_EQ(CenterCrop::offset(7, 4), 2);
  EXPECT_EQ(CenterCrop::offset(9, 4), 2);
  EXPECT_EQ(CenterCrop::offset(4, 7), -1);
  const Shape s{2, 7, 9};
  const std::vector<float> in = ramp(s);
  const std::vector<float> c = apply(CenterCrop(4, 4), in, s);
  for (int ch = 0; ch < 2; ++ch)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x)
        EXPECT_EQ(c[static_cast<size_t>(ch * 16 + y * 4 + x)], in[static_cast<size_t>(ch * 63 + (y + 2) * 9 + x + 2)]);
  // 1×2×3 in a 4×5 crop: one zero row above (pad (4 − 2) // 2), one below; one zero column left, one right.
  const std::vector<float> p = apply(CenterCrop(4, 5), {1, 2, 3, 4, 5, 6}, {1, 2, 3});
  EXPECT_EQ(p, (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0}));
  // Eval pipeline on a 300×400 image: 256×341, then the 224 window at (16, 58) of it.
  Pipeline eval;
  eval.add(std::make_unique<ResizeShort>(256));
  eval.add(std::make_unique<CenterCrop>(224, 224));
  EXPECT_EQ(eval.output_shape({3, 300, 400}), (Shape{3, 224, 224}));
  EXPECT_TRUE(eval.fixed_size());
  const Shape big{1, 300, 400};
  const std::vector<float> img = ramp(big);
  std::vector<float> resized = apply(r, img, big), out(224 * 224);
  Pipeline::Scratch scratch;
  eval.apply(img.data(), big, out.data(), {}, scratch);
  EXPECT_EQ(out[0], resized[16 * 341 + 58]);
  EXPECT_EQ(out[223 * 224 + 223], resized[(16 + 223) * 341 + 58 + 223]);
}

TEST(ImageTransformTest, ShrinkingAveragesLikePilsBilinearFilter) {
  // 2×4 → short side 1: 1×2. Columns: triangle weights 2 pixels wide around centres 1 and 3, normalised:
  // out0 = (3a + 3b + c) / 7, out1 = (b + 3c + 3d) / 7; rows: (r0 + r1) / 2.
  const std::vector<float> in = {7, 14, 21, 28, 0, 7, 0, 7};
  const std::vector<float> out = apply(ResizeShort(1), in, {1, 2, 4});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[0], ((3 * 7 + 3 * 14 + 21) / 7.0 + (0 + 3 * 7 + 0) / 7.0) / 2, 1e-5);
  EXPECT_NEAR(out[1], ((14 + 3 * 21 + 3 * 28) / 7.0 + (7 + 0 + 3 * 7) / 7.0) / 2, 1e-5);
  // Enlarging is plain half-pixel bilinear, as Resize: the two agree.
  const Shape s{1, 3, 4};
  const std::vector<float> r = ramp(s);
  std::vector<float> a(6 * 8);
  resize_window(r.data(), s, 0, 0, 3, 4, 6, 8, a.data());
  const std::vector<float> b = apply(Resize(6, 8), r, s);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << i;
}

TEST(ImageTransformTest, ScalePadAndRepeatChannels) {
  EXPECT_EQ(apply(Scale(-1, 1), {0, 0.25f, 1}, {1, 1, 3}), (std::vector<float>{-1, -0.5f, 1}));
  EXPECT_EQ(apply(Scale(0, 255), {0.5f}, {1, 1, 1}), (std::vector<float>{127.5f}));
  // 28 → 32: two zeros on every side.
  const Shape mnist{1, 28, 28};
  const std::vector<float> in(784, 1.0f);
  const std::vector<float> padded = apply(Pad(32, 32), in, mnist);
  float sum = 0;
  for (float v : padded) sum += v;
  EXPECT_EQ(sum, 784);
  EXPECT_EQ(padded[2 * 32 + 2], 1.0f);
  EXPECT_EQ(padded[2 * 32 + 1], 0.0f);
  EXPECT_EQ(padded[29 * 32 + 29], 1.0f);
  EXPECT_EQ(padded[30 * 32 + 29], 0.0f);
  EXPECT_TRUE(has(bad_input([] { Pad(20, 20).output_shape({1, 28, 28}); }), "pad: cannot pad [1,28,28]"));
  const std::vector<float> rgb = apply(RepeatChannels(3), {1, 2, 3, 4}, {1, 2, 2});
  EXPECT_EQ(rgb, (std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}));
  EXPECT_EQ(RepeatChannels(3).output_shape({3, 5, 5}), (Shape{3, 5, 5}));
  EXPECT_TRUE(has(bad_input([] { RepeatChannels(3).output_shape({2, 5, 5}); }), "only a single channel"));
  bad_input([] { Scale(0, std::nan("")); });
  bad_input([] { RandomResizedCrop(8, 8, 0.5, 0.2); });
  bad_input([] { RandomResizedCrop(8, 8, 0.1, 1, 0, 1); });
}

TEST(ImageTransformTest, SpecsParseAndRoundTrip) {
  const ConfigNode c = ConfigNode::load_string(R"(
augment:
  - {type: random_resized_crop, size: 224, scale: [0.25, 1], ratio: [0.5, 2]}
  - {type: random_resized_crop, height: 64, width: 48}
  - {type: resize_short, size: 256}
  - {type: center_crop, size: 224}
  - {type: pad, height: 32, width: 30}
  - {type: scale, low: -1, high: 1}
  - {type: scale}
  - {type: repeat_channels, count: 3}
)",
                                               "img.yaml");
  const std::vector<TransformSpec> specs = parse_transforms(c, "augment");
  c.check_unknown_keys();
  ASSERT_EQ(specs.size(), 8u);
  EXPECT_EQ(specs[0].scale_min, 0.25);
  EXPECT_EQ(specs[0].ratio_max, 2.0);
  EXPECT_EQ(specs[1].scale_min, 0.08);
  EXPECT_DOUBLE_EQ(specs[1].ratio_min, 0.75);
  EXPECT_EQ(specs[1].height, 64);
  EXPECT_EQ(specs[2].height, 256);
  EXPECT_EQ(specs[4].width, 30);
  EXPECT_EQ(specs[6].low, -1.0);
  EXPECT_EQ(specs[6].high, 1.0);
  EXPECT_EQ(specs[7].count, 3);
  const ConfigNode back = ConfigNode::load_string("augment: " + to_yaml(specs) + "\n", "back.yaml");
  const std::vector<TransformSpec> again = parse_transforms(back, "augment");
  back.check_unknown_keys();
  ASSERT_EQ(again.size(), specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(again[i].type, specs[i].type);
    EXPECT_EQ(again[i].height, specs[i].height);
    EXPECT_EQ(again[i].width, specs[i].width);
    EXPECT_EQ(again[i].scale_min, specs[i].scale_min);
    EXPECT_EQ(again[i].ratio_min, specs[i].ratio_min);
    EXPECT_EQ(again[i].ratio_max, specs[i].ratio_max);
    EXPECT_EQ(again[i].low, specs[i].low);
    EXPECT_EQ(again[i].count, specs[i].count);
  }
  auto error = [](const std::string& item) {
    return bad_input([&] {
      const ConfigNode n = ConfigNode::load_string("augment:\n  - " + item + "\n", "e.yaml");
      parse_transforms(n, "augment");
      n.check_unknown_keys();
    });
  };
  EXPECT_TRUE(has(error("{type: random_resized_crop, size: 8, scale: [0.5]}"), "augment.0.scale"));
  EXPECT_TRUE(has(error("{type: random_resized_crop, size: 8, scale: [0.5, 2]}"), "cannot exceed 1"));
  EXPECT_TRUE(has(error("{type: random_resized_crop, size: 8, ratio: [2, 1]}"), "augment.0.ratio"));
  EXPECT_TRUE(has(error("{type: resize_short, height: 8}"), "augment.0.size"));
  EXPECT_TRUE(has(error("{type: center_crop, size: 0}"), "augment.0.size"));
  EXPECT_TRUE(has(error("{type: scale, low: .nan}"), "augment.0.low"));
  EXPECT_TRUE(has(error("{type: repeat_channels, count: 0}"), "augment.0.count"));
  EXPECT_TRUE(has(error("{type: scale, size: 3}"), "augment.0.size"));  // another type's key
}

// ---------------------------------------------------------------- experiments

std::string write_yaml(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  write_text(path, text);
  return path;
}

std::string experiment_error(const std::string& file) {
  return bad_input([&] { load_experiment(file); });
}

TEST(DatasetExperimentTest, ModelInputIsThePipelinesOutput) {
  TempDir dir;
  Experiment e = load_experiment(write_yaml(dir, "m.yaml", "dataset: {name: mnist, resize: 32, channels: 3}\n"));
  EXPECT_EQ(e.model.input, (Shape{3, 32, 32}));
  EXPECT_EQ(e.model.classes, 10);
  e = load_experiment(write_yaml(dir, "p.yaml", "dataset: {name: fashion_mnist, pad: 32}\n"));
  EXPECT_EQ(e.model.input, (Shape{1, 32, 32}));
  EXPECT_EQ(train_pipeline(e.data).output_shape({1, 28, 28}), (Shape{1, 32, 32}));
  e = load_experiment(write_yaml(dir, "c.yaml",
                                 "dataset:\n  name: cifar100\n  label: coarse\n  augment:\n"
                                 "    - {type: random_crop, size: 32, padding: 4}\n    - {type: hflip}\n"));
  EXPECT_EQ(e.model.input, (Shape{3, 32, 32}));
  EXPECT_EQ(e.model.classes, 20);
  EXPECT_TRUE(eval_pipeline(e.data).empty());
  // Image folder: the recipe's defaults, classes from the folders.
  write_image_folder(dir);
  e = load_experiment(write_yaml(dir, "i.yaml", "dataset: {name: image_folder, path: " + dir.str() + "}\n"));
  EXPECT_EQ(e.model.input, (Shape{3, 224, 224}));
  EXPECT_EQ(e.model.classes, 3);
  ASSERT_EQ(e.data.augment.size(), 2u);
  EXPECT_EQ(e.data.augment[0].type, TransformType::random_resized_crop);
  EXPECT_EQ(e.data.augment[1].type, TransformType::hflip);
  ASSERT_EQ(e.data.eval_transforms.size(), 2u);
  EXPECT_EQ(e.data.eval_transforms[0].type, TransformType::resize_short);
  EXPECT_EQ(e.data.eval_transforms[0].height, 256);
  EXPECT_EQ(e.data.eval_transforms[1].type, TransformType::center_crop);
  EXPECT_EQ(e.data.eval_transforms[1].height, 224);
  // The resolved config reads back to the same experiment.
  const Experiment again = load_experiment(write_yaml(dir, "i2.yaml", to_yaml(e)));
  EXPECT_EQ(to_yaml(again), to_yaml(e));
  e = load_experiment(write_yaml(dir, "k.yaml",
                                 "dataset:\n  name: image_folder\n  path: " + dir.str() +
                                     "\n  skip_bad_images: true\n  augment: [{type: random_resized_crop, size: 128}, "
                                     "{type: scale}]\n  eval_transforms: [{type: resize_short, size: 146}, "
                                     "{type: center_crop, size: 128}, {type: scale, low: -1, high: 1}]\n"));
  EXPECT_EQ(e.model.input, (Shape{3, 128, 128}));
  EXPECT_TRUE(e.data.skip_bad_images);
}

TEST(DatasetExperimentTest, BadDatasetKeysNameTheFileAndKey) {
  TempDir dir;
  std::string m = experiment_error(write_yaml(dir, "a.yaml", "dataset: {name: mnist, resize: 32, pad: 32}\n"));
  EXPECT_TRUE(has(m, "a.yaml:1: key 'dataset.pad': give resize or pad, not both")) << m;
  m = experiment_error(write_yaml(dir, "b.yaml", "dataset: {name: mnist, label: fine}\n"));
  EXPECT_TRUE(has(m, "key 'dataset.label': unknown key")) << m;
  m = experiment_error(write_yaml(dir, "c.yaml", "dataset: {name: cifar100, label: medium}\n"));
  EXPECT_TRUE(has(m, "key 'dataset.label': 'medium' is not one of: fine, coarse")) << m;
  m = experiment_error(write_yaml(dir, "d.yaml", "dataset: {name: cifar10, channels: 1}\n"));
  EXPECT_TRUE(has(m, "key 'dataset.channels'")) << m;
  EXPECT_TRUE(has(m, "only a single channel")) << m;
  m = experiment_error(write_yaml(dir, "e.yaml", "dataset: {name: mnist, pad: 20}\n"));
  EXPECT_TRUE(has(m, "key 'dataset.pad': pad: cannot pad [1,28,28]")) << m;
  m = experiment_error(write_yaml(dir, "f.yaml", "dataset: {name: mnist, augment: [{type: resize, size: 32}]}\n"));
  EXPECT_TRUE(has(m, "key 'dataset.eval_transforms': make [1,28,28] samples but augment makes [1,32,32]")) << m;
  m = experiment_error(write_yaml(dir, "g.yaml", "dataset: {name: mnist, skip_bad_images: true}\n"));
  EXPECT_TRUE(has(m, "dataset.skip_bad_images")) << m;
  m = experiment_error(write_yaml(dir, "h.yaml", "dataset: {name: image_folder, path: " + dir.file("none") + "}\n"));
  EXPECT_TRUE(has(m, "key 'dataset.path': ")) << m;
  EXPECT_TRUE(has(m, "none/train: missing")) << m;
  write_image_folder(dir);
  m = experiment_error(
      write_yaml(dir, "i.yaml", "dataset: {name: image_folder, path: " + dir.str() + ", augment: [{type: hflip}]}\n"));
  EXPECT_TRUE(has(m, "key 'dataset.augment': an image folder's images differ in size")) << m;
  m = experiment_error(write_yaml(
      dir, "j.yaml",
      "dataset: {name: image_folder, path: " + dir.str() + ", eval_transforms: [{type: center_crop, size: 200}]}\n"));
  EXPECT_TRUE(has(m, "make [3,200,200] samples but augment makes [3,224,224]")) << m;
  m = experiment_error(
      write_yaml(dir, "k.yaml",
                 "dataset: {name: mnist, augment: [{type: hflip}, {type: normalize, mean: [0, 0], std: [1, 1]}]}\n"));
  EXPECT_TRUE(has(m, "key 'dataset.augment.1.type': normalize: 2 means and stds for 1 channels")) << m;
}

// Writes an MNIST-style folder of n_train / n_test 28×28 images, class c a bright block at a class-dependent spot.
void write_fake_mnist(const std::string& dir, int n_train, int n_test) {
  fs::create_directories(dir);
  auto split = [&](const std::string& prefix, int n) {
    std::string images = {0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
    images[6] = static_cast<char>(n >> 8);
    images[7] = static_cast<char>(n & 0xff);
    std::string labels = {0, 0, 8, 1, 0, 0, static_cast<char>(n >> 8), static_cast<char>(n & 0xff)};
    for (int i = 0; i < n; ++i) {
      const int c = i % 10;
      labels += static_cast<char>(c);
      std::string img(784, '\0');
      for (int y = 4 + (c / 5) * 10; y < 12 + (c / 5) * 10; ++y)
        for (int x = 2 + (c % 5) * 5; x < 7 + (c % 5) * 5; ++x) img[static_cast<size_t>(y * 28 + x)] = char(220);
      images += img;
    }
    write_text(dir + "/" + prefix + "-images-idx3-ubyte", images);
    write_text(dir + "/" + prefix + "-labels-idx1-ubyte", labels);
  };
  split("train", n_train);
  split("t10k", n_test);
}

TEST(DatasetExperimentTest, TrainsMnistAsThreeChannel32x32) {
  TempDir dir;
  write_fake_mnist(dir.file("mnist"), 40, 20);
  const Experiment e = load_experiment(
      write_yaml(dir, "m.yaml",
                 "seed: 1\nthreads: 1\ndataset: {name: mnist, path: " + dir.file("mnist") +
                     ", resize: 32, channels: 3, validation: 0.25}\ntrain: {epochs: 1, batch: 10, eval_batch: 10}\n"));
  EXPECT_EQ(e.model.input, (Shape{3, 32, 32}));
  const RunResult r = run_experiment(e, {dir.file("run")});
  EXPECT_EQ(r.test.count, 20);
  const auto summary = nlohmann::json::parse(std::ifstream(dir.file("run/summary.json")));
  EXPECT_EQ(summary.at("skipped_images"), 0);
}

TEST(DatasetExperimentTest, TrainsOnAnImageFolderAndReportsSkippedImages) {
  TempDir dir;
  write_image_folder(dir);
  write_text(dir.file("train/bee/b0.jpg"), "\xff\xd8\xff not a JPEG");
  const Experiment e = load_experiment(write_yaml(
      dir, "i.yaml",
      "seed: 1\nthreads: 1\ndataset:\n  name: image_folder\n  path: " + dir.str() +
          "\n  skip_bad_images: true\n  augment: [{type: random_resized_crop, size: 32}, {type: hflip}, {type: "
          "scale}]\n"
          "  eval_transforms: [{type: resize_short, size: 36}, {type: center_crop, size: 32}, {type: scale}]\n"
          "train: {epochs: 2, batch: 4, eval_batch: 2, loss: crossentropy, workers: 2}\n"));
  EXPECT_EQ(e.model.input, (Shape{3, 32, 32}));
  EXPECT_EQ(e.model.classes, 3);
  const RunResult r = run_experiment(e, {dir.file("run")});
  EXPECT_EQ(r.test.count, 3);
  EXPECT_EQ(r.skipped_images, 1);
  const auto summary = nlohmann::json::parse(std::ifstream(dir.file("run/summary.json")));
  EXPECT_EQ(summary.at("status"), "completed");
  EXPECT_EQ(summary.at("skipped_images"), 1);
  ASSERT_EQ(summary.at("skipped_image_files").size(), 1u);
  EXPECT_TRUE(has(summary.at("skipped_image_files")[0].get<std::string>(), "b0.jpg")) << summary.dump();
  // Without skipping, the same folder fails naming the file; the failed summary says why.
  EXPECT_TRUE(has(bad_input([&] {
                    run_experiment(load_experiment(dir.file("i.yaml"), {"dataset.skip_bad_images=false"}),
                                   {dir.file("run2")});
                  }),
                  "b0.jpg"));
  const auto failed = nlohmann::json::parse(std::ifstream(dir.file("run2/summary.json")));
  EXPECT_EQ(failed.at("status"), "failed");
}

}  // namespace
}  // namespace sf
