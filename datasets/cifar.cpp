#include "datasets/cifar.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"

namespace sf {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxNamesBytes = 1 << 16;  // a label-name file is a few hundred bytes

struct Part {
  std::vector<const char*> files;  // concatenated in this order
  int64_t records_per_file;
};

// What one kind's files look like.
struct Format {
  const char* dataset;  // as in dataset.name and the fetch command
  const char* folder;   // inside the archive, and the extracted folder's name
  const char* archive;
  int64_t label_bytes;
  int label_classes[2];  // per label byte: CIFAR-100's coarse (20) and fine (100)
  Part train, test;
};

const Format kCifar10{
    "cifar10",
    "cifar-10-batches-bin",
    "cifar-10-binary.tar.gz",
    1,
    {10, 0},
    {{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}, 10000},
    {{"test_batch.bin"}, 10000}};
const Format kCifar100{"cifar100", "cifar-100-binary",     "cifar-100-binary.tar.gz", 2,
                       {20, 100},  {{"train.bin"}, 50000}, {{"test.bin"}, 10000}};

const Format& format_of(CifarKind kind) { return kind == CifarKind::cifar10 ? kCifar10 : kCifar100; }

std::string fetch_hint(const Format& f, const std::string& dir) {
  const std::string def = default_dataset_dir(f.dataset);
  return std::string("run scripts/fetch_data.sh ") + f.dataset + (dir == def ? "" : " " + dir);
}

std::string with_commas(int64_t v) {
  const std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && digits[i - 1] != '-' && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// The size check shared by files and archive members, made before anything is read.
void check_size(const Format& f, int64_t size, int64_t records, const std::string& what) {
  const int64_t rec = f.label_bytes + kCifarPixels;
  const std::string expected = records > 0 ? "expected " + with_commas(records * rec) + " bytes (" +
                                                 with_commas(records) + " records of " + std::to_string(rec) + " bytes)"
                                           : "expected a whole number of " + std::to_string(rec) + "-byte records";
  if (size % rec != 0 || size == 0)
    fail_input(what, with_commas(size) + " bytes is not a whole number of " + std::to_string(rec) +
                         "-byte records: truncated or not a " + f.dataset + " binary file; " + expected);
  if (records > 0 && size != records * rec)
    fail_input(what, std::string(size < records * rec ? "truncated: " : "too long: ") + with_commas(size) + " bytes (" +
                         with_commas(size / rec) + " records), " + expected);
}

void check_labels(const Format& f, const uint8_t* data, int64_t size, const std::string& what) {
  const int64_t rec = f.label_bytes + kCifarPixels;
  for (int64_t r = 0; r < size / rec; ++r)
    for (int64_t k = 0; k < f.label_bytes; ++k) {
      const int v = data[r * rec + k];
      const int classes = f.label_classes[k];
      if (v >= classes)
        fail_input(what, "record " + std::to_string(r) + " has " +
                             (f.label_bytes == 2 ? std::string(k == 0 ? "coarse " : "fine ") : std::string()) +
                             "label " + std::to_string(v) + ", outside [0, " + std::to_string(classes) + ")");
    }
}

// Label-name files: one name per line; blank lines (the files end with some) and surrounding spaces ignored.
std::vector<std::string> parse_names(const std::string& text, size_t expected, const std::string& what) {
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    const auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos) names.push_back(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
    start = end + 1;
  }
  if (names.size() != expected)
    fail_input(what, "has " + std::to_string(names.size()) + " class names, expected " + std::to_string(expected) +
                         " (one per line)");
  return names;
}

// One file the loader needs, and where its bytes go: record files into their slot of a split's buffer (members
// may come in any order in an archive), label-name files into `text`.
struct Wanted {
  std::string name;                       // inside the folder
  std::vector<uint8_t>* split = nullptr;  // record files: their split's buffer, of split_bytes once in use
  int64_t split_bytes = 0, offset = 0;
  int64_t records = 0;  // record files: the count expected
  std::string* text = nullptr;
  bool found = false;
  // The split's buffer is allocated when its first file has passed the size check, so that a wrong file (or a
  // fuzzer's input) costs no 150 MB allocation.
  char* destination(int64_t size) {
    if (text) {
      text->resize(static_cast<size_t>(size));
      return text->data();
    }
    if (split->empty()) split->resize(static_cast<size_t>(split_bytes));
    return reinterpret_cast<char*>(split->data() + offset);
  }
};

struct Plan {
  std::vector<uint8_t> train, test;
  std::string names;  // the label-name file of the label used
  std::vector<Wanted> wanted;
};

const char* names_file(const Format& f, int64_t label_byte) {
  if (f.label_bytes == 1) return "batches.meta.txt";
  return label_byte == 0 ? "coarse_label_names.txt" : "fine_label_names.txt";
}

Plan make_plan(const Format& f, int64_t label_byte) {
  Plan p;
  const int64_t rec = f.label_bytes + kCifarPixels;
  for (auto [part, buf] : {std::pair{&f.train, &p.train}, std::pair{&f.test, &p.test}}) {
    const int64_t file_bytes = part->records_per_file * rec;
    for (size_t i = 0; i < part->files.size(); ++i) {
      Wanted w;
      w.name = part->files[i];
      w.split = buf;
      w.split_bytes = static_cast<int64_t>(part->files.size()) * file_bytes;
      w.offset = static_cast<int64_t>(i) * file_bytes;
      w.records = part->records_per_file;
      p.wanted.push_back(w);
    }
  }
  Wanted names;
  names.name = names_file(f, label_byte);
  names.text = &p.names;
  p.wanted.push_back(names);
  return p;
}

void read_folder(const Format& f, const std::string& dir, Plan& p, const std::string& hint) {
  // Every file is checked before any is read: a bad last batch fails at once.
  std::vector<int64_t> sizes;
  for (const Wanted& w : p.wanted) {
    const std::string path = (fs::path(dir) / w.name).string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) fail_input(path, "missing (" + hint + ")");
    const auto size = static_cast<int64_t>(fs::file_size(path, ec));
    if (ec) fail_input(path, "cannot read its size: " + ec.message());
    if (w.text && size > kMaxNamesBytes) fail_input(path, "is " + with_commas(size) + " bytes: not a label-name file");
    if (!w.text) check_size(f, size, w.records, path);
    sizes.push_back(size);
  }
  for (size_t i = 0; i < p.wanted.size(); ++i) {
    Wanted& w = p.wanted[i];
    const std::string path = (fs::path(dir) / w.name).string();
    std::ifstream in(path, std::ios::binary);
    if (!in.read(w.destination(sizes[i]), sizes[i])) fail_input(path, "read error (the file shrank while being read?)");
    w.found = true;
  }
}

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};

std::string archive_message(archive* a) {
  const char* m = archive_error_string(a);
  return std::string("libarchive: ") + (m ? m : "unknown error");
}

void read_archive(const Format& f, const std::string& path, Plan& p) {
  std::unique_ptr<archive, ArchiveCloser> a(archive_read_new());
  if (!a) fail_internal("archive_read_new failed");
  // Only what the CIFAR archives use: tar, gzip-compressed or not.
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) != ARCHIVE_OK)
    fail_input(path, "cannot open as a .tar.gz archive (" + archive_message(a.get()) + ")");
  const std::string prefix = std::string(f.folder) + "/";
  size_t found = 0;
  bool python_version = false;
  archive_entry* entry = nullptr;
  int r = ARCHIVE_OK;
  while (found < p.wanted.size() &&
         ((r = archive_read_next_header(a.get(), &entry)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
    std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    while (name.starts_with("./")) name.erase(0, 2);
    if (name.find("-batches-py/") != std::string::npos || name.starts_with("cifar-100-python/")) python_version = true;
    if (archive_entry_filetype(entry) != AE_IFREG || !name.starts_with(prefix)) continue;
    const auto it = std::find_if(p.wanted.begin(), p.wanted.end(),
                                 [&](const Wanted& w) { return !w.found && prefix + w.name == name; });
    if (it == p.wanted.end()) continue;
    const std::string what = path + ": " + name;
    const int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1;
    if (it->text && (size < 0 || size > kMaxNamesBytes))
      fail_input(what, "is not a label-name file (size " + std::to_string(size) + ")");
    if (!it->text) check_size(f, size, it->records, what);
    char* dst = it->destination(size);
    int64_t got = 0;
    while (got < size) {
      const la_ssize_t n = archive_read_data(a.get(), dst + got, static_cast<size_t>(size - got));
      if (n < 0) fail_input(what, "corrupt or truncated archive (" + archive_message(a.get()) + ")");
      if (n == 0) break;
      got += n;
    }
    if (got < size)
      fail_input(what,
                 "truncated: the archive ends after " + with_commas(got) + " of its " + with_commas(size) + " bytes");
    it->found = true;
    ++found;
  }
  if (found < p.wanted.size() && r != ARCHIVE_EOF)
    fail_input(path, "corrupt or truncated archive (" + archive_message(a.get()) + ")");
  for (const Wanted& w : p.wanted)
    if (!w.found)
      fail_input(path, "has no " + prefix + w.name +
                           (python_version ? " (this is the Python-pickle release; spikeforge reads the binary one, " +
                                                 std::string(f.archive) + ")"
                                           : " (expected the binary release " + std::string(f.archive) + ")"));
}

bool is_dir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool is_file(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

CifarSource::CifarSource(std::string name, std::vector<uint8_t> records, int64_t label_bytes, int64_t label_offset,
                         int classes, std::vector<std::string> class_names)
    : name_(std::move(name)),
      records_(std::move(records)),
      record_size_(label_bytes + kCifarPixels),
      label_offset_(label_offset),
      size_(static_cast<int64_t>(records_.size()) / record_size_),
      classes_(classes),
      class_names_(std::move(class_names)) {
  if (static_cast<int64_t>(records_.size()) % record_size_ != 0 || label_offset < 0 || label_offset >= label_bytes)
    fail_internal("CifarSource " + name_ + ": records of " + std::to_string(records_.size()) + " bytes");
}

void CifarSource::read(int64_t index, float* pixels, int32_t* label) const {
  if (index < 0 || index >= size_)
    fail_internal("CifarSource " + name_ + ": sample " + std::to_string(index) + " out of range [0, " +
                  std::to_string(size_) + ")");
  const uint8_t* rec = records_.data() + index * record_size_;
  *label = rec[label_offset_];
  const uint8_t* px = rec + (record_size_ - kCifarPixels);
  for (int64_t j = 0; j < kCifarPixels; ++j) pixels[j] = static_cast<float>(px[j]) / 255.0f;
}

void check_cifar_records(CifarKind kind, const uint8_t* data, int64_t size, int64_t records, const std::string& what) {
  const Format& f = format_of(kind);
  check_size(f, size, records, what);
  check_labels(f, data, size, what);
}

CifarData load_cifar(CifarKind kind, const std::string& path, const std::string& label) {
  const Format& f = format_of(kind);
  if (label != "fine" && label != "coarse") fail_input("label", "expected fine or coarse, got '" + label + "'");
  const std::string dir = path.empty() ? default_dataset_dir(f.dataset) : path;
  const std::string hint = fetch_hint(f, dir);
  const std::string first = f.train.files[0];
  const int64_t byte = f.label_bytes == 2 && label == "fine" ? 1 : 0;  // CIFAR-100: coarse byte, then fine
  Plan p = make_plan(f, byte);
  CifarData out;
  // Extracted files read fastest, so they win over an archive beside them.
  if (is_file(dir)) {
    out.origin = dir;
    read_archive(f, dir, p);
  } else if (is_file((fs::path(dir) / first).string())) {
    out.origin = dir;
    read_folder(f, dir, p, hint);
  } else if (is_dir((fs::path(dir) / f.folder).string())) {
    out.origin = (fs::path(dir) / f.folder).string();
    read_folder(f, out.origin, p, hint);
  } else if (is_file((fs::path(dir) / f.archive).string())) {
    out.origin = (fs::path(dir) / f.archive).string();
    read_archive(f, out.origin, p);
  } else {
    fail_input(dir, (is_dir(dir) ? std::string("holds neither ") + f.folder + "/ nor " + f.archive
                                 : std::string("missing (expected ") + f.folder + "/ or " + f.archive + " in it)") +
                        "; " + hint);
  }

  const bool archived = is_file(out.origin);
  auto where = [&](const std::string& name) {
    return archived ? out.origin + ": " + f.folder + "/" + name : (fs::path(out.origin) / name).string();
  };
  const int64_t rec = f.label_bytes + kCifarPixels;
  for (auto [part, buf] : {std::pair{&f.train, &p.train}, std::pair{&f.test, &p.test}})
    for (size_t i = 0; i < part->files.size(); ++i)
      check_labels(f, buf->data() + i * part->records_per_file * rec, part->records_per_file * rec,
                   where(part->files[i]));
  const int classes = f.label_classes[byte];
  std::vector<std::string> names = parse_names(p.names, static_cast<size_t>(classes), where(names_file(f, byte)));
  out.train = std::make_unique<CifarSource>(std::string(f.dataset) + "/train", std::move(p.train), f.label_bytes, byte,
                                            classes, names);
  out.test = std::make_unique<CifarSource>(std::string(f.dataset) + "/test", std::move(p.test), f.label_bytes, byte,
                                           classes, std::move(names));
  return out;
}

}  // namespace sf
