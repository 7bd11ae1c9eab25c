// Drift statistics (categorical): exposed to seawall.stats.
#include "bindings.h"

namespace seawall::bindings {

void bind_drift_categorical(py::module_& m) { (void)m; }

}  // namespace seawall::bindings
