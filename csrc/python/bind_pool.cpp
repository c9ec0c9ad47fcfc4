// Bindings of the pool kernels (filled in by the pool work).
#include "python/bindings.h"

namespace fastcnn::python {

void bind_pool(pybind11::module_&) {}

}  // namespace fastcnn::python
