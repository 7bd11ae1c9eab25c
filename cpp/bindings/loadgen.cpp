// The load generator of `seawall bench`, exposed to seawall.bench: the generator itself (its
// thread never touches Python; collect() and stop() wait with the GIL released), the windows of
// statistics it returns, and their latency histograms.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings.h"
#include "gil.h"
#include "seawall/errors.h"
#include "seawall/loadgen/generator.h"
#include "seawall/loadgen/histogram.h"

namespace seawall::bindings {

using loadgen::LatencyHistogram;
using loadgen::LoadGenerator;
using loadgen::LoadMode;
using loadgen::LoadOptions;
using loadgen::WindowStats;

void bind_loadgen(py::module_& m) {
  m.def("loadgen_available", &loadgen::load_generator_available,
        "Whether this build has the load generator (Linux: epoll).");

  py::class_<LatencyHistogram>(m, "LatencyHistogram")
      .def(py::init<>())
      .def(
          "record",
          [](LatencyHistogram& h, py::array_t<uint64_t, py::array::c_style | py::array::forcecast>
                                      values) {
            const auto view = values.unchecked<1>();
            for (py::ssize_t i = 0; i < view.shape(0); ++i) h.record(view(i));
          },
          py::arg("values"))
      .def("merge", &LatencyHistogram::merge, py::arg("other"))
      .def("copy", [](const LatencyHistogram& h) { return LatencyHistogram(h); })
      .def("quantile", &LatencyHistogram::quantile, py::arg("q"))
      .def_property_readonly("count", &LatencyHistogram::count)
      .def_property_readonly("min", &LatencyHistogram::min)
      .def_property_readonly("max", &LatencyHistogram::max)
      .def_property_readonly("mean", &LatencyHistogram::mean)
      .def_property_readonly_static(
          "relative_error", [](py::object) { return LatencyHistogram::relative_error(); });

  py::class_<WindowStats>(m, "LoadWindow")
      .def(py::init<>())
      .def_readonly("seconds", &WindowStats::seconds)
      .def_readonly("sent", &WindowStats::sent)
      .def_readonly("answered", &WindowStats::answered)
      .def_readonly("status", &WindowStats::status)
      .def_readonly("timeouts", &WindowStats::timeouts)
      .def_readonly("closed", &WindowStats::closed)
      .def_readonly("protocol_errors", &WindowStats::protocol_errors)
      .def_readonly("connect_errors", &WindowStats::connect_errors)
      .def_readonly("missed", &WindowStats::missed)
      .def_readonly("unfinished", &WindowStats::unfinished)
      .def_readonly("in_flight", &WindowStats::in_flight)
      .def_readonly("backlog", &WindowStats::backlog)
      .def_readonly("max_send_lag_ns", &WindowStats::max_send_lag_ns)
      .def_readonly("latency", &WindowStats::latency)
      .def_readonly("error_latency", &WindowStats::error_latency)
      .def_readonly("first_error", &WindowStats::first_error)
      .def_property_readonly("error_bodies",
                             [](const WindowStats& w) {
                               py::dict out;
                               for (const auto& [code, body] : w.error_bodies) {
                                 out[py::int_(code)] = py::bytes(body);
                               }
                               return out;
                             })
      .def("merge", &WindowStats::merge, py::arg("other"))
      .def("copy", [](const WindowStats& w) { return WindowStats(w); });

  py::class_<LoadGenerator>(m, "LoadGenerator")
      .def(py::init([](const std::string& address, int port, const std::vector<py::bytes>& requests,
                       const std::string& mode, int concurrency, double rate, bool poisson,
                       uint64_t seed, double request_timeout_s, double connect_timeout_s,
                       uint64_t max_backlog) {
             SEAWALL_CHECK(mode == "closed" || mode == "open",
                           "mode must be 'closed' or 'open', got '", mode, "'");
             LoadOptions o;
             o.address = address;
             o.port = port;
             for (const auto& r : requests) o.requests.emplace_back(r);
             o.mode = mode == "open" ? LoadMode::kOpen : LoadMode::kClosed;
             o.concurrency = concurrency;
             o.rate = rate;
             o.poisson = poisson;
             o.seed = seed;
             o.request_timeout_s = request_timeout_s;
             o.connect_timeout_s = connect_timeout_s;
             o.max_backlog = max_backlog;
             return std::make_unique<LoadGenerator>(std::move(o));
           }),
           py::arg("address"), py::arg("port"), py::arg("requests"), py::kw_only(),
           py::arg("mode") = "closed", py::arg("concurrency") = 1, py::arg("rate") = 0.0,
           py::arg("poisson") = false, py::arg("seed") = 0, py::arg("request_timeout_s") = 30.0,
           py::arg("connect_timeout_s") = 5.0, py::arg("max_backlog") = uint64_t{1} << 20)
      .def("start", &LoadGenerator::start)
      .def("collect", [](LoadGenerator& g) { return without_gil([&] { return g.collect(); }); })
      .def(
          "stop",
          [](LoadGenerator& g, double drain_timeout_s) {
            return without_gil([&] { return g.stop(drain_timeout_s); });
          },
          py::arg("drain_timeout_s") = 5.0);
}

}  // namespace seawall::bindings
