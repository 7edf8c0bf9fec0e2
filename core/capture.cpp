#include "core/capture.h"

#include <array>

namespace sf {
namespace {
std::array<Capturer, 2>& capturers() {
  static std::array<Capturer, 2> table{};
  return table;
}
size_t index_of(Device device) { return device == Device::cpu ? 0 : 1; }
}  // namespace

Capturer capturer(Device device) { return capturers()[index_of(device)]; }
void register_capturer(Device device, Capturer c) { capturers()[index_of(device)] = c; }

}  // namespace sf
