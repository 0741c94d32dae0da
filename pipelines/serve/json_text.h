// The little JSON the HTTP API writes: quoted strings and short numbers.
#pragma once

#include <cstdio>
#include <string>

inline std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

// A JSON number with `decimals` decimals, locale-independent.
inline std::string fmt_decimals(double v, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  for (char& c : buf)
    if (c == ',') c = '.';
  return buf;
}
// Seconds and rates for people: two decimals.
inline std::string fmt(double v) { return fmt_decimals(v, 2); }
// Stream times a client computes with: microseconds.
inline std::string fmt_precise(double seconds) { return fmt_decimals(seconds, 6); }
