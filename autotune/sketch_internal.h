// Facts about a task's stages that sketch rules and annotation share (private to autotune/).
#pragma once

#include <vector>

#include "tessel/autotune/sketch.h"

namespace tessel::autotune {

using te::IterVar;

struct StageFacts {
  struct Stage {
    bool compute = false, reduction = false, output = false, reuse = false, constant = false;
    bool conditional = false;  // elementwise with a Select in its value (padding)
    int64_t spatial_size = 1, reduce_size = 1;
  };
  std::vector<Stage> stages;              // indexed like the fresh schedule's stages
  std::vector<std::vector<int>> consumers;  // stage -> stages reading it
};

StageFacts analyze_stages(const SearchTask& task);
// Constant extent of an iter var's domain, or -1.
int64_t constant_extent(const IterVar& iv);

}  // namespace tessel::autotune
