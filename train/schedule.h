// Learning-rate schedules: the factor on train.optimizer.lr at every step. Keras's time-based `decay` (in the
// optimiser) multiplies on top.
//   step    lr × factor^⌊epoch / every⌋ (Liu's and the seed's ImageNet recipe: × 0.96 every 7 epochs);
//           factor 1 is a constant rate
//   cosine  lr × ½(1 + cos(π · t / T)) over the steps after the warmup, down to lr × min_factor
//           (Loshchilov & Hutter 2017, without restarts)
// Either may start with a linear warmup over `warmup_epochs` (Goyal et al. 2017): step s of the warmup runs at
// lr × (s + 1) / warmup_steps, so the first step already trains.
#pragma once
#include <cstdint>
#include <string>

namespace sf {

enum class ScheduleType { step, cosine };

struct ScheduleSpec {
  ScheduleType type = ScheduleType::step;
  double factor = 1.0;  // step: multiplier every `every` epochs
  int every = 1;
  double warmup_epochs = 0;  // may be fractional
  double min_factor = 0.0;   // cosine: the floor, as a fraction of lr
};

const char* schedule_type_name(ScheduleType t);
ScheduleType parse_schedule_type(const std::string& name, const std::string& where);

// The factor for step `step` (0-based) of epoch `epoch` (0-based, counted from the start of the schedule),
// with `steps_per_epoch` steps in every epoch and `epochs` epochs in all.
double schedule_factor(const ScheduleSpec& s, int epoch, int64_t step, int64_t steps_per_epoch, int epochs);

}  // namespace sf
