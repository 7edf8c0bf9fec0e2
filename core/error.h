// Typed errors: every failure a user can cause carries where it came from (file, line, key or op),
// so the CLI can print one line and exit 2 instead of crashing or writing garbage.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace sf {

enum class ErrorKind {
  BadInput,  // a config, data file, checkpoint or flag the user gave is wrong → exit 2
  Numeric,   // NaN/Inf during training → exit 3
  Internal,  // a bug or an unsupported combination inside spikeforge → exit 1
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  // Raised alike by every rank of a distributed run (a check on data they all hold): each rank reports it and
  // exits, rather than one rank aborting the others before they have said why.
  bool every_rank() const { return every_rank_; }
  Error&& on_every_rank() && {
    every_rank_ = true;
    return std::move(*this);
  }

 private:
  ErrorKind kind_;
  bool every_rank_ = false;
};

// A device (or the host) could not hold an allocation: BadInput, since a smaller batch or net fixes it. Callers
// that know which layer and batch asked catch it and say so (Graph, Trainer).
class OutOfMemory final : public Error {
 public:
  explicit OutOfMemory(std::string message) : Error(ErrorKind::BadInput, std::move(message)) {}
};

// Helpers that format the location prefix consistently across the code base.
[[noreturn]] inline void fail_input(const std::string& where, const std::string& what) {
  throw Error(ErrorKind::BadInput, where.empty() ? what : where + ": " + what);
}
[[noreturn]] inline void fail_internal(const std::string& what) { throw Error(ErrorKind::Internal, what); }

inline int exit_code(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::BadInput:
      return 2;
    case ErrorKind::Numeric:
      return 3;
    case ErrorKind::Internal:
      return 1;
  }
  return 1;
}

}  // namespace sf
