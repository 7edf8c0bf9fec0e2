// Shared by the libFuzzer targets in this folder (built with -DSPIKEFORGE_FUZZ=ON, run by scripts/fuzz.sh).
// A reader fed arbitrary bytes may fail only with sf::Error of kind BadInput: that is the one-line, exit-2
// message a user sees. Any other error kind, any foreign exception (yaml-cpp, std::bad_alloc, ...) and any
// crash or sanitizer report is a finding; the first two abort here, after printing what escaped.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace sf::fuzz {

template <class F>
void expect_bad_input_only(F&& read) {
  try {
    read();
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::BadInput) return;
    std::fprintf(stderr, "fuzz finding: sf::Error of kind %s, expected BadInput: %s\n",
                 e.kind() == ErrorKind::Numeric ? "Numeric" : "Internal", e.what());
    std::abort();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz finding: untyped exception escaped the reader: %s\n", e.what());
    std::abort();
  }
}

// The readers take paths, so each input is written to one scratch file per process (removed at exit).
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& name)
      : path_((std::filesystem::temp_directory_path() /
               ("spikeforge_fuzz_" + std::to_string(::getpid()) + "_" + name))
                  .string()) {}
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  const std::string& write(const void* data, size_t size) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace sf::fuzz
