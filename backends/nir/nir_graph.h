// A NIR graph (Neuromorphic Intermediate Representation, github.com/neuromorphs/NIR) as plain data, and its
// HDF5 file form through libhdf5:
//   /version            string
//   /node/type          "NIRGraph"
//   /node/nodes/<name>/ one group per node: `type` (string) and its fields as datasets
//   /node/edges         N × 2 strings: source and target node names
//   /node/metadata/     optional datasets
// Fields are numbers (HDF5 integer or float types of 1 to 8 bytes, up to 8 dims; a scalar has no dims) or
// strings. Files other tools write differ in what they leave out and in their string types (fixed or variable
// length); the reader takes both. It follows hard links only and refuses data stored outside the file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sf::nir {

struct Field {
  enum class Kind { f32, f64, i64, text };
  Kind kind = Kind::f32;
  Shape dims;                   // empty: a scalar
  std::vector<double> numbers;  // numeric fields, row-major
  std::string text;             // text fields

  static Field f32(Shape dims, const std::vector<float>& v);
  static Field f64(Shape dims, std::vector<double> v);
  static Field i64(Shape dims, const std::vector<int64_t>& v);
  static Field scalar(int64_t v) { return i64({}, {v}); }
  static Field string(std::string s);
  bool is_text() const { return kind == Kind::text; }
  int64_t count() const { return static_cast<int64_t>(numbers.size()); }
};

struct Node {
  std::string type;
  std::map<std::string, Field> fields;
  bool has(const std::string& k) const { return fields.count(k) != 0; }
};

struct Graph {
  std::string version;
  std::vector<std::pair<std::string, Node>> nodes;  // in the file's (alphabetical) or the writer's order
  std::vector<std::pair<std::string, std::string>> edges;
  std::map<std::string, Field> metadata;
  const Node* find(const std::string& name) const;
};

// The reader process's message format (read_graph parses HDF5 in a child process and sends the graph back):
// a graph as bytes and back. unpack_graph throws an internal error on malformed bytes.
std::string pack_graph(const Graph& g);
Graph unpack_graph(const std::string& bytes);

// Writes atomically (temp file + rename). BadInput naming the path when it cannot.
void write_graph(const std::string& path, const Graph& g);
// BadInput naming the file (and the object inside it) for a file that is not HDF5, is truncated, or lacks the
// NIR layout; nested graphs (a NIRGraph node) are refused by name.
Graph read_graph(const std::string& path);

}  // namespace sf::nir
