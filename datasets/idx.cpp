#include "datasets/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "core/error.h"

namespace sf {
namespace {

struct GzClose {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzPtr = std::unique_ptr<gzFile_s, GzClose>;

std::string dtype_name(unsigned code) {
  switch (code) {
    case 0x08:
      return "0x08 (unsigned byte)";
    case 0x09:
      return "0x09 (signed byte)";
    case 0x0B:
      return "0x0B (int16)";
    case 0x0C:
      return "0x0C (int32)";
    case 0x0D:
      return "0x0D (float32)";
    case 0x0E:
      return "0x0E (float64)";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%02X (unknown)", code);
      return buf;
    }
  }
}

bool has_gzip_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char m[2] = {0, 0};
  in.read(reinterpret_cast<char*>(m), 2);
  return in.gcount() == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

// Reads up to n bytes; returns how many arrived. A zlib error (corrupt or cut-off gzip stream) is
// reported here because gzread's -1 would otherwise look like an ordinary short read.
int64_t read_some(gzFile f, uint8_t* dst, int64_t n, const std::string& path, bool gz) {
  int64_t got = 0;
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - got, int64_t{1} << 24));
    const int r = gzread(f, dst + got, chunk);
    if (r < 0) {
      int errnum = 0;
      std::string msg = gzerror(f, &errnum);
      if (msg.starts_with(path + ": ")) msg.erase(0, path.size() + 2);  // zlib prefixes the path itself
      fail_input(path, std::string(gz ? "corrupt or truncated gzip data" : "read error") + " (zlib: " + msg + ")");
    }
    if (r == 0) break;
    got += r;
  }
  return got;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail_input(path, "missing");
  if (!std::filesystem::is_regular_file(path, ec)) fail_input(path, "not a regular file");

  const bool gz = has_gzip_magic(path);
  // gzread also passes raw files through unchanged, so one code path serves both encodings.
  GzPtr f(gzopen(path.c_str(), "rb"));
  if (!f) fail_input(path, "cannot open for reading");
  gzbuffer(f.get(), 1u << 20);  // fewer syscalls for 47 MB files

  uint8_t head[4];
  const int64_t got_head = read_some(f.get(), head, 4, path, gz);
  if (got_head < 4) fail_input(path, "truncated: file ends inside the 4-byte IDX header");
  if (head[0] != 0 || head[1] != 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "bad magic %02x %02x %02x %02x (an IDX file starts with 00 00)", head[0], head[1],
                  head[2], head[3]);
    fail_input(path, buf);
  }
  if (head[2] != 0x08)
    fail_input(path, "unsupported IDX dtype " + dtype_name(head[2]) + "; only 0x08 (unsigned byte) is supported");
  const int ndim = head[3];
  if (ndim < 1 || ndim > 4) fail_input(path, "unsupported IDX rank " + std::to_string(ndim) + " (expected 1 to 4)");

  uint8_t raw_dims[16];
  if (read_some(f.get(), raw_dims, 4 * ndim, path, gz) < 4 * ndim)
    fail_input(path, "truncated: file ends inside the dimension list");

  IdxArray out;
  int64_t expected = 1;
  for (int i = 0; i < ndim; ++i) {
    const uint8_t* p = raw_dims + 4 * i;
    const int64_t d = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | int64_t{p[3]};
    if (d == 0) fail_input(path, "dimension " + std::to_string(i) + " is zero");
    // Cap the product so a corrupt header fails by message rather than by overflow or a huge allocation.
    if (expected > (int64_t{1} << 40) / d) fail_input(path, "implausibly large dimensions in the IDX header");
    expected *= d;
    out.dims.push_back(d);
  }

  // For raw files the size is known up front: check it before allocating anything.
  const int64_t header = 4 + 4 * ndim;
  if (!gz) {
    const int64_t fsize = static_cast<int64_t>(std::filesystem::file_size(path, ec));
    if (!ec && fsize - header < expected)
      fail_input(path, "truncated: expected " + std::to_string(expected) + " bytes of data, found " +
                           std::to_string(fsize - header));
  }

  // Grow in chunks for gzip input so a lying header can't make us allocate far more than the file holds.
  int64_t got = 0;
  out.data.reserve(static_cast<size_t>(gz ? std::min<int64_t>(expected, int64_t{1} << 26) : expected));
  while (got < expected) {
    const int64_t n = std::min<int64_t>(expected - got, int64_t{1} << 26);
    out.data.resize(static_cast<size_t>(got + n));
    const int64_t r = read_some(f.get(), out.data.data() + got, n, path, gz);
    got += r;
    if (r < n) break;
  }
  if (got < expected)
    fail_input(path,
               "truncated: expected " + std::to_string(expected) + " bytes of data, found " + std::to_string(got));

  uint8_t extra[4096];
  int64_t trailing = 0;
  for (int64_t r; (r = read_some(f.get(), extra, sizeof extra, path, gz)) > 0;) trailing += r;
  if (trailing > 0)
    fail_input(path, std::to_string(trailing) + " bytes of trailing data after the " + std::to_string(expected) +
                         " bytes the header describes");
  return out;
}

}  // namespace sf
