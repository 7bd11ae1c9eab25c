// Drift statistics (numeric): exposed to seawall.stats.
#include "bindings.h"

namespace seawall::bindings {

void bind_drift_numeric(py::module_& m) { (void)m; }

}  // namespace seawall::bindings
