// Structural equality and hashing of loop IR. Variables and buffers bound inside the compared
// terms (loop variables, lets, allocations, function parameters) are equal up to consistent
// renaming; free variables compare by identity. Hashes agree whenever structural_equal does.
#pragma once

#include <cstddef>

#include "tessel/ir/stmt.h"

namespace tessel {

bool structural_equal(const Expr& a, const Expr& b);
bool structural_equal(const Stmt& a, const Stmt& b);
bool structural_equal(const PrimFunc& a, const PrimFunc& b);
size_t structural_hash(const Expr& e);
size_t structural_hash(const Stmt& s);
size_t structural_hash(const PrimFunc& f);

}  // namespace tessel
