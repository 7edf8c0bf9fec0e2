// File helpers. Every result file is written atomically (temp file in the same folder, fsync, rename), so
// an interrupted run never leaves a half-written summary, history or checkpoint behind.
#pragma once
#include <string>
#include <string_view>

namespace sf {

void write_file_atomic(const std::string& path, std::string_view content);
std::string read_file(const std::string& path);  // throws BadInput naming the path when unreadable
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);
// This process's peak resident memory so far (getrusage's ru_maxrss), in MiB.
double peak_rss_mib();

}  // namespace sf
