#include "bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "seawall's native core (private: use the seawall package)";
  seawall::bindings::bind_errors(m);
  seawall::bindings::bind_runtime(m);
  seawall::bindings::bind_sketch(m);
  seawall::bindings::bind_transforms(m);
  seawall::bindings::bind_drift_numeric(m);
  seawall::bindings::bind_drift_categorical(m);
  seawall::bindings::bind_profile(m);
  seawall::bindings::bind_serving(m);
  seawall::bindings::bind_loadgen(m);
  seawall::bindings::bind_contracts(m);
  seawall::bindings::bind_evaluation(m);
}
