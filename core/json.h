// A minimal JSON writer for result files (summary.json). Numbers are written with enough digits to
// round-trip doubles; NaN/Inf, which JSON cannot hold, become null.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

namespace sf {

class JsonWriter {
 public:
  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }

  JsonWriter& key(std::string_view k) {
    comma();
    string(k);
    out_ += ": ";
    after_key_ = true;
    return *this;
  }
  JsonWriter& value(double v) {
    comma();
    if (!std::isfinite(v)) {
      out_ += "null";
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v);
      out_ += buf;
    }
    return *this;
  }
  JsonWriter& value(int64_t v) {
    comma();
    out_ += std::to_string(v);
    return *this;
  }
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(uint64_t v) {
    comma();
    out_ += std::to_string(v);
    return *this;
  }
  JsonWriter& value(bool v) {
    comma();
    out_ += v ? "true" : "false";
    return *this;
  }
  JsonWriter& value(std::string_view s) {
    comma();
    string(s);
    return *this;
  }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  // A value already formatted as JSON (e.g. a long number array kept on one line).
  JsonWriter& raw(std::string_view json) {
    comma();
    out_ += json;
    return *this;
  }
  template <class T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  std::string str() const { return out_ + "\n"; }

 private:
  JsonWriter& open(char c) {
    comma();
    out_ += c;
    first_ = true;
    ++depth_;
    return *this;
  }
  JsonWriter& close(char c) {
    --depth_;
    out_ += '\n' + std::string(2 * depth_, ' ') + c;
    first_ = false;
    return *this;
  }
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (depth_ > 0) out_ += first_ ? "\n" : ",\n";
    if (depth_ > 0) out_ += std::string(2 * depth_, ' ');
    first_ = false;
  }
  void string(std::string_view s) {
    out_ += '"';
    for (char ch : s) {
      const unsigned char c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += ch;
      } else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += ch;
      }
    }
    out_ += '"';
  }
  std::string out_;
  bool first_ = true, after_key_ = false;
  int depth_ = 0;
};

}  // namespace sf
