// Op and layer attributes as data (name → number), so that layers stored in a checkpoint or built from
// YAML can be walked by the converter without knowing C++ types.
#pragma once
#include <cmath>
#include <map>
#include <string>

#include "core/error.h"

namespace sf {

class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, double>> init) : values_(init) {}

  Attrs& set(const std::string& key, double value) {
    values_[key] = value;
    return *this;
  }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  double get(const std::string& key, double fallback) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second;
  }
  double require(const std::string& key, const std::string& owner) const {
    auto it = values_.find(key);
    if (it == values_.end()) fail_internal(owner + ": missing attribute '" + key + "'");
    return it->second;
  }
  int64_t get_int(const std::string& key, int64_t fallback) const {
    return static_cast<int64_t>(std::llround(get(key, static_cast<double>(fallback))));
  }
  const std::map<std::string, double>& values() const { return values_; }
  bool operator==(const Attrs&) const = default;

 private:
  std::map<std::string, double> values_;
};

}  // namespace sf
