// Workload keys: a structural identity of a compute DAG. Two DAGs get the same key exactly when
// they compute the same thing on the same shapes and dtypes, whatever their tensors and axes are
// called; the key is stable across processes and machines. The auto-scheduler and the tuning
// database key everything on it.
#pragma once

#include <string>
#include <vector>

#include "tessel/te/tensor.h"

namespace tessel::te {

// The canonical text the key hashes: every tensor in producer-first order, with variables and
// tensors numbered by first appearance instead of named.
std::string workload_text(const std::vector<Tensor>& outputs);

// 32 hexadecimal digits (a 128-bit hash of workload_text).
std::string workload_key(const std::vector<Tensor>& outputs);

}  // namespace tessel::te
