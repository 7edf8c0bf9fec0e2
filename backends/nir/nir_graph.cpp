#include "backends/nir/nir_graph.h"

#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <utility>

#include "core/distributed.h"
#include "core/error.h"

namespace sf::nir {

namespace {
template <class It>
Field numeric(Field::Kind kind, Shape dims, It begin, It end) {
  Field f;
  f.kind = kind;
  f.dims = std::move(dims);
  f.numbers.assign(begin, end);
  return f;
}
}  // namespace

Field Field::f32(Shape dims, const std::vector<float>& v) {
  return numeric(Kind::f32, std::move(dims), v.begin(), v.end());
}
Field Field::f64(Shape dims, std::vector<double> v) { return numeric(Kind::f64, std::move(dims), v.begin(), v.end()); }
Field Field::i64(Shape dims, const std::vector<int64_t>& v) {
  return numeric(Kind::i64, std::move(dims), v.begin(), v.end());
}
Field Field::string(std::string s) {
  Field f;
  f.kind = Kind::text;
  f.text = std::move(s);
  return f;
}

const Node* Graph::find(const std::string& name) const {
  for (const auto& [n, node] : nodes)
    if (n == name) return &node;
  return nullptr;
}

namespace {

// An HDF5 handle closed when it goes out of scope.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  hid_t release() { return std::exchange(id_, -1); }  // the caller closes it (and checks the result)

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// libhdf5 prints its error stack to stderr by default; every failure here becomes one BadInput instead.
void quiet_hdf5() {
  static const bool done = [] { return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0; }();
  (void)done;
}

constexpr int kMaxRank = 8;
// What one file may hold, in values: a 224×224 MobileNet's weights and per-neuron parameters are ≈ 50 M. A
// dataset that is never written (or compressed) can claim any size in a file of a few bytes, so the budget
// is checked before anything is allocated.
constexpr hsize_t kMaxElements = hsize_t{1} << 26;

class Writer {
 public:
  explicit Writer(std::string path) : path_(std::move(path)) {}

  // Variable-length UTF-8 strings (what h5py writes for a str), row-major in `dims`; no dims: a scalar.
  void texts(hid_t loc, const std::string& name, const std::vector<std::string>& v,
             const std::vector<hsize_t>& dims) const {
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    Handle space = dataspace(dims);
    Handle ds(H5Dcreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    std::vector<const char*> p;
    for (const auto& s : v) p.push_back(s.c_str());
    check(ds.ok() && (p.empty() || H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) >= 0), name);
  }
  void text(hid_t loc, const std::string& name, const std::string& s) const { texts(loc, name, {s}, {}); }

  void field(hid_t loc, const std::string& name, const Field& f) const {
    if (f.is_text()) return text(loc, name, f.text);
    Handle space = dataspace(std::vector<hsize_t>(f.dims.begin(), f.dims.end()));
    const hid_t file_type = f.kind == Field::Kind::f32   ? H5T_IEEE_F32LE
                            : f.kind == Field::Kind::f64 ? H5T_IEEE_F64LE
                                                         : H5T_STD_I64LE;
    Handle ds(H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    // HDF5 converts the doubles to the file type as it writes.
    check(ds.ok() && (f.numbers.empty() ||
                      H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, f.numbers.data()) >= 0),
          name);
  }

  static Handle dataspace(const std::vector<hsize_t>& dims) {
    return Handle(
        dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
        H5Sclose);
  }

  Handle group(hid_t loc, const std::string& name) const {
    Handle g(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    check(g.ok(), name);
    return g;
  }

  void check(bool ok, const std::string& what) const {
    if (!ok) fail_input(path_, "cannot write '" + what + "' (HDF5)");
  }

 private:
  std::string path_;
};

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  // Charges n values (or bytes of strings, over 8) to the file's budget.
  void charge(hsize_t n, const std::string& where) {
    if (n > kMaxElements - used_) fail(where, "holds more values than a NIR graph spikeforge reads (2^26)");
    used_ += n;
  }

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    fail_input(path_, (where.empty() ? "" : where + ": ") + what);
  }

  // Member names of a group, sorted (HDF5's name index).
  std::vector<std::string> members(hid_t g, const std::string& where) const {
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0) fail(where, "cannot list the group");
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const ssize_t n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (n < 0 || n > 4096) fail(where, "cannot read a member name");
      std::string name(static_cast<size_t>(n) + 1, '\0');
      H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
      name.resize(static_cast<size_t>(n));
      names.push_back(name);
    }
    return names;
  }

  // Only hard links are followed: a soft or external link could point anywhere, including other files.
  bool exists(hid_t loc, const std::string& name) const {
    if (H5Lexists(loc, name.c_str(), H5P_DEFAULT) <= 0) return false;
    H5L_info_t info;
    return H5Lget_info(loc, name.c_str(), &info, H5P_DEFAULT) >= 0 && info.type == H5L_TYPE_HARD;
  }

  bool is_group(hid_t loc, const std::string& name) const {
    if (!exists(loc, name)) return false;
    Handle o(H5Oopen(loc, name.c_str(), H5P_DEFAULT), H5Oclose);
    return o.ok() && H5Iget_type(o.get()) == H5I_GROUP;
  }

  Handle group(hid_t loc, const std::string& name, const std::string& where) const {
    if (!is_group(loc, name)) fail(where, "has no group '" + name + "'");
    Handle g(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.ok()) fail(where, "cannot open group '" + name + "'");
    return g;
  }

  // A dataset's strings, row-major, and its dims.
  std::vector<std::string> strings(hid_t ds, Shape& dims, const std::string& where) {
    check_storage(ds, where);
    Handle type(H5Dget_type(ds), H5Tclose);
    Handle space(H5Dget_space(ds), H5Sclose);
    const hsize_t n = elements(space.get(), dims, where);
    std::vector<std::string> out;
    if (H5Tis_variable_str(type.get()) > 0) {
      charge(n, where);
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), H5T_VARIABLE);
      H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
      std::vector<char*> p(n, nullptr);
      const bool read = n == 0 || H5Dread(ds, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) >= 0;
      for (char* s : p) out.emplace_back(s ? s : "");
      // Whatever the read allocated is freed before a failure is reported.
      if (n) H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, p.data());
      if (!read) fail(where, "cannot read strings");
    } else {
      const size_t size = H5Tget_size(type.get());
      if (size == 0 || size > 65536) fail(where, "has a bad string size");
      charge(n * size / 8 + 1, where);
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mem.get(), size);
      // NULLPAD: a string that fills its width (h5py's numpy "S" arrays) keeps its last character; a
      // NULLTERM memory type would overwrite it with the terminator.
      H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
      std::vector<char> buf(n * size);
      if (n && H5Dread(ds, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
        fail(where, "cannot read strings");
      for (hsize_t i = 0; i < n; ++i) {
        std::string s(buf.data() + i * size, size);
        s.erase(std::find(s.begin(), s.end(), '\0'), s.end());  // null- or space-padded
        while (!s.empty() && s.back() == ' ') s.pop_back();
        out.push_back(s);
      }
    }
    return out;
  }

  Field field(hid_t loc, const std::string& name, const std::string& where) {
    const std::string at = where + "/" + name;
    if (!exists(loc, name)) fail(at, "is missing or a link");
    Handle ds(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) fail(at, "is not a dataset");
    check_storage(ds.get(), at);
    Handle type(H5Dget_type(ds.get()), H5Tclose);
    const H5T_class_t cls = H5Tget_class(type.get());
    Field f;
    if (cls == H5T_STRING) {
      const std::vector<std::string> v = strings(ds.get(), f.dims, at);
      if (v.size() != 1) fail(at, "holds " + std::to_string(v.size()) + " strings, expected one");
      return Field::string(v[0]);  // h5py writes a string scalar; NIR's version may be a 1-element array
    }
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) fail(at, "is neither numbers nor a string");
    // libhdf5 sizes its conversion buffers by the file type: a corrupt 2 GB "integer" would allocate that much.
    const size_t bytes = H5Tget_size(type.get());
    if (bytes < 1 || bytes > 8) fail(at, "has a " + std::to_string(bytes) + "-byte number type");
    Handle space(H5Dget_space(ds.get()), H5Sclose);
    const hsize_t n = elements(space.get(), f.dims, at);
    charge(n, at);
    f.kind = cls == H5T_INTEGER ? Field::Kind::i64 : bytes > 4 ? Field::Kind::f64 : Field::Kind::f32;
    f.numbers.resize(n);
    if (n && H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, f.numbers.data()) < 0)
      fail(at, "cannot be read (truncated?)");
    return f;
  }

 private:
  hsize_t elements(hid_t space, Shape& dims, const std::string& where) const {
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0 || rank > kMaxRank) fail(where, "has an unsupported shape");
    hsize_t d[kMaxRank] = {};
    H5Sget_simple_extent_dims(space, d, nullptr);
    hsize_t n = 1;
    dims.clear();
    for (int i = 0; i < rank; ++i) {
      if (d[i] > kMaxElements || (d[i] && n > kMaxElements / d[i])) fail(where, "is too large");
      n *= d[i];
      dims.push_back(static_cast<int64_t>(d[i]));
    }
    return n;
  }

  // Data stored in other files (external storage, virtual datasets) is not read.
  void check_storage(hid_t ds, const std::string& where) const {
    Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
    if (!dcpl.ok()) fail(where, "cannot read its storage properties");
    if (H5Pget_external_count(dcpl.get()) > 0) fail(where, "is stored in an external file");
    if (H5Pget_layout(dcpl.get()) == H5D_VIRTUAL) fail(where, "is a virtual dataset (data in other files)");
  }

  std::string path_;
  hsize_t used_ = 0;
};

}  // namespace

namespace {

void write_hdf5(const std::string& tmp, const std::string& path, const Graph& g) {
  Writer w(path);
  Handle file_handle(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file_handle.ok()) fail_input(path, "cannot create the file");
  const hid_t file = file_handle.get();
  {  // every group is closed before the file
    w.text(file, "version", g.version);
    Handle node = w.group(file, "node");
    w.text(node.get(), "type", "NIRGraph");
    Handle nodes = w.group(node.get(), "nodes");
    for (const auto& [name, n] : g.nodes) {
      Handle ng = w.group(nodes.get(), name);
      w.text(ng.get(), "type", n.type);
      for (const auto& [k, f] : n.fields) w.field(ng.get(), k, f);
    }
    std::vector<std::string> flat;
    for (const auto& [a, b] : g.edges) flat.push_back(a), flat.push_back(b);
    w.texts(node.get(), "edges", flat, {g.edges.size(), 2});
    if (!g.metadata.empty()) {
      Handle meta = w.group(node.get(), "metadata");
      for (const auto& [k, f] : g.metadata) w.field(meta.get(), k, f);
    }
  }
  if (H5Fclose(file_handle.release()) < 0) fail_input(path, "cannot finish writing the file (HDF5)");
}

}  // namespace

// As core/io.h's write_file_atomic: a temp file, fsync, rename; a failure removes the temp file.
void write_graph(const std::string& path, const Graph& g) {
  quiet_hdf5();
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write_hdf5(tmp, path, g);
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    const bool synced = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!synced) fail_input(path, "cannot flush to disk");
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) fail_input(path, "cannot move the written file into place: " + ec.message());
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

namespace {

Graph read_graph_here(const std::string& path) {
  quiet_hdf5();
  if (H5Fis_hdf5(path.c_str()) <= 0) fail_input(path, "not an HDF5 file (a NIR graph is HDF5)");
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) fail_input(path, "cannot open the HDF5 file (truncated or corrupt)");
  Reader r(path);
  Graph g;
  if (r.exists(file.get(), "version") && !r.is_group(file.get(), "version")) {
    const Field v = r.field(file.get(), "version", "");
    g.version = v.is_text() ? v.text : "";
  }
  Handle node = r.group(file.get(), "node", "the file");
  const Field type = r.field(node.get(), "type", "node");
  if (!type.is_text() || type.text != "NIRGraph") r.fail("node/type", "is not \"NIRGraph\"");
  Handle nodes = r.group(node.get(), "nodes", "node");
  for (const std::string& name : r.members(nodes.get(), "node/nodes")) {
    const std::string where = "node '" + name + "'";
    Handle ng = r.group(nodes.get(), name, "node/nodes");
    Node n;
    for (const std::string& k : r.members(ng.get(), where)) {
      if (r.is_group(ng.get(), k)) {
        if (k == "metadata") continue;
        if (k == "nodes") r.fail(where, "is a nested graph; spikeforge reads flat NIR graphs");
        r.fail(where, "field '" + k + "' is a group");
      }
      n.fields[k] = r.field(ng.get(), k, where);
    }
    auto t = n.fields.find("type");
    if (t == n.fields.end() || !t->second.is_text()) r.fail(where, "has no type string");
    n.type = t->second.text;
    n.fields.erase(t);
    g.nodes.push_back({name, std::move(n)});
  }
  if (!r.exists(node.get(), "edges")) r.fail("node", "has no edges");
  Handle edges(H5Dopen2(node.get(), "edges", H5P_DEFAULT), H5Dclose);
  if (!edges.ok()) r.fail("node/edges", "is not a dataset");
  Handle etype(H5Dget_type(edges.get()), H5Tclose);
  if (H5Tget_class(etype.get()) != H5T_STRING) r.fail("node/edges", "must hold strings");
  Shape dims;
  const std::vector<std::string> flat = r.strings(edges.get(), dims, "node/edges");
  if (!flat.empty() && (dims.size() != 2 || dims[1] != 2)) r.fail("node/edges", "must be N × 2 (source, target)");
  for (size_t i = 0; i + 1 < flat.size(); i += 2) g.edges.push_back({flat[i], flat[i + 1]});
  if (r.is_group(node.get(), "metadata")) {
    Handle meta = r.group(node.get(), "metadata", "node");
    for (const std::string& k : r.members(meta.get(), "node/metadata"))
      if (!r.is_group(meta.get(), k)) g.metadata[k] = r.field(meta.get(), k, "node/metadata");
  }
  return g;
}

// The graph as bytes through a pipe (the same binary on both ends: host byte order).
class Packer {
 public:
  void u64(uint64_t v) { raw(&v, sizeof v); }
  void str(const std::string& t) {
    u64(t.size());
    raw(t.data(), t.size());
  }
  void field(const Field& f) {
    u64(static_cast<uint64_t>(f.kind));
    u64(f.dims.size());
    for (int64_t d : f.dims) u64(static_cast<uint64_t>(d));
    str(f.text);
    u64(f.numbers.size());
    raw(f.numbers.data(), f.numbers.size() * sizeof(double));
  }
  void graph(const Graph& g) {
    str(g.version);
    u64(g.nodes.size());
    for (const auto& [name, n] : g.nodes) {
      str(name);
      str(n.type);
      u64(n.fields.size());
      for (const auto& [k, f] : n.fields) str(k), field(f);
    }
    u64(g.edges.size());
    for (const auto& [a, b] : g.edges) str(a), str(b);
    u64(g.metadata.size());
    for (const auto& [k, f] : g.metadata) str(k), field(f);
  }
  const std::string& bytes() const { return out_; }

 private:
  void raw(const void* p, size_t n) {
    if (n) out_.append(static_cast<const char*>(p), n);  // an empty vector's data() may be null
  }
  std::string out_;
};

class Unpacker {
 public:
  Unpacker(const std::string& in, size_t pos) : in_(in), pos_(pos) {}
  uint64_t u64() {
    uint64_t v;
    raw(&v, sizeof v);
    return v;
  }
  std::string str() {
    const uint64_t n = u64();
    need(n);
    std::string t = in_.substr(pos_, n);
    pos_ += n;
    return t;
  }
  Field field() {
    Field f;
    const uint64_t kind = u64();
    if (kind > static_cast<uint64_t>(Field::Kind::text)) bad();
    f.kind = static_cast<Field::Kind>(kind);
    const uint64_t rank = u64();
    if (rank > kMaxRank) bad();
    for (uint64_t i = 0; i < rank; ++i) f.dims.push_back(static_cast<int64_t>(u64()));
    f.text = str();
    const uint64_t n = u64();
    if (n > (in_.size() - pos_) / sizeof(double)) bad();
    f.numbers.resize(n);
    raw(f.numbers.data(), n * sizeof(double));
    return f;
  }
  Graph graph() {
    Graph g;
    g.version = str();
    for (uint64_t i = 0, n = u64(); i < n; ++i) {
      std::string name = str();
      Node node;
      node.type = str();
      for (uint64_t j = 0, m = u64(); j < m; ++j) {
        std::string k = str();
        node.fields[k] = field();
      }
      g.nodes.push_back({std::move(name), std::move(node)});
    }
    for (uint64_t i = 0, n = u64(); i < n; ++i) {
      std::string a = str();
      g.edges.push_back({std::move(a), str()});
    }
    for (uint64_t i = 0, n = u64(); i < n; ++i) {
      std::string k = str();
      g.metadata[k] = field();
    }
    if (pos_ != in_.size()) bad();
    return g;
  }

 private:
  [[noreturn]] static void bad() { fail_internal("nir: the reader process sent a malformed message"); }
  void need(uint64_t n) const {
    if (n > in_.size() - pos_) bad();
  }
  void raw(void* p, size_t n) {
    need(n);
    if (n) std::memcpy(p, in_.data() + pos_, n);  // an empty vector's data() may be null
    pos_ += n;
  }
  const std::string& in_;
  size_t pos_;
};

bool write_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Sanitizer builds (the fuzz targets): the child must not report its crash as the parent's (libFuzzer writes
// a crash file from this callback). Absent elsewhere.
extern "C" void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

// libhdf5 allocates what a corrupt file's sizes say (20 GB, measured on a fuzzed file): the child gets at most
// 2 GiB of address space beyond what it inherited (less if the user's own limit is lower), so such an
// allocation fails inside the library instead. Not in sanitizer builds, whose shadow memory alone exceeds any
// such limit (the fuzz target caps single allocations there).
void limit_memory() {
  if (__sanitizer_set_death_callback) return;
  long pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  rlimit r{};
  if (pages <= 0 || ::getrlimit(RLIMIT_AS, &r) != 0) return;
  const rlim_t want = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + (rlim_t{2} << 30);
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur <= want) return;  // the user's limit is tighter already
  r.rlim_cur = r.rlim_max == RLIM_INFINITY ? want : std::min(want, r.rlim_max);
  ::setrlimit(RLIMIT_AS, &r);
}

// Seconds the reader may take: $SPIKEFORGE_NIR_READ_TIMEOUT (1 to 86400), else 120 (a 224×224 MobileNet
// reads in seconds).
int reader_timeout_s() {
  const char* env = std::getenv("SPIKEFORGE_NIR_READ_TIMEOUT");
  if (!env || !*env) return 120;
  char* end = nullptr;
  const long v = std::strtol(env, &end, 10);
  return *end == '\0' && v >= 1 && v <= 86400 ? static_cast<int>(v) : 120;
}

// The child: reads the file, sends "B<message>" / "I<message>" (an error) or "G<graph>" behind a length
// header, and leaves without running the parent's exit handlers.
[[noreturn]] void reader_child(const std::string& path, int out, int timeout_s, pid_t parent) {
  // Ends with its parent, and on its own after the deadline; a crash ends it quietly: default signal actions,
  // no core dump, no sanitizer callback, stderr discarded.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(3);  // the parent is gone already
  const rlimit cpu{static_cast<rlim_t>(timeout_s) + 1, static_cast<rlim_t>(timeout_s) + 1}, core{0, 0};
  ::setrlimit(RLIMIT_CPU, &cpu);
  ::setrlimit(RLIMIT_CORE, &core);
  ::prctl(PR_SET_DUMPABLE, 0);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, SIG_DFL);
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
  if (const int null = ::open("/dev/null", O_WRONLY); null >= 0) ::dup2(null, STDERR_FILENO);
  limit_memory();
  std::string message;
  try {
    Packer p;
    p.graph(read_graph_here(path));
    message = "G";
    message += p.bytes();
  } catch (const Error& e) {
    message = std::string(e.kind() == ErrorKind::BadInput ? "B" : "I") + e.what();
  } catch (const std::bad_alloc&) {
    message = "B" + path + ": reading it needs more memory than the NIR reader's limit (corrupt, or too large)";
  } catch (const std::exception& e) {
    message = std::string("I") + e.what();
  }
  const uint64_t size = message.size();
  ::_exit(write_all(out, &size, sizeof size) && write_all(out, message.data(), message.size()) ? 0 : 1);
}

}  // namespace

std::string pack_graph(const Graph& g) {
  Packer p;
  p.graph(g);
  return p.bytes();
}

Graph unpack_graph(const std::string& bytes) { return Unpacker(bytes, 0).graph(); }

namespace {

// Forking an MPI process is unsafe with some transports; a one-process run forks.
bool in_process_reads() { return world().distributed(); }

// Kills and reaps the child unless it was reaped, and closes the pipe: on every way out of read_graph.
class ChildGuard {
 public:
  ChildGuard(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  ~ChildGuard() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  // The child's exit status, or -1 when waitpid failed; the guard then has nothing left to reap.
  int reap() {
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return r < 0 ? -1 : status;
  }
  void kill() const { ::kill(pid_, SIGKILL); }

 private:
  pid_t pid_;
  int fd_;
};

}  // namespace

// libhdf5 1.10 itself crashes on some corrupt files (a fuzzed B-tree: a null read in H5Gget_info), loops
// forever on others and allocates gigabytes on a third kind, and no check before the library can rule that
// out. So the file is parsed in a child process with a deadline and a memory limit: a crash, a hang or an
// exhausted limit there is a corrupt file, reported as one, and the graph comes back through a pipe.
// Distributed runs read in-process: forking an MPI process is unsafe with some transports (verbs marks
// registered memory MADV_DONTFORK).
Graph read_graph(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail_input(path, "no such file");
  if (in_process_reads()) return read_graph_here(path);
  const int timeout_s = reader_timeout_s();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    fail_internal("nir: cannot start the reader process: " + std::string(std::strerror(errno)));
  const pid_t parent = ::getpid(), pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]), ::close(fds[1]);
    fail_internal("nir: cannot start the reader process: " + std::string(std::strerror(err)));
  }
  if (pid == 0) {
    ::close(fds[0]);
    reader_child(path, fds[1], timeout_s, parent);
  }
  ::close(fds[1]);
  ChildGuard child(pid, fds[0]);
  // A length header, then the message: complete only when both arrived.
  std::string message;
  uint64_t expected = 0;
  bool have_header = false, failed = false;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      child.kill();
      fail_input(path, "corrupt HDF5: libhdf5 did not finish reading it in " + std::to_string(timeout_s) +
                           " s ($SPIKEFORGE_NIR_READ_TIMEOUT sets the limit)");
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      failed = true;
      break;
    }
    if (ready == 0) continue;  // the deadline is checked above
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) failed = true;
    if (n <= 0) break;
    message.append(buf, static_cast<size_t>(n));
    if (!have_header && message.size() >= sizeof expected) {
      std::memcpy(&expected, message.data(), sizeof expected);
      have_header = true;
    }
    if (have_header && message.size() - sizeof expected >= expected) break;
  }
  const bool complete = !failed && have_header && message.size() - sizeof expected == expected && expected > 0;
  if (!complete) child.kill();
  const int status = child.reap();
  if (!complete) {
    const bool signalled = status >= 0 && WIFSIGNALED(status);
    fail_input(path, "corrupt HDF5: libhdf5 crashed reading it" +
                         (signalled ? " (signal " + std::to_string(WTERMSIG(status)) + ")" : std::string()));
  }
  const char tag = message[sizeof expected];
  const size_t body = sizeof expected + 1;
  if (tag == 'B') throw Error(ErrorKind::BadInput, message.substr(body));
  if (tag != 'G') throw Error(ErrorKind::Internal, message.substr(body));
  return Unpacker(message, body).graph();
}

}  // namespace sf::nir
