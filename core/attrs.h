// Op and layer attributes as data (name → typed value), so that layers stored in a checkpoint or built from
// YAML can be walked by the converter without knowing C++ types. A value is an integer, a float, a string or
// a list of integers; each op's attribute table (ops/op_schema.h) says which, and make_op() checks it.
// Integers stay integers (stride, kernel, bits): nothing is rounded back from a double.
#pragma once
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.h"

namespace sf {

// An int literal selects int64_t and a floating one double (std::variant's converting constructor skips
// narrowing conversions), a string literal std::string; lists are spelled std::vector<int64_t>{...}.
using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>>;

inline const char* attr_type_name(const AttrValue& v) {
  static const char* const names[] = {"an int", "a float", "a string", "an int list"};
  return names[v.index()];
}

// 3, 0.5, "conv2d", [1, 2]; numbers as std::to_string would not (0.5, not 0.500000).
inline std::string attr_to_string(const AttrValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", *d);
    return buf;
  }
  if (const auto* s = std::get_if<std::string>(&v)) return "\"" + *s + "\"";
  std::string out = "[";
  for (int64_t x : std::get<std::vector<int64_t>>(v)) out += (out.size() > 1 ? ", " : "") + std::to_string(x);
  return out + "]";
}

class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> init) : values_(init) {}

  Attrs& set(const std::string& key, AttrValue value) {
    values_[key] = std::move(value);
    return *this;
  }
  Attrs& erase(const std::string& key) {
    values_.erase(key);
    return *this;
  }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  const AttrValue* find(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : &it->second;
  }

  // Typed reads: `fallback` when the key is absent; an internal error naming `op` (the op or layer type the
  // attributes belong to) and the key when it holds another type. An int reads as a float (widened); nothing
  // else converts — a float where an int belongs is an error, not a rounding.
  int64_t get_int(const std::string& key, int64_t fallback, std::string_view op = {}) const {
    const AttrValue* v = find(key);
    if (!v) return fallback;
    if (const auto* i = std::get_if<int64_t>(v)) return *i;
    mismatch(key, *v, "an int", op);
  }
  double get_float(const std::string& key, double fallback, std::string_view op = {}) const {
    const AttrValue* v = find(key);
    if (!v) return fallback;
    if (const auto* d = std::get_if<double>(v)) return *d;
    if (const auto* i = std::get_if<int64_t>(v)) return static_cast<double>(*i);
    mismatch(key, *v, "a float", op);
  }
  double get(const std::string& key, double fallback, std::string_view op = {}) const {
    return get_float(key, fallback, op);
  }
  std::string get_string(const std::string& key, std::string fallback, std::string_view op = {}) const {
    const AttrValue* v = find(key);
    if (!v) return fallback;
    if (const auto* s = std::get_if<std::string>(v)) return *s;
    mismatch(key, *v, "a string", op);
  }
  std::vector<int64_t> get_ints(const std::string& key, std::vector<int64_t> fallback, std::string_view op = {}) const {
    const AttrValue* v = find(key);
    if (!v) return fallback;
    if (const auto* l = std::get_if<std::vector<int64_t>>(v)) return *l;
    mismatch(key, *v, "an int list", op);
  }
  double require(const std::string& key, const std::string& owner) const {
    if (!has(key)) fail_internal(owner + ": missing attribute '" + key + "'");
    return get_float(key, 0.0, owner);
  }

  const std::map<std::string, AttrValue>& values() const { return values_; }
  bool operator==(const Attrs&) const = default;

  // "pad=0, stride=1" (sorted by name), for error messages.
  std::string str() const {
    std::string out;
    for (const auto& [k, v] : values_) out += (out.empty() ? "" : ", ") + k + "=" + attr_to_string(v);
    return out;
  }

 private:
  [[noreturn]] static void mismatch(const std::string& key, const AttrValue& v, const char* want, std::string_view op) {
    fail_internal((op.empty() ? std::string() : "op '" + std::string(op) + "': ") + "attribute '" + key + "' is " +
                  attr_type_name(v) + " (" + attr_to_string(v) + "), expected " + want);
  }
  std::map<std::string, AttrValue> values_;
};

}  // namespace sf
