// Recording a device's queued work once and replaying it (CUDA graphs). A training step of a small net is
// bound by kernel-launch overhead: one replay launches every kernel of the step at once. Device-neutral, so
// that the trainer, which no CUDA header reaches, drives it; a device that cannot record registers nothing.
#pragma once
#include <functional>
#include <memory>
#include <stdexcept>

#include "core/device.h"

namespace sf {

class CapturedWork {
 public:
  virtual ~CapturedWork() = default;
  virtual void replay() = 0;  // queues the recorded work again, as `work` queued it
};

// Work a capture could not record: it allocated device memory, waited for the device, or made a library call
// that a graph cannot hold. The work did not run; the caller runs it as it is. what() says why.
class CaptureFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Records the device work that `work` queues, without running it, or throws CaptureFailed: when `work` throws
// (whatever it throws), when the device refuses a call while recording, or when `work` frees device memory.
// Every value that changes from one replay to the next must be read from device memory: what `work` passes
// by value (a kernel argument, an address) is fixed at capture.
using Capturer = std::unique_ptr<CapturedWork> (*)(const std::function<void()>& work);

Capturer capturer(Device device);                   // null where `device` registered none (the CPU)
void register_capturer(Device device, Capturer c);  // c null: none

}  // namespace sf
