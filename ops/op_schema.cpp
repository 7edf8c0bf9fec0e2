#include "ops/op_schema.h"

#include "ops/activation.h"
#include "ops/batchnorm.h"
#include "ops/conv2d.h"
#include "ops/dense.h"
#include "ops/dropout.h"
#include "ops/flatten.h"
#include "ops/global_avgpool.h"
#include "ops/log_quantize.h"
#include "ops/loss.h"
#include "ops/noisy_softplus_liu.h"
#include "ops/pool2d.h"
#include "ops/qcfs.h"
#include "ops/to_nhwc.h"

namespace sf {

const char* attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::int64:
      return "an int";
    case AttrType::float64:
      return "a float";
    case AttrType::string:
      return "a string";
    case AttrType::ints:
      return "an int list";
  }
  return "?";
}

namespace {

bool has_type(const AttrValue& v, AttrType t) {
  switch (t) {
    case AttrType::int64:
      return std::holds_alternative<int64_t>(v);
    case AttrType::float64:  // an int is a float too (2 for 2.0)
      return std::holds_alternative<double>(v) || std::holds_alternative<int64_t>(v);
    case AttrType::string:
      return std::holds_alternative<std::string>(v);
    case AttrType::ints:
      return std::holds_alternative<std::vector<int64_t>>(v);
  }
  return false;
}

bool in_choices(std::string_view value, std::string_view choices) {
  while (!choices.empty()) {
    const size_t bar = choices.find('|');
    if (choices.substr(0, bar) == value) return true;
    if (bar == std::string_view::npos) break;
    choices.remove_prefix(bar + 1);
  }
  return false;
}

std::string names(const OpSchema& s) {
  std::string out;
  for (const auto& a : s.attrs) out += (out.empty() ? "" : ", ") + std::string(a.name);
  return out.empty() ? "it takes none" : "it takes " + out;
}

}  // namespace

void OpSchema::validate(const Attrs& a) const {
  const std::string where = "op '" + std::string(op) + "': ";
  for (const auto& [key, value] : a.values()) {
    const AttrSpec* s = find(key);
    if (!s) fail_internal(where + "unknown attribute '" + key + "' (" + names(*this) + ")");
    if (!has_type(value, s->type))
      fail_internal(where + "attribute '" + key + "' is " + attr_type_name(value) + " (" + attr_to_string(value) +
                    "), expected " + attr_type_name(s->type));
    if (s->type == AttrType::string && !s->choices.empty() && !in_choices(std::get<std::string>(value), s->choices))
      fail_internal(where + "attribute '" + key + "' is " + attr_to_string(value) + ", expected one of " +
                    std::string(s->choices));
  }
  for (const auto& s : attrs)
    if (s.need == AttrNeed::required && !a.has(std::string(s.name)))
      fail_internal(where + "attribute '" + std::string(s.name) + "' is required");
}

const AttrSpec& OpSchema::spec(std::string_view key, AttrType type) const {
  const AttrSpec* s = find(key);
  if (!s || s->type != type)
    fail_internal("op '" + std::string(op) + "' reads attribute '" + std::string(key) + "' as " + attr_type_name(type) +
                  (s ? ", but its table says " + std::string(attr_type_name(s->type)) : ", which its table lacks"));
  return *s;
}

int64_t OpSchema::get_int(const Attrs& a, std::string_view key) const {
  const AttrSpec& s = spec(key, AttrType::int64);
  const std::string k(key);
  if (s.need != AttrNeed::optional && !a.has(k))
    fail_internal("op '" + std::string(op) + "': attribute '" + k + "' is required");
  return a.get_int(k, static_cast<int64_t>(s.number), op);
}

int64_t OpSchema::get_int(const Attrs& a, std::string_view key, int64_t derived_fallback) const {
  spec(key, AttrType::int64);
  return a.get_int(std::string(key), derived_fallback, op);
}

double OpSchema::get_float(const Attrs& a, std::string_view key) const {
  const AttrSpec& s = spec(key, AttrType::float64);
  const std::string k(key);
  if (s.need != AttrNeed::optional && !a.has(k))
    fail_internal("op '" + std::string(op) + "': attribute '" + k + "' is required");
  return a.get_float(k, s.number, op);
}

std::string OpSchema::get_string(const Attrs& a, std::string_view key) const {
  const AttrSpec& s = spec(key, AttrType::string);
  const std::string k(key);
  if (s.need != AttrNeed::optional && !a.has(k))
    fail_internal("op '" + std::string(op) + "': attribute '" + k + "' is required");
  return a.get_string(k, std::string(s.text), op);
}

std::vector<int64_t> OpSchema::get_ints(const Attrs& a, std::string_view key) const {
  const AttrSpec& s = spec(key, AttrType::ints);
  const std::string k(key);
  if (s.need != AttrNeed::optional && !a.has(k))
    fail_internal("op '" + std::string(op) + "': attribute '" + k + "' is required");
  return a.get_ints(k, {}, op);
}

const OpSchema* find_schema(std::string_view type) {
  static constexpr const OpSchema* kSchemas[] = {
      &kConv2dSchema,           &kAvgPool2dSchema,     &kDenseSchema,     &kFlattenSchema, &kLogQuantizeSchema,
      &kNoisySoftplusLiuSchema, &kGlobalAvgPoolSchema, &kBatchNormSchema, &kDropoutSchema, &kToNhwcSchema,
      &kQcfsSchema};
  for (const OpSchema* s : kSchemas)
    if (s->op == type) return s;
  for (const ActivationType& a : kActivations)
    if (a.schema->op == type) return a.schema;
  for (const OpSchema& s : kLosses)
    if (s.op == type) return &s;
  return nullptr;
}

}  // namespace sf
