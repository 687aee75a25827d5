// Deterministic text form of the loop IR. Variables print by name; distinct variables that share a
// name get suffixes (_1, _2, ...) in order of first appearance, so printing is stable across runs.
#pragma once

#include <ostream>
#include <string>

#include "tessel/ir/stmt.h"

namespace tessel {

std::string to_string(const Expr& e);
std::string to_string(const Stmt& s);
std::string to_string(const PrimFunc& f);
std::ostream& operator<<(std::ostream& os, const Expr& e);
std::ostream& operator<<(std::ostream& os, const Stmt& s);
std::ostream& operator<<(std::ostream& os, const PrimFunc& f);
std::ostream& operator<<(std::ostream& os, const DataType& t);

}  // namespace tessel
