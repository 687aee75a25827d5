// The runtime's tensor object behind the C ABI's opaque TesselTensor: a DLTensor view plus a
// shared owner of the data (an aligned allocation or an imported DLPack tensor).
#pragma once

#include <memory>
#include <vector>

#include "tessel/runtime/c_api.h"

struct TesselTensor {
  // Compact, 64-byte-aligned, uninitialised CPU memory.
  static TesselTensor* allocate(int32_t ndim, const int64_t* shape, DLDataType dtype, DLDevice device);
  // Takes ownership of `managed` (its deleter runs when the last owner goes away).
  static TesselTensor* import(DLManagedTensor* managed);
  // A new managed tensor sharing this tensor's data.
  DLManagedTensor* export_dlpack() const;
  ~TesselTensor();

  const DLTensor& view() const { return view_; }

  std::shared_ptr<void> owner_;
  std::vector<int64_t> shape_, strides_;
  DLTensor view_{};
};
