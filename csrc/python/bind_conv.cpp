// Bindings of the conv kernels (filled in by the conv work).
#include "python/bindings.h"

namespace fastcnn::python {

void bind_conv(pybind11::module_&) {}

}  // namespace fastcnn::python
