// Image-folder streaming: memory and speed. Generates (once) an image folder of JPEGs, 256×320 with smooth
// colour fields plus pixel noise so that they compress like photos (≈ 40 KB each), then streams it through the
// DataLoader at batch 64 — the ImageNet training transforms (random_resized_crop 224 + hflip), then the
// evaluation ones (resize_short 256 + center_crop 224) — and prints images/s and the process's peak RSS
// (getrusage ru_maxrss). The point: memory stays at a few batches (one batch is 64×3×224×224 floats = 38.5 MB),
// whatever the folder's size. Run through bench/imagefolder_rss.sh. The files are read from the page cache after
// the first pass, so this times decoding and transforms, not the disk.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/rng.h"
#include "datasets/image_folder.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace fs = std::filesystem;

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux reports kilobytes
}

void generate(const fs::path& dir, int images, int classes, int height, int width) {
  std::vector<uint8_t> px(static_cast<size_t>(height * width * 3));
  for (int i = 0; i < images; ++i) {
    sf::Rng rng(static_cast<uint64_t>(i) + 1);
    const fs::path folder = dir / ("class" + std::to_string(i % classes));
    fs::create_directories(folder);
    double base[3], gy[3], gx[3];
    for (int c = 0; c < 3; ++c) {
      base[c] = rng.uniform(30, 220);
      gy[c] = rng.uniform(-0.3, 0.3);
      gx[c] = rng.uniform(-0.3, 0.3);
    }
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        for (int c = 0; c < 3; ++c) {
          const double v = base[c] + gy[c] * (y - height / 2) + gx[c] * (x - width / 2) + rng.uniform(-24, 24);
          px[static_cast<size_t>((y * width + x) * 3 + c)] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    const std::string path = (folder / ("img" + std::to_string(i) + ".jpg")).string();
    if (!stbi_write_jpg(path.c_str(), width, height, 3, px.data(), 90)) {
      std::fprintf(stderr, "imagefolder_rss: cannot write %s\n", path.c_str());
      std::exit(1);
    }
  }
}

struct Pass {
  double seconds = 0;
  int64_t images = 0;
};

Pass stream(const sf::DataSource& src, const sf::Pipeline& p, int64_t batch, int workers, bool shuffle) {
  sf::DataLoader loader(src, p, {.batch = batch, .shuffle = shuffle, .seed = 1, .workers = workers});
  const auto t0 = std::chrono::steady_clock::now();
  loader.start_epoch(0);
  Pass r;
  for (int64_t b = 0; b < loader.batches(); ++b) r.images += loader.batch(b).size;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/spikeforge_imagefolder_bench";
  int images = 2048, classes = 16, workers = 2, height = 256, width = 320;
  int64_t batch = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--dir")
      dir = v;
    else if (k == "--images")
      images = std::atoi(v.c_str());
    else if (k == "--workers")
      workers = std::atoi(v.c_str());
    else if (k == "--batch")
      batch = std::atoll(v.c_str());
    else {
      std::fprintf(stderr, "usage: %s [--dir DIR] [--images N] [--workers N] [--batch N]\n", argv[0]);
      return 2;
    }
  }
  if (images < classes || workers < 0 || batch < 1) {
    std::fprintf(stderr, "imagefolder_rss: need --images >= %d, --workers >= 0, --batch >= 1\n", classes);
    return 2;
  }
  // A marker names what was generated, so a folder of another size is made again.
  const fs::path root(dir), train = root / "train";
  const std::string marker = std::to_string(images) + " " + std::to_string(height) + "x" + std::to_string(width);
  const fs::path marker_file = root / "generated";
  std::string have;
  if (FILE* f = std::fopen(marker_file.c_str(), "r")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, f)) have = buf;
    std::fclose(f);
  }
  if (have != marker) {
    fs::remove_all(root);
    const auto t0 = std::chrono::steady_clock::now();
    generate(train, images, classes, height, width);
    FILE* f = std::fopen(marker_file.c_str(), "w");
    std::fputs(marker.c_str(), f);
    std::fclose(f);
    std::printf("generated %d JPEGs of %dx%d in %s (%.1f s)\n", images, height, width, train.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  uintmax_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(train))
    if (e.is_regular_file()) bytes += e.file_size();

  const double rss_start = peak_rss_mb();
  const sf::ImageFolderSource src(train.string(), "bench/train", false);
  std::printf("images=%lld classes=%d jpeg_mb=%.1f batch=%lld workers=%d batch_mib=%.1f\n",
              static_cast<long long>(src.size()), src.num_classes(), static_cast<double>(bytes) / 1048576.0,
              static_cast<long long>(batch), workers, static_cast<double>(batch * 3 * 224 * 224 * 4) / 1048576.0);
  std::printf("peak_rss_mb_before_loading=%.1f\n", rss_start);

  sf::Pipeline train_p;
  train_p.add(std::make_unique<sf::RandomResizedCrop>(224, 224));
  train_p.add(std::make_unique<sf::HorizontalFlip>(0.5));
  sf::Pipeline eval_p;
  eval_p.add(std::make_unique<sf::ResizeShort>(256));
  eval_p.add(std::make_unique<sf::CenterCrop>(224, 224));

  stream(src, train_p, batch, workers, true);  // warms the page cache: later passes time decoding, not the disk
  const Pass t = stream(src, train_p, batch, workers, true);
  std::printf("train (random_resized_crop 224 + hflip): images_per_second=%.1f peak_rss_mb=%.1f\n",
              static_cast<double>(t.images) / t.seconds, peak_rss_mb());
  const Pass e = stream(src, eval_p, batch, workers, false);
  std::printf("eval (resize_short 256 + center_crop 224): images_per_second=%.1f peak_rss_mb=%.1f\n",
              static_cast<double>(e.images) / e.seconds, peak_rss_mb());
  return 0;
}
