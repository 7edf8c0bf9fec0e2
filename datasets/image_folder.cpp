#include "datasets/image_folder.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "datasets/stb_image_impl.h"

namespace sf {
namespace {

namespace fs = std::filesystem;

// Far above any JPEG of kMaxImagePixels; a larger "image" is not one, and reading it would only cost memory.
constexpr int64_t kMaxImageFileBytes = int64_t{256} << 20;

constexpr const char* kExtensions[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string list_extensions() {
  std::string out;
  for (const char* e : kExtensions) out += (out.empty() ? "" : ", ") + std::string(e);
  return out;
}

std::atomic<uint64_t> next_source_id{1};

// stb_image 2.27 (Debian 12's) builds a JPEG Huffman table from the 16 code counts of a DHT segment without
// checking that they sum to at most 256, and writes past the table when they do (found by tests/fuzz/image.cpp;
// upstream checks it since 2.28). Such a file is refused here first: the segments are walked the way stb reads
// them — bytes that are not a marker skipped one by one (stb's resynchronisation, and entropy-coded data, whose
// FF 00 and RSTn never start a segment), DHT tables consumed one by one — so every table stb would build is seen,
// and more (where stb would already have stopped). Bytes past the end read as 0, as in stb.
bool jpeg_huffman_tables_fit(const uint8_t* p, size_t n) {
  auto at = [&](size_t k) -> unsigned { return k < n ? p[k] : 0u; };
  // stb takes a file for a JPEG when it starts with FF, any more FF fill, then SOI (D8).
  size_t i = 0;
  if (at(0) != 0xFF) return true;
  while (i < n && p[i] == 0xFF) ++i;
  if (at(i) != 0xD8) return true;
  ++i;
  while (i < n) {
    if (p[i] != 0xFF) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < n && p[j] == 0xFF) ++j;  // fill bytes
    if (j >= n) return true;
    const unsigned m = p[j];
    i = j + 1;
    if (m == 0x00 || (m >= 0xD0 && m <= 0xD8) || m == 0x01) continue;  // stuffing, RSTn, SOI, TEM: no length
    if (m == 0xD9) return true;                                        // EOI
    const size_t len = (at(i) << 8) | at(i + 1);
    if (m == 0xC4) {
      int64_t left = static_cast<int64_t>(len) - 2;
      size_t k = i + 2;
      while (left > 0) {
        const unsigned q = at(k);
        if ((q >> 4) > 1 || (q & 15) > 3) return true;  // stb rejects the segment and stops
        unsigned codes = 0;
        for (size_t c = 1; c <= 16; ++c) codes += at(k + c);
        if (codes > 256) return false;
        k += 17 + codes;
        left -= 17 + static_cast<int64_t>(codes);
      }
      i = k;
      continue;
    }
    i += len;
  }
  return true;
}

// stb_image 2.27 grows its buffer to an IDAT chunk's declared length before reading the chunk, so a 100-byte PNG
// can make it allocate gigabytes (found by tests/fuzz/image.cpp). A chunk that claims more bytes than the file has
// left is corrupt or cut off — stb would fail on it after the allocation — so it is refused first.
std::string png_chunk_overrun(const uint8_t* p, size_t n) {
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n < 8 || std::memcmp(p, kSignature, 8) != 0) return "";
  for (size_t i = 8; i + 8 <= n;) {
    const uint64_t len = (uint64_t{p[i]} << 24) | (uint64_t{p[i + 1]} << 16) | (uint64_t{p[i + 2]} << 8) | p[i + 3];
    const std::string type(reinterpret_cast<const char*>(p + i + 4), 4);
    if (len > n - (i + 8))
      return "chunk " + type + " claims " + std::to_string(len) + " bytes, the file has " +
             std::to_string(n - (i + 8)) + " left";
    if (type == "IEND") break;
    i += 12 + len;  // length, type, data, CRC
  }
  return "";
}

}  // namespace

void FreeImage::operator()(uint8_t* p) const { stb::free_image(p); }

bool has_image_extension(const std::string& filename) {
  const std::string ext = lower(fs::path(filename).extension().string());
  return std::any_of(std::begin(kExtensions), std::end(kExtensions), [&](const char* e) { return ext == e; });
}

Image decode_image(const uint8_t* data, size_t size, const std::string& what) {
  if (size > static_cast<size_t>(INT_MAX)) fail_input(what, "is " + std::to_string(size) + " bytes: too large");
  int w = 0, h = 0, comp = 0;
  const int n = static_cast<int>(size);
  if (const std::string why = png_chunk_overrun(data, size); !why.empty())
    fail_input(what, "corrupt or truncated PNG: " + why);
  if (!jpeg_huffman_tables_fit(data, size))
    fail_input(what, "corrupt JPEG: a Huffman table (DHT segment) of more than 256 codes");
  if (!stb::info(data, n, &w, &h, &comp))
    fail_input(what,
               std::string("not a JPEG or PNG image, or a damaged one (stb_image: ") + stb::failure_reason() + ")");
  const int64_t pixels = static_cast<int64_t>(w) * h;
  if (pixels > kMaxImagePixels)
    fail_input(what, "is " + std::to_string(w) + "×" + std::to_string(h) + " pixels, more than the " +
                         std::to_string(kMaxImagePixels) + " an image may have");
  // No JPEG or PNG holds more than ~8,300 pixels per byte (JPEG needs a bit per 8×8 block, deflate compresses
  // at most ~1,032:1, and a 1-bit PNG packs 8 pixels a byte), so a header claiming more describes a cut-off or
  // forged file, which stb would otherwise decode, from zeros, at full size (27 bytes → 64 MP, found by
  // tests/fuzz/image.cpp). Small images pass whatever their size: they cost nothing.
  if (pixels > (int64_t{1} << 22) && pixels > int64_t{16384} * static_cast<int64_t>(size))
    fail_input(what, "claims " + std::to_string(w) + "×" + std::to_string(h) + " pixels, more than its " +
                         std::to_string(size) + " bytes can hold (cut off or corrupt)");
  uint8_t* px = stb::load_rgb(data, n, &w, &h);
  if (!px) fail_input(what, std::string("cannot decode (stb_image: ") + stb::failure_reason() + ")");
  Image img;
  img.height = h;
  img.width = w;
  img.rgb.reset(px);
  return img;
}

Image read_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail_input(path, "cannot open for reading");
  const std::streamoff size = in.tellg();
  if (size < 0) fail_input(path, "cannot read its size");
  if (size > kMaxImageFileBytes)
    fail_input(path, "is " + std::to_string(size) + " bytes, more than an image file may have (" +
                         std::to_string(kMaxImageFileBytes) + ")");
  thread_local std::vector<uint8_t> bytes;  // reused: the file buffer of every image a worker reads
  bytes.resize(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) fail_input(path, "read error");
  return decode_image(bytes.data(), bytes.size(), path);
}

std::vector<std::string> image_folder_classes(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail_input(dir, "missing (expected a folder of class folders)");
  std::vector<std::string> classes;
  try {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory()) classes.push_back(e.path().filename().string());  // is_directory follows symlinks
  } catch (const fs::filesystem_error& e) {
    fail_input(dir, std::string("cannot list: ") + e.code().message());
  }
  if (classes.empty()) fail_input(dir, "holds no class folders (expected " + dir + "/<class>/<image>)");
  std::sort(classes.begin(), classes.end());  // byte order = Python's sorted() on the UTF-8 names
  return classes;
}

struct ImageFolderSource::Decoded {
  uint64_t owner = 0;  // 0: empty (or being replaced)
  int64_t index = -1;
  int32_t label = 0;
  Image image;
};

ImageFolderSource::ImageFolderSource(const std::string& dir, std::string name, bool skip_bad_images)
    : dir_(dir), name_(std::move(name)), skip_bad_(skip_bad_images), id_(next_source_id.fetch_add(1)) {
  classes_ = image_folder_classes(dir);
  offsets_.push_back(0);
  for (size_t c = 0; c < classes_.size(); ++c) {
    const fs::path class_dir = fs::path(dir) / classes_[c];
    // (folder relative to dir, file name): torchvision sorts os.walk's folders, then each folder's names.
    std::vector<std::pair<std::string, std::string>> files;
    try {
      for (auto it = fs::recursive_directory_iterator(class_dir, fs::directory_options::follow_directory_symlink);
           it != fs::recursive_directory_iterator(); ++it) {
        const std::string filename = it->path().filename().string();
        if (it->is_regular_file() && has_image_extension(filename))
          files.emplace_back(it->path().parent_path().lexically_relative(dir).string(), filename);
      }
    } catch (const fs::filesystem_error& e) {
      fail_input(e.path1().empty() ? class_dir.string() : e.path1().string(),
                 std::string("cannot list: ") + e.code().message());
    }
    if (files.empty())
      fail_input(class_dir.string(), "empty class folder: no file named " + list_extensions() + " in it");
    std::sort(files.begin(), files.end());
    for (const auto& [folder, filename] : files) {
      paths_ += folder + "/" + filename;
      offsets_.push_back(paths_.size());
      labels_.push_back(static_cast<int32_t>(c));
    }
  }
  bad_ = std::make_unique<std::atomic<bool>[]>(labels_.size());
}

std::string ImageFolderSource::file(int64_t index) const {
  const auto i = static_cast<size_t>(index);
  return (fs::path(dir_) / paths_.substr(offsets_[i], offsets_[i + 1] - offsets_[i])).string();
}

std::vector<std::string> ImageFolderSource::skipped_files() const {
  std::lock_guard lk(bad_mu_);
  return bad_files_;
}

void ImageFolderSource::mark_bad(int64_t index, const std::string& why) const {
  bool expected = false;
  if (!bad_[static_cast<size_t>(index)].compare_exchange_strong(expected, true)) return;  // counted already
  skipped_.fetch_add(1);
  std::lock_guard lk(bad_mu_);
  if (bad_files_.size() < kMaxListedBadImages) bad_files_.push_back(why);
}

const ImageFolderSource::Decoded& ImageFolderSource::decoded(int64_t index) const {
  if (index < 0 || index >= size())
    fail_internal("ImageFolderSource " + name_ + ": sample " + std::to_string(index) + " out of range [0, " +
                  std::to_string(size()) + ")");
  // The loader asks for a sample's shape and then reads it on the same thread: one decode serves both.
  thread_local Decoded cache;
  if (cache.owner == id_ && cache.index == index) return cache;
  cache.owner = 0;
  int64_t j = index;
  for (int64_t tries = 0; tries < size(); ++tries, j = (j + 1) % size()) {
    if (bad_[static_cast<size_t>(j)].load(std::memory_order_relaxed)) continue;
    try {
      cache.image = read_image(file(j));
    } catch (const Error& e) {
      if (!skip_bad_)
        fail_input("", std::string(e.what()) + " (dataset.skip_bad_images: true skips undecodable images)");
      mark_bad(j, e.what());
      continue;
    }
    cache.label = labels_[static_cast<size_t>(j)];
    cache.index = index;
    cache.owner = id_;
    return cache;
  }
  fail_input(dir_, "none of its " + std::to_string(size()) + " images decodes");
}

Shape ImageFolderSource::sample_shape_of(int64_t index) const {
  const Decoded& d = decoded(index);
  return {3, d.image.height, d.image.width};
}

void ImageFolderSource::read(int64_t index, float* pixels, int32_t* label) const {
  const Decoded& d = decoded(index);
  const int64_t plane = d.image.height * d.image.width;
  const uint8_t* src = d.image.rgb.get();
  for (int64_t c = 0; c < 3; ++c) {  // interleaved RGB → three planes
    float* dst = pixels + c * plane;
    for (int64_t p = 0; p < plane; ++p) dst[p] = static_cast<float>(src[3 * p + c]) / 255.0f;
  }
  *label = d.label;
}

ImageFolderSplit open_image_folder(const std::string& root, bool skip_bad_images) {
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    fail_input(root, "missing (expected " + root + "/train/<class>/<image> and " + root +
                         "/val/<class>/<image>, torchvision's ImageFolder layout)");
  const std::string train = (fs::path(root) / "train").string(), val = (fs::path(root) / "val").string();
  for (const std::string& d : {train, val})
    if (!fs::is_directory(d, ec)) fail_input(d, "missing (an image folder has train/ and val/, each of class folders)");
  const std::vector<std::string> a = image_folder_classes(train), b = image_folder_classes(val);
  if (a != b) {
    auto missing = [](const std::vector<std::string>& from, const std::vector<std::string>& in) {
      std::vector<std::string> out;
      std::set_difference(from.begin(), from.end(), in.begin(), in.end(), std::back_inserter(out));
      std::string s;
      for (size_t i = 0; i < out.size() && i < 5; ++i) s += (s.empty() ? "" : ", ") + out[i];
      if (out.size() > 5) s += " and " + std::to_string(out.size() - 5) + " more";
      return s;
    };
    const std::string only_train = missing(a, b), only_val = missing(b, a);
    fail_input(val, "its classes differ from " + train + "'s (" + std::to_string(b.size()) + " against " +
                        std::to_string(a.size()) + ")" + (only_train.empty() ? "" : "; only in train: " + only_train) +
                        (only_val.empty() ? "" : "; only in val: " + only_val));
  }
  ImageFolderSplit s;
  s.train = std::make_unique<ImageFolderSource>(train, "image_folder/train", skip_bad_images);
  s.val = std::make_unique<ImageFolderSource>(val, "image_folder/val", skip_bad_images);
  return s;
}

}  // namespace sf
