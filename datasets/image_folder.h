// Image files decoded with stb_image, and image classification folders in torchvision's ImageFolder layout
// (root/train/<class>/<image>, root/val/<class>/<image>: ImageNet 2012 as usually unpacked) streamed from disk:
// a source lists the files once and decodes one per read(), so a DataLoader's workers are the decode pool and
// memory holds a few batches, never the set.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "datasets/source.h"

namespace sf {

// Larger images are refused before decoding: 2^26 pixels (8192×8192) are 192 MB of RGB, beyond any photo in
// ImageNet (the largest are about 20 MP), and a corrupt header must not make a worker allocate gigabytes.
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

struct FreeImage {
  void operator()(uint8_t* p) const;
};

// Decoded pixels, height × width × 3 bytes, interleaved RGB.
struct Image {
  int64_t height = 0, width = 0;
  std::unique_ptr<uint8_t[], FreeImage> rgb;
};

// Decodes a JPEG or PNG, told apart by content rather than by name (ImageNet has a PNG named .JPEG), to 8-bit
// RGB: grey is repeated into three channels, alpha dropped, 16-bit samples reduced to 8. Whatever stb_image
// rejects (other formats, 12-bit or arithmetic-coded JPEGs, damaged files) is BadInput naming `what` with
// stb_image's reason, as is an image of more than kMaxImagePixels.
Image decode_image(const uint8_t* data, size_t size, const std::string& what);
Image read_image(const std::string& path);

// The file names taken as images (torchvision's IMG_EXTENSIONS, any case); the content decides the decoder.
bool has_image_extension(const std::string& filename);

// The sorted names of the folders directly in `dir` (a split of an image folder), each one class; BadInput naming
// `dir` when it is missing or holds none.
std::vector<std::string> image_folder_classes(const std::string& dir);

// One split of an image folder: dir/<class>/** files with an image extension (sub-folders of a class included,
// symlinks followed), classes in sorted folder order, files in torchvision's order (sorted by folder, then name).
class ImageFolderSource final : public DataSource {
 public:
  // BadInput naming the folder for a missing split, a split without class folders and a class folder without
  // images. skip_bad_images: an image that does not decode is replaced by the next one in the split's order that
  // does (so runs stay reproducible) and counted, instead of failing the read.
  ImageFolderSource(const std::string& dir, std::string name, bool skip_bad_images);
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  // Not a real sample's shape (they all differ): the stand-in {3, 256, 256} a pipeline's output shape is computed
  // from. The pipeline must end in a fixed-size transform (Pipeline::fixed_size).
  Shape sample_shape() const override { return {3, 256, 256}; }
  // Decodes the image (kept per thread for the read() of the same sample that follows).
  Shape sample_shape_of(int64_t index) const override;
  int num_classes() const override { return static_cast<int>(classes_.size()); }
  std::string name() const override { return name_; }
  void read(int64_t index, float* pixels, int32_t* label) const override;
  std::vector<std::string> class_names() const override { return classes_; }

  const std::string& dir() const { return dir_; }
  std::string file(int64_t index) const;  // the image's path
  int32_t label_of(int64_t index) const { return labels_[static_cast<size_t>(index)]; }
  // Undecodable images met (and replaced) so far, each counted once however often it is read; and the first
  // kMaxListedBadImages of them, "path: reason".
  int64_t skipped_images() const { return skipped_.load(); }
  std::vector<std::string> skipped_files() const;
  static constexpr size_t kMaxListedBadImages = 100;

 private:
  struct Decoded;
  const Decoded& decoded(int64_t index) const;
  void mark_bad(int64_t index, const std::string& why) const;

  std::string dir_, name_;
  bool skip_bad_;
  uint64_t id_;  // tells this source's per-thread decoded image from another's (an address can be reused)
  std::vector<std::string> classes_;
  std::string paths_;              // every file's path relative to dir_, back to back
  std::vector<uint64_t> offsets_;  // file i is paths_[offsets_[i], offsets_[i + 1]): 1.28 M ImageNet paths in ~40 MB
  std::vector<int32_t> labels_;
  mutable std::unique_ptr<std::atomic<bool>[]> bad_;
  mutable std::atomic<int64_t> skipped_{0};
  mutable std::mutex bad_mu_;
  mutable std::vector<std::string> bad_files_;
};

struct ImageFolderSplit {
  std::unique_ptr<ImageFolderSource> train, val;
};

// root/train and root/val, which must hold the same class folders (BadInput naming both folders and the classes
// one has and the other lacks).
ImageFolderSplit open_image_folder(const std::string& root, bool skip_bad_images);

}  // namespace sf
