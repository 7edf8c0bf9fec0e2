// Enum ↔ name tables for options that users spell on the command line (neuron models, encodings, ...):
// one table per enum gives both directions and the list of choices for the error message.
#pragma once
#include <string>
#include <utility>

#include "core/error.h"

namespace sf {

template <class E, size_t N>
const char* name_of(const std::pair<E, const char*> (&table)[N], E value) {
  for (const auto& [e, name] : table)
    if (e == value) return name;
  return "?";
}

// BadInput "<flag>: unknown <what> 'x' (a, b, c)" when `s` is not in the table.
template <class E, size_t N>
E parse_name(const std::pair<E, const char*> (&table)[N], const std::string& s, const std::string& flag,
             const std::string& what) {
  std::string choices;
  for (const auto& [e, name] : table) {
    if (s == name) return e;
    choices += (choices.empty() ? "" : ", ") + std::string(name);
  }
  fail_input(flag, "unknown " + what + " '" + s + "' (" + choices + ")");
}

}  // namespace sf
