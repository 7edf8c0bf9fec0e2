// Attribute tables: one per op type, naming each attribute the op takes with its type and default. The table
// sits in the op's own header (kConv2dSchema in ops/conv2d.h, ...); find_schema() below lists them all. The
// registry validates every make_op() against the table — an unknown attribute, a value of the wrong type, a
// string outside its choices or a missing required attribute is an internal error naming op and key — and
// the kernels read their attributes through it (OpSchema::get_int, ...), so every kernel of an op, and the
// SNN converter that calls the op's own helpers (Activation::from), see the same defaults.
//
// The tables are constant data: usable from any static initialiser, no registration order to get wrong.
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/attrs.h"

namespace sf {

enum class AttrType { int64, float64, string, ints };
const char* attr_type_name(AttrType t);  // "an int", "a float", "a string", "an int list"

enum class AttrNeed {
  optional,  // absent: the default in the table
  required,  // make_op() fails without it
  derived,   // absent: the op derives it from other attributes (avgpool2d's stride = kernel)
};

struct AttrSpec {
  std::string_view name;
  AttrType type;
  AttrNeed need = AttrNeed::optional;
  double number = 0;              // default of an optional int / float attribute
  std::string_view text = {};     // default of an optional string attribute
  std::string_view choices = {};  // a string attribute's allowed values, "a|b|c"; empty: any string
};

constexpr AttrSpec int_attr(std::string_view name, int64_t def) {
  return {name, AttrType::int64, AttrNeed::optional, static_cast<double>(def)};
}
constexpr AttrSpec float_attr(std::string_view name, double def) {
  return {name, AttrType::float64, AttrNeed::optional, def};
}
constexpr AttrSpec string_attr(std::string_view name, std::string_view def, std::string_view choices = {}) {
  return {name, AttrType::string, AttrNeed::optional, 0, def, choices};
}
constexpr AttrSpec required(AttrSpec s) { return s.need = AttrNeed::required, s; }
constexpr AttrSpec derived(AttrSpec s) { return s.need = AttrNeed::derived, s; }

struct OpSchema {
  std::string_view op;
  std::span<const AttrSpec> attrs;

  const AttrSpec* find(std::string_view key) const {
    for (const auto& a : attrs)
      if (a.name == key) return &a;
    return nullptr;
  }
  // Internal error naming op and key for an attribute outside the table, a value of the wrong type (an int
  // where a float belongs is fine), a string outside its choices, or a required attribute left out.
  void validate(const Attrs& a) const;

  // Typed reads with the table's default. The key must be in the table with that type — asking for anything
  // else is a bug in the op and fails. Derived attributes take the fallback the op computed.
  int64_t get_int(const Attrs& a, std::string_view key) const;
  int64_t get_int(const Attrs& a, std::string_view key, int64_t derived_fallback) const;
  double get_float(const Attrs& a, std::string_view key) const;
  std::string get_string(const Attrs& a, std::string_view key) const;
  std::vector<int64_t> get_ints(const Attrs& a, std::string_view key) const;

 private:
  const AttrSpec& spec(std::string_view key, AttrType type) const;
};

// The table of a registered op type, or null for a type ops/ does not define (a test's own op): such a type
// takes no attributes.
const OpSchema* find_schema(std::string_view type);

}  // namespace sf
