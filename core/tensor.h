// A Tensor is float32, contiguous, row-major (NCHW for activations, OIHW for conv weights) with shared
// storage on one device. It deliberately has no strides: every op here works on dense blocks, and copies are
// explicit. A tensor may be a window of another's storage (unowned_window()): that is how the graph's memory
// planner lays many activations into one arena. Host code reads and writes through data(), which refuses device
// memory; kernels and device primitives (core/primitives.h) take raw() on their own device.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"

namespace sf {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);
std::string to_string(const Shape& s);

// Memory of one device. The CPU allocator is built in; a CUDA build registers its own.
class Allocator {
 public:
  virtual ~Allocator() = default;
  // `bytes` bytes, 64-byte aligned at least, the last `slack_bytes` of them zeroed.
  virtual void* allocate(size_t bytes, size_t slack_bytes) = 0;
  virtual void deallocate(void* p) = 0;
};
void register_allocator(Device device, Allocator* allocator);  // not owned; lives as long as the process
bool has_allocator(Device device);
Allocator* registered_allocator(Device device);  // null when none (a test wraps the CPU's to bound it)

// Owns one aligned allocation. 64-byte alignment lets oneDNN and AVX-512 loops use aligned loads, and
// kSlackFloats zeroed floats after the end let vectorised kernels over-read a row (results from the slack
// are discarded; it only saves them a scalar tail loop).
class Storage {
 public:
  static constexpr int64_t kSlackFloats = 64;
  Storage(int64_t count, Device device);
  // `count` floats of `base` from `offset` on, not keeping `base` alive: valid only while its owner keeps it.
  // The graph's memory planner cuts these out of its (shared) arena, so that replacing an arena frees the old
  // one at once rather than when every graph has moved on. The slack after a window is whatever lies there; the
  // planner zeroes it before each write.
  Storage(const Storage& base, int64_t offset, int64_t count);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  float* data() { return data_; }
  const float* data() const { return data_; }
  int64_t count() const { return count_; }
  Device device() const { return device_; }

 private:
  float* data_ = nullptr;
  int64_t count_ = 0;
  Device device_;
  bool owns_ = true;  // false for windows: data_ is base's
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(Shape shape, Device device = Device::cpu);  // uninitialised
  static Tensor zeros(Shape shape, Device device = Device::cpu);
  static Tensor full(Shape shape, float value, Device device = Device::cpu);
  static Tensor from(Shape shape, const std::vector<float>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu; }

  bool on_host() const { return device() == Device::cpu; }

  // Host memory: fails (internal error) on a tensor that lives on another device instead of handing out a
  // pointer the host cannot dereference. Copy it with to(Device::cpu) first.
  float* data() {
    if (storage_ && !on_host()) host_access_error();
    return storage_ ? storage_->data() : nullptr;
  }
  const float* data() const { return const_cast<Tensor*>(this)->data(); }
  float& operator[](int64_t i) { return data()[i]; }
  float operator[](int64_t i) const { return data()[i]; }
  // The storage's own pointer on its own device: for kernels and device primitives of that device.
  float* raw() { return storage_ ? storage_->data() : nullptr; }
  const float* raw() const { return storage_ ? storage_->data() : nullptr; }

  // A tensor of `shape` over this one's storage from float `offset` on (it must fit), not keeping that storage
  // alive (Storage's window): for memory whose owner outlives every use of the window.
  Tensor unowned_window(int64_t offset, Shape shape) const;
  Tensor clone() const;
  Tensor to(Device device) const;  // a copy on `device` (the same tensor when already there)
  void fill(float value);
  void copy_from(const Tensor& other);   // shapes must have equal numel; any devices
  std::vector<float> to_vector() const;  // host copy of the values, from any device

 private:
  [[noreturn]] void host_access_error() const;
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  int64_t numel_ = 0;
};

}  // namespace sf
