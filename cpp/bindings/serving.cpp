// The dynamic inference batcher, exposed to seawall.serving.
#include "bindings.h"

namespace seawall::bindings {

void bind_serving(py::module_& m) { (void)m; }

}  // namespace seawall::bindings
