// JSON form of schedule step lists: {"version": 1, "steps": [{"kind", "stage", "axes", "ints",
// "text"}, ...]}. This is the form tuning records store, so it must stay readable by later
// versions: new fields are optional, and the version says what the reader may expect.
#include <nlohmann/json.hpp>

#include "tessel/ir/error.h"
#include "tessel/te/schedule.h"

namespace tessel::te {

namespace {
constexpr int kStepFormatVersion = 1;
const char* const kKnownKinds[] = {"split", "split_nparts", "fuse", "reorder", "compute_at", "compute_inline",
                                   "compute_root", "vectorize", "unroll", "parallel", "bind", "pragma",
                                   "storage_align", "storage_pack", "cache_read", "cache_write", "rfactor"};
}  // namespace

std::string steps_to_json(const std::vector<Step>& steps) {
  nlohmann::json list = nlohmann::json::array();
  for (const Step& step : steps) {
    nlohmann::json j;
    j["kind"] = step.kind;
    j["stage"] = step.stage;
    if (!step.axes.empty()) j["axes"] = step.axes;
    if (!step.ints.empty()) j["ints"] = step.ints;
    if (!step.text.empty()) j["text"] = step.text;
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"version", kStepFormatVersion}, {"steps", list}}.dump();
}

std::vector<Step> steps_from_json(const std::string& text) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  user_check(!doc.is_discarded()) << "schedule steps: not valid JSON";
  user_check(doc.is_object() && doc.contains("version") && doc.contains("steps") && doc["steps"].is_array())
      << "schedule steps: expected an object with 'version' and 'steps'";
  user_check(doc["version"].is_number_integer() && doc["version"].get<int>() <= kStepFormatVersion)
      << "schedule steps: format version " << doc["version"].dump() << " is newer than this Tessel understands ("
      << kStepFormatVersion << ")";
  std::vector<Step> steps;
  for (const nlohmann::json& j : doc["steps"]) {
    try {
      Step step;
      step.kind = j.at("kind").get<std::string>();
      bool known = false;
      for (const char* k : kKnownKinds) known |= step.kind == k;
      user_check(known) << "schedule steps: unknown step kind '" << step.kind << "'";
      step.stage = j.at("stage").get<int>();
      if (j.contains("axes")) step.axes = j["axes"].get<std::vector<int>>();
      if (j.contains("ints")) step.ints = j["ints"].get<std::vector<int64_t>>();
      if (j.contains("text")) step.text = j["text"].get<std::string>();
      steps.push_back(std::move(step));
    } catch (const nlohmann::json::exception& e) {
      user_error() << "schedule steps: malformed step " << j.dump() << ": " << e.what();
    }
  }
  return steps;
}

}  // namespace tessel::te
