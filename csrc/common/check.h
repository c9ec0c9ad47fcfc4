// Argument checks for the C++ API. A failed check throws std::invalid_argument, which
// pybind11 turns into a Python ValueError; checks run before any kernel starts, never
// inside a parallel region.
#pragma once

#include <stdexcept>

#include "common/str_cat.h"

namespace fastcnn::detail {

template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw std::invalid_argument(str_cat(parts...));
}

}  // namespace fastcnn::detail

#define FASTCNN_CHECK(cond, ...)                 \
  do {                                           \
    if (!(cond)) ::fastcnn::detail::fail(__VA_ARGS__); \
  } while (0)
