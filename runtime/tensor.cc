// Runtime tensors: element types, 64-byte-aligned allocation, shape/dtype checks with the status
// codes users see, strided copies, and DLPack import/export without copying.
#include <cstdlib>
#include <cstring>
#include <functional>

#include "cuda_driver.h"
#include "runtime_internal.h"
#include "runtime_tensor.h"

namespace tessel_rt {

AlignedBuffer::AlignedBuffer(size_t n) : bytes(n) {
  // aligned_alloc wants a size that is a multiple of the alignment; allocate at least one line.
  size_t rounded = (n + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  data = std::aligned_alloc(kAlignment, rounded);
  TESSEL_RT_CHECK(data != nullptr, TESSEL_ERROR_OUT_OF_MEMORY) << "cannot allocate " << n << " bytes";
}

AlignedBuffer::~AlignedBuffer() { std::free(data); }

DLDataType parse_dtype(const std::string& text) {
  struct Named {
    const char* name;
    DLDataType dtype;
  };
  static const Named kTypes[] = {
      {"float16", {kDLFloat, 16, 1}}, {"float32", {kDLFloat, 32, 1}}, {"float64", {kDLFloat, 64, 1}},
      {"bfloat16", {kDLBfloat, 16, 1}}, {"int8", {kDLInt, 8, 1}},      {"int16", {kDLInt, 16, 1}},
      {"int32", {kDLInt, 32, 1}},       {"int64", {kDLInt, 64, 1}},    {"uint8", {kDLUInt, 8, 1}},
      {"uint16", {kDLUInt, 16, 1}},     {"uint32", {kDLUInt, 32, 1}},  {"uint64", {kDLUInt, 64, 1}},
      {"bool", {kDLBool, 8, 1}},
  };
  for (const Named& named : kTypes) {
    if (text == named.name) return named.dtype;
  }
  throw RuntimeError(TESSEL_ERROR_CORRUPT_MODULE, "unknown element type '" + text + "' in module");
}

std::string dtype_to_string(DLDataType dtype) {
  std::string base;
  switch (dtype.code) {
    case kDLInt: base = "int"; break;
    case kDLUInt: base = "uint"; break;
    case kDLFloat: base = "float"; break;
    case kDLBfloat: base = "bfloat"; break;
    case kDLBool: base = "bool"; break;
    case kDLComplex: base = "complex"; break;
    default: base = "code" + std::to_string(dtype.code) + "_"; break;
  }
  if (dtype.code != kDLBool) base += std::to_string(dtype.bits);
  if (dtype.lanes != 1) {
    base += 'x';
    base += std::to_string(dtype.lanes);
  }
  return base;
}

std::string shape_to_string(const int64_t* shape, int32_t ndim) {
  std::string text = "(";
  for (int32_t i = 0; i < ndim; ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  if (ndim == 1) text += ",";
  return text + ")";
}

int64_t num_elements(const int64_t* shape, int32_t ndim) {
  int64_t n = 1;
  for (int32_t i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

void check_tensor_matches(const DLTensor* value, const int64_t* shape, int32_t ndim, DLDataType dtype,
                          const std::string& what) {
  TESSEL_RT_CHECK(value != nullptr, TESSEL_ERROR_INVALID_ARGUMENT) << what << ": the tensor is null";
  TESSEL_RT_CHECK(value->device.device_type == kDLCPU, TESSEL_ERROR_INVALID_ARGUMENT)
      << what << ": the tensor is on device type " << value->device.device_type << ", expected the CPU";
  check_tensor_shape(value, shape, ndim, dtype, what);
}

void check_tensor_shape(const DLTensor* value, const int64_t* shape, int32_t ndim, DLDataType dtype,
                        const std::string& what) {
  TESSEL_RT_CHECK(value != nullptr, TESSEL_ERROR_INVALID_ARGUMENT) << what << ": the tensor is null";
  // numpy exports bool as kDLBool (or kDLUInt 8 in older versions); accept both for bool inputs.
  bool bool_alias = dtype.code == kDLBool && value->dtype.code == kDLUInt && value->dtype.bits == 8 &&
                    value->dtype.lanes == 1;
  TESSEL_RT_CHECK(same_dtype(value->dtype, dtype) || bool_alias, TESSEL_ERROR_DTYPE_MISMATCH)
      << what << ": expected dtype " << dtype_to_string(dtype) << ", got " << dtype_to_string(value->dtype);
  bool same = value->ndim == ndim && (ndim == 0 || value->shape != nullptr);
  for (int32_t i = 0; same && i < ndim; ++i) same = value->shape[i] == shape[i];
  TESSEL_RT_CHECK(same, TESSEL_ERROR_SHAPE_MISMATCH)
      << what << ": expected shape " << shape_to_string(shape, ndim) << ", got "
      << (value->ndim > 0 && value->shape == nullptr ? std::string("(null shape)")
                                                      : shape_to_string(value->shape, value->ndim));
  TESSEL_RT_CHECK(value->data != nullptr || num_elements(shape, ndim) == 0, TESSEL_ERROR_INVALID_ARGUMENT)
      << what << ": the tensor's data pointer is null";
}

bool is_compact(const DLTensor* value) {
  if (value->strides == nullptr) return true;
  int64_t expected = 1;
  for (int32_t i = value->ndim - 1; i >= 0; --i) {
    // A dimension of extent 1 may carry any stride.
    if (value->shape[i] != 1 && value->strides[i] != expected) return false;
    expected *= value->shape[i];
  }
  return true;
}

namespace {

std::vector<int64_t> effective_strides(const DLTensor* t) {
  std::vector<int64_t> strides(t->ndim);
  int64_t step = 1;
  for (int32_t i = t->ndim - 1; i >= 0; --i) {
    strides[i] = t->strides ? t->strides[i] : step;
    step *= t->shape[i];
  }
  return strides;
}

}  // namespace

void copy_strided(const DLTensor* src, const DLTensor* dst) {
  const int64_t element = dtype_bytes(src->dtype);
  const char* from = static_cast<const char*>(src->data) + src->byte_offset;
  char* to = static_cast<char*>(dst->data) + dst->byte_offset;
  int64_t count = num_elements(src->shape, src->ndim);
  if (count == 0) return;
  if (is_compact(src) && is_compact(dst)) {
    std::memcpy(to, from, static_cast<size_t>(count * element));
    return;
  }
  std::vector<int64_t> src_strides = effective_strides(src), dst_strides = effective_strides(dst);
  const int32_t ndim = src->ndim;
  // Walk all but the innermost dimension with an odometer; copy the innermost run element-wise.
  std::vector<int64_t> index(ndim, 0);
  const int64_t inner = src->shape[ndim - 1];
  while (true) {
    int64_t src_offset = 0, dst_offset = 0;
    for (int32_t d = 0; d + 1 < ndim; ++d) {
      src_offset += index[d] * src_strides[d];
      dst_offset += index[d] * dst_strides[d];
    }
    for (int64_t i = 0; i < inner; ++i) {
      std::memcpy(to + (dst_offset + i * dst_strides[ndim - 1]) * element,
                  from + (src_offset + i * src_strides[ndim - 1]) * element, static_cast<size_t>(element));
    }
    int32_t d = ndim - 2;
    while (d >= 0 && ++index[d] == src->shape[d]) index[d--] = 0;
    if (d < 0) break;
  }
}

void copy_tensor(const DLTensor* src, DLTensor* dst) {
  TESSEL_RT_CHECK(src != nullptr && dst != nullptr, TESSEL_ERROR_INVALID_ARGUMENT) << "tensor_copy: null tensor";
  for (const DLTensor* t : {src, static_cast<const DLTensor*>(dst)}) {
    TESSEL_RT_CHECK(t->device.device_type == kDLCPU || t->device.device_type == kDLCUDA, TESSEL_ERROR_INVALID_ARGUMENT)
        << "tensor_copy: tensors must be on the CPU or a CUDA device, got device type " << t->device.device_type;
    TESSEL_RT_CHECK(t->device.device_type == kDLCPU || is_compact(t), TESSEL_ERROR_INVALID_ARGUMENT)
        << "tensor_copy: a CUDA tensor must be compact (row-major, contiguous)";
  }
  check_tensor_shape(dst, src->shape, src->ndim, src->dtype, "tensor_copy destination");
  const size_t bytes = static_cast<size_t>(num_elements(src->shape, src->ndim) * dtype_bytes(src->dtype));
  const bool src_gpu = src->device.device_type == kDLCUDA, dst_gpu = dst->device.device_type == kDLCUDA;
  auto device_pointer = [](const DLTensor* t) {
    return static_cast<cuda::DevicePtr>(reinterpret_cast<uintptr_t>(t->data) + t->byte_offset);
  };
  auto host_pointer = [](const DLTensor* t) { return static_cast<char*>(t->data) + t->byte_offset; };
  if (!src_gpu && !dst_gpu) {
    copy_strided(src, dst);
  } else if (src_gpu && dst_gpu) {
    cuda::copy_on_device(device_pointer(dst), device_pointer(src), bytes);
  } else if (dst_gpu) {
    if (is_compact(src)) {
      cuda::copy_to_device(device_pointer(dst), host_pointer(src), bytes);
    } else {
      AlignedBuffer staging(bytes);
      DLTensor compact{staging.data, {kDLCPU, 0}, src->ndim, src->dtype, src->shape, nullptr, 0};
      copy_strided(src, &compact);
      cuda::copy_to_device(device_pointer(dst), staging.data, bytes);
    }
  } else if (is_compact(dst)) {
    cuda::copy_to_host(host_pointer(dst), device_pointer(src), bytes);
  } else {
    AlignedBuffer staging(bytes);
    cuda::copy_to_host(staging.data, device_pointer(src), bytes);
    DLTensor compact{staging.data, {kDLCPU, 0}, src->ndim, src->dtype, src->shape, nullptr, 0};
    copy_strided(&compact, dst);
  }
}

}  // namespace tessel_rt

// ---- TesselTensor ----

using tessel_rt::RuntimeError;

TesselTensor::~TesselTensor() = default;

TesselTensor* TesselTensor::allocate(int32_t ndim, const int64_t* shape, DLDataType dtype, DLDevice device) {
  TESSEL_RT_CHECK(ndim >= 0 && (ndim == 0 || shape != nullptr), TESSEL_ERROR_INVALID_ARGUMENT)
      << "tensor_alloc: bad shape (ndim " << ndim << ")";
  TESSEL_RT_CHECK(device.device_type == kDLCPU || device.device_type == kDLCUDA, TESSEL_ERROR_INVALID_ARGUMENT)
      << "tensor_alloc: only CPU and CUDA tensors are supported, got device type " << device.device_type;
  TESSEL_RT_CHECK(device.device_type == kDLCPU || device.device_id == 0, TESSEL_ERROR_INVALID_ARGUMENT)
      << "tensor_alloc: only CUDA device 0 is supported, got device " << device.device_id;
  TESSEL_RT_CHECK(dtype.bits > 0 && dtype.lanes > 0, TESSEL_ERROR_INVALID_ARGUMENT) << "tensor_alloc: bad dtype";
  for (int32_t i = 0; i < ndim; ++i) {
    TESSEL_RT_CHECK(shape[i] >= 0, TESSEL_ERROR_INVALID_ARGUMENT) << "tensor_alloc: negative extent " << shape[i];
  }
  auto tensor = std::make_unique<TesselTensor>();
  tensor->shape_.assign(shape, shape + ndim);
  size_t bytes = static_cast<size_t>(tessel_rt::num_elements(shape, ndim) * tessel_rt::dtype_bytes(dtype));
  if (device.device_type == kDLCUDA) {
    auto buffer = std::make_shared<tessel_rt::cuda::DeviceBuffer>(bytes);
    tensor->owner_ = buffer;
    void* data = reinterpret_cast<void*>(static_cast<uintptr_t>(buffer->pointer()));
    tensor->view_ = DLTensor{data, device, ndim, dtype, tensor->shape_.data(), nullptr, 0};
    return tensor.release();
  }
  auto buffer = std::make_shared<tessel_rt::AlignedBuffer>(bytes);
  tensor->owner_ = buffer;
  tensor->view_ = DLTensor{buffer->data, device, ndim, dtype, tensor->shape_.data(), nullptr, 0};
  return tensor.release();
}

TesselTensor* TesselTensor::import(DLManagedTensor* managed) {
  TESSEL_RT_CHECK(managed != nullptr, TESSEL_ERROR_INVALID_ARGUMENT) << "tensor_from_dlpack: null tensor";
  const DLTensor& source = managed->dl_tensor;
  TESSEL_RT_CHECK(source.ndim >= 0 && (source.ndim == 0 || source.shape != nullptr), TESSEL_ERROR_INVALID_ARGUMENT)
      << "tensor_from_dlpack: bad shape";
  auto tensor = std::make_unique<TesselTensor>();
  tensor->shape_.assign(source.shape, source.shape + source.ndim);
  if (source.strides) tensor->strides_.assign(source.strides, source.strides + source.ndim);
  // The data stays where the producer put it; the producer's deleter runs with the last owner.
  tensor->owner_ = std::shared_ptr<void>(managed, [](void* p) {
    auto* m = static_cast<DLManagedTensor*>(p);
    if (m->deleter) m->deleter(m);
  });
  tensor->view_ = source;
  tensor->view_.shape = tensor->shape_.data();
  tensor->view_.strides = source.strides ? tensor->strides_.data() : nullptr;
  return tensor.release();
}

namespace {

// What a DLManagedTensor exported from a TesselTensor owns: its own shape/strides and a share of
// the data's owner.
struct ExportContext {
  std::shared_ptr<void> owner;
  std::vector<int64_t> shape, strides;
  DLManagedTensor managed;
};

void delete_export(DLManagedTensor* self) { delete static_cast<ExportContext*>(self->manager_ctx); }

}  // namespace

DLManagedTensor* TesselTensor::export_dlpack() const {
  auto* context = new ExportContext{owner_, shape_, strides_, {}};
  context->managed.dl_tensor = view_;
  context->managed.dl_tensor.shape = context->shape.data();
  context->managed.dl_tensor.strides = view_.strides ? context->strides.data() : nullptr;
  context->managed.manager_ctx = context;
  context->managed.deleter = delete_export;
  return &context->managed;
}
