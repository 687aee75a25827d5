// Python bindings of the tuning-record database (`_tessel.autotune.Database`): records, workload
// summaries and import statistics cross as plain dicts. Thin: python/tessel/database.py holds the
// user API. Every call releases the GIL, since a busy database may be waited for.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bind_ops.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessel/autotune/database.h"
#include "tessel/autotune/record_store.h"
#include "tessel/ir/error.h"

namespace py = pybind11;

namespace {

using tessel::autotune::Database;
using tessel::autotune::RecordStore;
using tessel::autotune::TuningRecord;

py::dict record_to_dict(const TuningRecord& r) {
  py::dict d;
  d["workload_key"] = r.workload_key;
  d["task_name"] = r.task_name;
  d["target"] = r.target;
  d["hardware"] = py::module_::import("json").attr("loads")(r.hardware.to_json());
  d["steps"] = r.steps_json;
  d["costs"] = r.costs;
  d["mean_seconds"] = r.mean_cost();
  d["error"] = static_cast<int>(r.error);
  d["error_name"] = tessel::autotune::error_name(r.error);
  d["timestamp"] = r.timestamp;
  d["version"] = r.version;
  return d;
}

// Runs `read` (a query of a store) with the GIL released and returns its records.
template <class Read>
std::vector<TuningRecord> without_gil(Read read) {
  py::gil_scoped_release release;
  return read();
}

py::list records_to_list(const std::vector<TuningRecord>& records) {
  py::list out;
  for (const TuningRecord& r : records) out.append(record_to_dict(r));
  return out;
}

// The queries a tuning database and a record store share, bound once for both: path, read_only,
// count, records, top_k, best_records (the GIL released while the store is read).
template <class Store, class... Options>
void bind_record_queries(py::class_<Store, Options...>& c) {
  c.def_property_readonly("path", &Store::path)
      .def_property_readonly("read_only", &Store::read_only)
      .def("count",
           [](const Store& store, const std::string& key, const std::string& target) {
             py::gil_scoped_release release;
             return store.count(key, target);
           },
           py::arg("workload_key") = "", py::arg("target") = "")
      .def("records",
           [](const Store& store, const std::string& key, const std::string& target, int64_t limit) {
             return records_to_list(without_gil([&] { return store.records(key, target, limit); }));
           },
           py::arg("workload_key") = "", py::arg("target") = "", py::arg("limit") = -1)
      .def("top_k",
           [](const Store& store, const std::string& key, const std::string& target, int k) {
             return records_to_list(without_gil([&] { return store.top_k(key, target, k); }));
           },
           py::arg("workload_key"), py::arg("target"), py::arg("k"))
      .def("best_records",
           [](const Store& store, const std::string& target) {
             return records_to_list(without_gil([&] { return store.best_records(target); }));
           },
           py::arg("target") = "")
      .def("add_jsonl_lines",
           [](Store& store, const std::vector<std::string>& lines) {
             // Records given as records.h JSON lines (the format Python sees records in).
             std::vector<TuningRecord> records;
             for (const std::string& line : lines) {
               auto r = tessel::autotune::record_from_json(line);
               if (!r) throw tessel::CompileError("not a valid tuning-record line: " + line.substr(0, 200));
               records.push_back(std::move(*r));
             }
             py::gil_scoped_release release;
             store.add_records(records);
           },
           py::arg("lines"));
}

}  // namespace

void bind_database(py::module_& m) {
  using namespace tessel::autotune;
  py::module_ at = m.def_submodule("autotune", "Auto-scheduler: search tasks, tuning, records.");
  at.def("default_database_path", &default_database_path);
  at.def("is_jsonl_path", &is_jsonl_path, py::arg("path"));
  // The open record store (database or JSON lines) that one command hands to everything it does.
  py::class_<RecordStore, std::shared_ptr<RecordStore>> record_store(at, "RecordStore");
  record_store
      .def_static("open",
                  [](const std::string& path, bool read_only) {
                    py::gil_scoped_release release;
                    return std::shared_ptr<RecordStore>(RecordStore::open(path, read_only));
                  },
                  py::arg("path"), py::arg("read_only") = false)
      .def_static("open_database",
                  [](const std::string& path, bool read_only) {
                    py::gil_scoped_release release;
                    return std::shared_ptr<RecordStore>(RecordStore::open_database(path, read_only));
                  },
                  py::arg("path"), py::arg("read_only") = false)
      .def_property_readonly("database", [](RecordStore& store) { return store.database(); },
                             py::return_value_policy::reference_internal,
                             "The SQLite database behind a database store (None for a JSON-lines file).")
      .def_static("opened_count", &RecordStore::opened_count, "Stores opened (and validated) in this process.")
      .def_property_readonly("is_database", &RecordStore::is_database)
      .def_property_readonly("corrupt_lines", &RecordStore::corrupt_lines);
  bind_record_queries(record_store);
  at.def("hardware_json", [](const tessel::codegen::Target& target) { return HardwareParams::for_target(target).to_json(); },
         py::arg("target"), "The hardware parameters a record of this target stores (JSON object text).");
  py::class_<Database> database(at, "Database");
  bind_record_queries(database);
  database
      .def(py::init([](const std::string& path, bool read_only) {
             py::gil_scoped_release release;
             return std::make_unique<Database>(path, read_only);
           }),
           py::arg("path"), py::arg("read_only") = false)
      .def("workloads",
           [](const Database& db) {
             std::vector<WorkloadSummary> summaries;
             {
               py::gil_scoped_release release;
               summaries = db.workloads();
             }
             py::list out;
             for (const WorkloadSummary& w : summaries) {
               py::dict d;
               d["workload_key"] = w.workload_key;
               d["task_name"] = w.task_name;
               d["dag_text"] = w.dag_text;
               d["targets"] = w.targets;
               d["records"] = w.records;
               d["valid"] = w.valid;
               d["best_seconds"] = w.best_seconds;
               out.append(d);
             }
             return out;
           })
      .def("add_workload",
           [](Database& db, const std::string& key, const std::string& task_name, const std::string& dag_text) {
             py::gil_scoped_release release;
             db.add_workload(key, task_name, dag_text);
           },
           py::arg("workload_key"), py::arg("task_name"), py::arg("dag_text"))
      .def("put_cost_model",
           [](Database& db, const std::string& target, const std::string& name, const py::bytes& blob) {
             std::string bytes = blob;
             py::gil_scoped_release release;
             db.put_cost_model(target, name, bytes);
           },
           py::arg("target"), py::arg("model_name"), py::arg("blob"))
      .def("latest_cost_model",
           [](const Database& db, const std::string& target, const std::string& name) -> py::object {
             std::optional<std::string> blob;
             {
               py::gil_scoped_release release;
               blob = db.latest_cost_model(target, name);
             }
             if (!blob) return py::none();
             return py::bytes(*blob);
           },
           py::arg("target"), py::arg("model_name"))
      .def("export_jsonl",
           [](const Database& db, const std::string& path, const std::string& key, const std::string& target) {
             py::gil_scoped_release release;
             return db.export_jsonl(path, key, target);
           },
           py::arg("path"), py::arg("workload_key") = "", py::arg("target") = "")
      .def("import_jsonl",
           [](Database& db, const std::string& path) {
             ImportStats stats;
             {
               py::gil_scoped_release release;
               stats = db.import_jsonl(path);
             }
             py::dict d;
             d["imported"] = stats.imported;
             d["duplicates"] = stats.duplicates;
             d["corrupt"] = stats.corrupt;
             return d;
           },
           py::arg("path"));
}

