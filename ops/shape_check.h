// Shape validation shared by every op's prepare(): failures name the op and the offending shape.
#pragma once
#include <span>
#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace sf {

inline void expect_inputs(const char* op, std::span<const Shape> in, size_t lo, size_t hi) {
  if (in.size() < lo || in.size() > hi)
    fail_internal(std::string("op ") + op + ": expected " + std::to_string(lo) +
                  (lo == hi ? "" : ".." + std::to_string(hi)) + " inputs, got " + std::to_string(in.size()));
}

inline void expect_rank(const char* op, const char* what, const Shape& s, size_t rank) {
  if (s.size() != rank)
    fail_internal(std::string("op ") + op + ": " + what + " must have rank " + std::to_string(rank) + ", got " +
                  to_string(s));
}

inline void expect(bool cond, const char* op, const std::string& what) {
  if (!cond) fail_internal(std::string("op ") + op + ": " + what);
}

}  // namespace sf
