// Reads the TESSEL_* environment settings once (see settings.h).
#include "tessel/ir/settings.h"

#include <cstdlib>
#include <mutex>

namespace tessel {

namespace {

Settings read_environment() {
  Settings s;
  if (const char* v = std::getenv("TESSEL_DEBUG")) s.debug_level = std::atoi(v);
  if (const char* v = std::getenv("TESSEL_DUMP_IR")) s.dump_ir_dir = v;
  if (const char* v = std::getenv("TESSEL_DUMP_CODE")) s.dump_code_dir = v;
  if (const char* v = std::getenv("TESSEL_TIME_PASSES")) s.time_passes = v[0] != '\0' && v[0] != '0';
  return s;
}

Settings& mutable_settings() {
  static Settings s = read_environment();
  return s;
}

}  // namespace

const Settings& settings() { return mutable_settings(); }
void set_settings(const Settings& s) { mutable_settings() = s; }

}  // namespace tessel
