// Message building without iostreams. A C++ runtime linked statically into the module (as
// some build images do) can crash formatting a number through a stream whose locale was
// never initialised; seen on a GCC 13 machine. An error message must never crash.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>

namespace fastcnn::detail {

inline void append(std::string& out, std::string_view text) { out += text; }
inline void append(std::string& out, const char* text) { out += text; }
inline void append(std::string& out, char c) { out += c; }
inline void append(std::string& out, bool value) { out += value ? '1' : '0'; }  // as a stream would

template <class T>
std::enable_if_t<std::is_integral_v<T>> append(std::string& out, T value) {
  out += std::to_string(value);
}

template <class T>
std::enable_if_t<std::is_floating_point_v<T>> append(std::string& out, T value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", static_cast<double>(value));  // a stream's default format
  out += text;
}

template <class... Parts>
std::string str_cat(const Parts&... parts) {
  std::string out;
  (append(out, parts), ...);
  return out;
}

}  // namespace fastcnn::detail
