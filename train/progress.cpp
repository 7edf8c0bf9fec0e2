#include "train/progress.h"

#include <cmath>
#include <string>

namespace sf {

void ConsoleProgress::epoch_begin(int epoch, int epochs, int64_t) {
  epoch_ = epoch, epochs_ = epochs;
  last_draw_ = {};
}

void ConsoleProgress::batch_end(int64_t done, int64_t batches, double loss, double acc, double ips) {
  if (!terminal_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done != batches && now - last_draw_ < std::chrono::milliseconds(100)) return;  // ~10 redraws/s
  last_draw_ = now;
  constexpr int width = 30;
  const int filled = static_cast<int>(width * done / batches);
  std::string bar(filled, '=');
  if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
  std::fprintf(out_, "\r\033[Kepoch %d/%d [%s] %lld/%lld loss %.4f acc %.4f %.0f img/s", epoch_, epochs_, bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(batches), loss, acc, ips);
  std::fflush(out_);
}

void ConsoleProgress::epoch_end(const EpochStats& s) {
  if (terminal_) std::fprintf(out_, "\r\033[K");
  std::fprintf(out_, "epoch %d/%d loss=%.5f acc=%.4f", s.epoch, epochs_, s.loss, s.acc);
  if (!std::isnan(s.val_acc)) std::fprintf(out_, " val_loss=%.5f val_acc=%.4f", s.val_loss, s.val_acc);
  std::fprintf(out_, " %.2fs %.0f img/s\n", s.seconds, s.images_per_second);
  std::fflush(out_);
}

}  // namespace sf
