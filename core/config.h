// Validated reading of YAML configs. Every value is read through a ConfigNode, which remembers which keys
// were asked for; check_unknown_keys() then rejects anything the program never looked at, so a typo such
// as `epoch:` fails loudly instead of silently training with the default. Errors carry "file:line: key".
#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"

namespace sf {

struct ConfigSource {
  std::string file;                                    // shown in messages
  std::set<std::string> overridden;                    // key paths set on the command line (--set)
  std::map<std::string, std::set<std::string>> known;  // parent path → keys the program asked about
};

class ConfigNode {
 public:
  ConfigNode(YAML::Node node, std::shared_ptr<ConfigSource> source, std::string path = "");

  // Loads a file (or a string) and applies `key.path=value` overrides, each parsed as YAML.
  static ConfigNode load_file(const std::string& file, const std::vector<std::string>& overrides = {});
  static ConfigNode load_string(const std::string& text, const std::string& source_name);

  bool has(const std::string& key) const;
  ConfigNode child(const std::string& key) const;  // a map; absent → empty map (all defaults)
  // A list of sections, each a ConfigNode with path "key.i"; absent → empty.
  std::vector<ConfigNode> list(const std::string& key) const;

  template <class T>
  T get(const std::string& key, const T& fallback) const {
    note(key);
    if (!has(key)) {
      if (node_[key].IsDefined()) fail(key, "has no value (delete the key to use the default)");
      return fallback;
    }
    return convert<T>(key);
  }
  // A list of values (`mean: [0.49, 0.48, 0.45]`); a single value reads as a list of one; absent → fallback.
  template <class T>
  std::vector<T> get_list(const std::string& key, const std::vector<T>& fallback) const;
  template <class T>
  T require(const std::string& key) const {
    note(key);
    if (!has(key)) fail(key, "required key is missing");
    return convert<T>(key);
  }

  // "file:line: key 'a.b'" for messages about a value the program judged invalid.
  std::string where(const std::string& key) const;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  void check(bool ok, const std::string& key, const std::string& what) const {
    if (!ok) fail(key, what);
  }
  // Throws BadInput for the first key (in file order) that nothing asked for.
  void check_unknown_keys() const;

  const YAML::Node& node() const { return node_; }
  const std::string& file() const { return source_->file; }

 private:
  void note(const std::string& key) const;
  std::string full(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  template <class T>
  T convert(const std::string& key) const;
  template <class T>
  static const char* expected_name() {
    return std::is_same_v<T, bool>       ? "true or false"
           : std::is_integral_v<T>       ? "an integer"
           : std::is_floating_point_v<T> ? "a number"
                                         : "a string";
  }
  void check_unknown(const YAML::Node& n, const std::string& path) const;

  YAML::Node node_;
  std::shared_ptr<ConfigSource> source_;
  std::string path_;
};

template <class T>
T ConfigNode::convert(const std::string& key) const {
  const YAML::Node v = node_[key];
  const char* expected = expected_name<T>();
  if (!v.IsScalar()) fail(key, std::string("expected ") + expected + ", got a " + (v.IsMap() ? "map" : "list"));
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    fail(key, std::string("expected ") + expected + ", got '" + v.Scalar() + "'");
  }
}

template <class T>
std::vector<T> ConfigNode::get_list(const std::string& key, const std::vector<T>& fallback) const {
  note(key);
  if (!has(key)) {
    if (node_[key].IsDefined()) fail(key, "has no value (delete the key to use the default)");
    return fallback;
  }
  const YAML::Node v = node_[key];
  if (v.IsScalar()) return {convert<T>(key)};
  if (!v.IsSequence()) fail(key, std::string("expected a list of ") + expected_name<T>() + ", got a map");
  std::vector<T> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string item = "item " + std::to_string(i) + ": expected " + expected_name<T>();
    if (!v[i].IsScalar()) fail(key, item + ", got a " + (v[i].IsMap() ? "map" : "list"));
    try {
      out.push_back(v[i].as<T>());
    } catch (const YAML::Exception&) {
      fail(key, item + ", got '" + v[i].Scalar() + "'");
    }
  }
  return out;
}

}  // namespace sf
