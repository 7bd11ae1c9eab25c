// Data profiles: exposed to seawall.profiles.
#include "bindings.h"

namespace seawall::bindings {

void bind_profile(py::module_& m) { (void)m; }

}  // namespace seawall::bindings
