// Python bindings of the auto-scheduler (`_tessel.autotune`): search tasks, task extraction from
// graphs, tuning into a records file or tuning database (Ctrl-C raises KeyboardInterrupt after the
// records so far are safe), applying the best record and compiling a graph with tuned schedules.
// Targets are LLVM target strings or "cuda [-arch=sm_XX]". Thin: python/tessel/autotune.py holds
// the user API.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bind_ops.h"

#include "tessel/autotune/record_store.h"
#include "tessel/autotune/records.h"
#include "tessel/autotune/search.h"
#include "tessel/autotune/task_extraction.h"
#include "tessel/ir/error.h"

namespace py = pybind11;

namespace {

// The record store a call works on: an open one as it is, or the store at a path, opened here.
std::shared_ptr<tessel::autotune::RecordStore> store_of(const py::object& records, bool read_only) {
  using tessel::autotune::RecordStore;
  if (py::isinstance<RecordStore>(records)) return records.cast<std::shared_ptr<RecordStore>>();
  return std::shared_ptr<RecordStore>(RecordStore::open(py::str(records).cast<std::string>(), read_only));
}

}  // namespace

void bind_autotune(py::module_& m) {
  using namespace tessel;
  using namespace tessel::autotune;
  py::module_ at = m.def_submodule("autotune", "Auto-scheduler: search tasks, tuning, records.");
  py::class_<SearchTask>(at, "SearchTask")
      .def(py::init([](std::vector<te::Tensor> outputs, std::vector<te::Tensor> args, const codegen::Target& target,
                       const std::string& name, double weight) {
             return SearchTask(std::move(outputs), std::move(args), target, name, weight);
           }),
           py::arg("outputs"), py::arg("args"), py::arg("target"), py::arg("name") = "", py::arg("weight") = 1.0)
      .def_property_readonly("workload_key", &SearchTask::workload_key)
      .def_property_readonly("name", &SearchTask::name)
      .def_property_readonly("weight", &SearchTask::weight)
      .def_property_readonly("flop_count", &SearchTask::flop_count)
      .def_property_readonly("args", &SearchTask::args)
      .def_property_readonly("outputs", &SearchTask::outputs)
      .def_property_readonly("target", &SearchTask::target)
      .def_property_readonly("is_cuda", &SearchTask::is_cuda)
      .def("best_steps_json",
           [](const SearchTask& t, const py::object& records) -> py::object {
             auto best = store_of(records, true)->best(t.workload_key(), t.target_string());
             if (!best) return py::none();
             return py::make_tuple(best->steps_json, best->mean_cost());
           },
           py::arg("records"))
      .def("replay",
           [](const SearchTask& t, const std::string& steps_json) {
             return std::make_shared<te::Schedule>(t.replay(te::steps_from_json(steps_json)));
           },
           py::arg("steps_json"));
  at.def("extract_tasks",
         [](const relay::Graph& graph, const codegen::Target& target) { return extract_tasks(graph, target); },
         py::arg("graph"), py::arg("target"));
  // Tuning runs without the GIL. Ctrl-C during it stops tuning (records stored so far are kept)
  // and then raises KeyboardInterrupt here.
  at.def("tune",
         [](const std::vector<SearchTask>& tasks, int trials, const py::object& records, unsigned seed,
            const std::string& cost_model, int batch_size, bool verbose, int repeat, double min_repeat_seconds,
            double run_timeout_seconds, bool check_correctness, double time_budget_seconds, int confirm_top,
            double build_timeout_seconds) {
           TuneOptions options;
           options.trials = trials;
           std::shared_ptr<RecordStore> store = store_of(records, false);
           options.store = store.get();
           options.seed = seed;
           options.cost_model = cost_model;
           options.batch_size = batch_size;
           options.verbose = verbose;
           options.time_budget_seconds = time_budget_seconds;
           options.confirm_top = confirm_top;
           options.measure.repeat = repeat;
           options.measure.min_repeat_seconds = min_repeat_seconds;
           options.measure.run_timeout_seconds = run_timeout_seconds;
           options.measure.build_timeout_seconds = build_timeout_seconds;
           options.measure.check_correctness = check_correctness;
           if (verbose) {
             // Python's buffered output first, so that it comes before the progress.
             try {
               py::module_::import("sys").attr("stdout").attr("flush")();
             } catch (const py::error_already_set&) {
             }
           }
           std::vector<double> best;
           bool interrupted = false;
           {
             py::gil_scoped_release release;
             TaskScheduler scheduler(tasks, options);
             best = scheduler.tune();
             interrupted = scheduler.interrupted();
           }
           if (interrupted) {
             PyErr_SetNone(PyExc_KeyboardInterrupt);
             throw py::error_already_set();
           }
           return best;
         },
         py::arg("tasks"), py::arg("trials"), py::arg("records"), py::arg("seed") = 0,
         py::arg("cost_model") = "xgboost", py::arg("batch_size") = 16, py::arg("verbose") = true,
         py::arg("repeat") = 3, py::arg("min_repeat_seconds") = 0.02, py::arg("run_timeout_seconds") = 10.0,
         py::arg("check_correctness") = true, py::arg("time_budget_seconds") = 0.0, py::arg("confirm_top") = 3,
         py::arg("build_timeout_seconds") = 4.0);
  // The search's next batch for a task, without measuring (no cost model): the step lists as JSON,
  // the default schedule first. For inspecting the search space and checking candidates offline.
  at.def("sample_candidates",
         [](const SearchTask& task, int n, unsigned seed) {
           TuneOptions options;
           options.population = std::max(8, 2 * n);
           options.generations = 1;
           std::vector<std::vector<te::Step>> batch;
           {
             py::gil_scoped_release release;
             SearchPolicy policy(task, nullptr, options, seed);
             batch = policy.next_batch(n);
           }
           std::vector<std::string> steps;
           for (const auto& b : batch) steps.push_back(te::steps_to_json(b));
           return steps;
         },
         py::arg("task"), py::arg("n"), py::arg("seed") = 0);
  at.def("check_measurable", &TaskScheduler::check_measurable, py::arg("tasks"),
         "Raises TesselError unless the tasks can be measured here (CUDA tasks need a GPU and its driver).");
  at.def("cuda_measurement_available",
         [] {
           std::string why;
           bool ok = cuda_measurement_available(&why);
           return py::make_tuple(ok, why);
         },
         "(available, reason): whether CUDA candidates can run here, asked in a forked child so that this "
         "process never initialises the CUDA driver.");
  at.def("compile_with_records",
         [](const relay::Graph& graph, const py::object& records, const codegen::Target& target, const std::string& name,
            bool print_summary) {
           relay::CompileOptions options;
           options.target = target;
           options.name = name;
           options.print_summary = print_summary;
           std::shared_ptr<RecordStore> store = store_of(records, true);
           py::gil_scoped_release release;
           RecordScheduleProvider provider(*store);
           options.schedules = &provider;
           return relay::compile(graph, options);
         },
         py::arg("graph"), py::arg("records"), py::arg("target"), py::arg("name") = "tessel_module",
         py::arg("print_summary") = true);
}

