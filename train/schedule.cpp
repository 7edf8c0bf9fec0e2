#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/enum_names.h"

namespace sf {
namespace {
constexpr std::pair<ScheduleType, const char*> kScheduleNames[] = {{ScheduleType::step, "step"},
                                                                   {ScheduleType::cosine, "cosine"}};
}  // namespace

const char* schedule_type_name(ScheduleType t) { return name_of(kScheduleNames, t); }
ScheduleType parse_schedule_type(const std::string& name, const std::string& where) {
  return parse_name(kScheduleNames, name, where, "schedule");
}

double schedule_factor(const ScheduleSpec& s, int epoch, int64_t step, int64_t steps_per_epoch, int epochs) {
  const int64_t t = static_cast<int64_t>(epoch) * steps_per_epoch + step;  // global step
  const auto warmup = static_cast<int64_t>(std::llround(s.warmup_epochs * static_cast<double>(steps_per_epoch)));
  if (t < warmup) return static_cast<double>(t + 1) / static_cast<double>(warmup);
  if (s.type == ScheduleType::step) return std::pow(s.factor, epoch / std::max(1, s.every));
  const int64_t total = std::max<int64_t>(1, static_cast<int64_t>(epochs) * steps_per_epoch - warmup);
  const double progress = std::min(1.0, static_cast<double>(t - warmup) / static_cast<double>(total));
  return s.min_factor + (1.0 - s.min_factor) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace sf
