#include "core/config.h"

#include "core/io.h"

namespace sf {
namespace {

std::string mark_prefix(const std::string& file, const YAML::Mark& m) {
  return m.is_null() ? file : file + ":" + std::to_string(m.line + 1);
}

// The item index `part` of the list `seq` (an override path such as finetune.0.lr).
size_t list_index(const YAML::Node& seq, const std::string& part, const std::string& path) {
  size_t used = 0, idx = 0;
  try {
    idx = std::stoul(part, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != part.size() || idx >= seq.size())
    fail_input("--set " + path, "'" + part + "' is not an item of a list of " + std::to_string(seq.size()));
  return idx;
}

// Every map key must be a plain scalar: the readers take keys as names, and yaml-cpp would throw an untyped
// bad-conversion for `[a]: 1`. Checked once after parsing so every walk over a map (unknown keys, per-layer
// tables) can rely on it. The count bounds the tree as aliases expand it: `&a [*b, *b, ...]` chains grow
// exponentially, and every later walk would expand them again.
constexpr size_t kMaxConfigValues = 100000;

// `where` is the file (its line is added from the key's mark) or, for an override, "--set KEY" (lines of
// the value text would mislead, so none is added).
void check_keys(const YAML::Node& n, const std::string& where, bool lines, const std::string& path, size_t& seen) {
  if (++seen > kMaxConfigValues)
    fail_input(where, "more than " + std::to_string(kMaxConfigValues) + " values once aliases are expanded");
  if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) check_keys(n[i], where, lines, path + "." + std::to_string(i), seen);
  } else if (n.IsMap()) {
    for (const auto& kv : n) {
      if (!kv.first.IsScalar() && !kv.first.IsNull())
        fail_input(lines ? mark_prefix(where, kv.first.Mark()) : where,
                   std::string(path.empty() ? "a top-level key" : "a key in '" + path + "'") + " is a " +
                       (kv.first.IsMap() ? "map" : "list") + "; keys must be plain names");
      const std::string key = kv.first.as<std::string>();
      check_keys(kv.second, where, lines, path.empty() ? key : path + "." + key, seen);
    }
  }
}

void apply_override(YAML::Node root, const std::string& assignment, ConfigSource& src) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    fail_input("--set " + assignment, "expected KEY=VALUE, e.g. --set train.epochs=2");
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  if (text.empty()) fail_input("--set " + path, "empty value (use null to remove the key and get its default)");
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail_input("--set " + path, "value is not valid YAML: " + e.msg);
  }
  size_t seen = 0;
  check_keys(value, "--set " + path, false, path, seen);
  // Walk with explicit node copies: yaml-cpp's operator[] on a non-const node creates missing maps.
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty()) fail_input("--set " + path, "empty key segment");
    if (cur.IsSequence()) {  // finetune.0.lr: an index into a list of sections
      cur.reset(cur[list_index(cur, parts[i], path)]);
      // A plain item (finetune: [3]) has no keys to set; yaml-cpp would throw an untyped bad subscript.
      if (cur.IsScalar()) {
        std::string item = parts[0];
        for (size_t j = 1; j <= i; ++j) item += "." + parts[j];
        fail_input("--set " + path, "'" + item + "' is a value, not a section");
      }
      continue;
    }
    YAML::Node next = cur[parts[i]];
    if (next.IsSequence()) {  // the next segment indexes it
      cur.reset(next);
      continue;
    }
    if (next.IsDefined() && !next.IsMap() && !next.IsNull())
      fail_input("--set " + path, "'" + parts[i] + "' is a value, not a section");
    if (!next.IsDefined() || next.IsNull()) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    cur.reset(cur[parts[i]]);
  }
  if (cur.IsSequence()) {  // finetune.0=…: replace or (null) delete a whole list item
    const size_t idx = list_index(cur, parts.back(), path);
    if (value.IsNull()) {
      YAML::Node kept(YAML::NodeType::Sequence);
      for (size_t j = 0; j < cur.size(); ++j)
        if (j != idx) kept.push_back(cur[j]);
      cur = kept;
    } else {
      cur[idx] = value;
    }
  } else if (value.IsNull()) {
    cur.remove(parts.back());  // `--set key=null` deletes the key, so its default applies
  } else {
    cur[parts.back()] = value;
  }
  src.overridden.insert(path);
}

}  // namespace

ConfigNode::ConfigNode(YAML::Node node, std::shared_ptr<ConfigSource> source, std::string path)
    : node_(std::move(node)), source_(std::move(source)), path_(std::move(path)) {}

ConfigNode ConfigNode::load_string(const std::string& text, const std::string& source_name) {
  auto src = std::make_shared<ConfigSource>();
  src->file = source_name;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    fail_input(mark_prefix(source_name, e.mark), "malformed YAML: " + e.msg);
  }
  if (root.IsNull() || !root.IsDefined()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) fail_input(source_name, "top level must be a map of keys");
  size_t seen = 0;
  check_keys(root, source_name, true, "", seen);
  return ConfigNode(root, src);
}

ConfigNode ConfigNode::load_file(const std::string& file, const std::vector<std::string>& overrides) {
  ConfigNode c = load_string(read_file(file), file);
  for (const auto& o : overrides) apply_override(c.node_, o, *c.source_);
  return c;
}

bool ConfigNode::has(const std::string& key) const {
  const YAML::Node v = node_[key];
  return v.IsDefined() && !v.IsNull();
}

void ConfigNode::note(const std::string& key) const { source_->known[path_].insert(key); }

ConfigNode ConfigNode::child(const std::string& key) const {
  note(key);
  if (!has(key)) return ConfigNode(YAML::Node(YAML::NodeType::Map), source_, full(key));
  const YAML::Node v = node_[key];
  if (!v.IsMap()) fail(key, "expected a section (a map of keys)");
  return ConfigNode(v, source_, full(key));
}

std::vector<ConfigNode> ConfigNode::list(const std::string& key) const {
  note(key);
  std::vector<ConfigNode> out;
  if (!has(key)) return out;
  const YAML::Node v = node_[key];
  if (!v.IsSequence()) fail(key, "expected a list of sections");
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].IsMap()) fail(key, "item " + std::to_string(i) + " must be a section (a map of keys)");
    out.emplace_back(v[i], source_, full(key) + "." + std::to_string(i));
  }
  return out;
}

std::string ConfigNode::where(const std::string& key) const {
  const std::string k = full(key);
  for (const auto& o : source_->overridden)
    if (o == k || k.rfind(o + ".", 0) == 0) return "--set " + k;
  const YAML::Node v = node_[key];
  return (v.IsDefined() ? mark_prefix(source_->file, v.Mark()) : mark_prefix(source_->file, node_.Mark())) + ": key '" +
         k + "'";
}

void ConfigNode::fail(const std::string& key, const std::string& what) const { fail_input(where(key), what); }

void ConfigNode::check_unknown_keys() const { check_unknown(node_, path_); }

void ConfigNode::check_unknown(const YAML::Node& n, const std::string& path) const {
  if (n.IsSequence()) {  // sections in a list (ConfigNode::list) are checked item by item
    for (size_t i = 0; i < n.size(); ++i) check_unknown(n[i], path + "." + std::to_string(i));
    return;
  }
  if (!n.IsMap()) return;
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    const std::string p = path.empty() ? key : path + "." + key;
    if (!source_->known[path].count(key)) {
      std::string known;
      for (const auto& k : source_->known[path]) known += (known.empty() ? "" : ", ") + k;
      const std::string loc = source_->overridden.count(p)
                                  ? "--set " + p
                                  : mark_prefix(source_->file, kv.first.Mark()) + ": key '" + p + "'";
      fail_input(loc, "unknown key" + (known.empty() ? std::string() : " (expected one of: " + known + ")"));
    }
    check_unknown(kv.second, p);
  }
}

}  // namespace sf
