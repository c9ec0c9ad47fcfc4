// Bindings of the activation kernels (filled in by the activation work).
#include "python/bindings.h"

namespace fastcnn::python {

void bind_activation(pybind11::module_&) {}

}  // namespace fastcnn::python
