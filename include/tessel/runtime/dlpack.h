/* DLPack tensor-exchange structs (ABI of DLPack v0.8), written for Tessel from the public
 * specification. numpy (`np.from_dlpack`), PyTorch (`torch.utils.dlpack`) and other frameworks
 * pass tensors through these structs without copying. Plain C; only the subset Tessel uses. */
#ifndef TESSEL_RUNTIME_DLPACK_H_
#define TESSEL_RUNTIME_DLPACK_H_

/* Guarded by DLPack's own include guard name, so a translation unit that also includes the
 * reference dlpack.h sees one definition (the layouts are identical). */
#ifndef DLPACK_DLPACK_H_
#define DLPACK_DLPACK_H_

#include <stddef.h>
#include <stdint.h>

#define DLPACK_VERSION 80
#define DLPACK_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* Where the data lives. Values are fixed by the specification. */
typedef enum {
  kDLCPU = 1,
  kDLCUDA = 2,
  kDLCUDAHost = 3,
  kDLOpenCL = 4,
  kDLVulkan = 7,
  kDLMetal = 8,
  kDLVPI = 9,
  kDLROCM = 10,
  kDLROCMHost = 11,
  kDLExtDev = 12,
  kDLCUDAManaged = 13,
  kDLOneAPI = 14,
  kDLWebGPU = 15,
  kDLHexagon = 16,
} DLDeviceType;

typedef struct {
  DLDeviceType device_type;
  int32_t device_id; /* which device of that type (0 for the CPU) */
} DLDevice;

/* Element type code. */
typedef enum {
  kDLInt = 0,
  kDLUInt = 1,
  kDLFloat = 2,
  kDLOpaqueHandle = 3,
  kDLBfloat = 4,
  kDLComplex = 5,
  kDLBool = 6,
} DLDataTypeCode;

/* Element type: code, bits per lane, lanes (1 for scalars). float32 = {kDLFloat, 32, 1}. */
typedef struct {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
} DLDataType;

/* A strided view of memory. Element (i0, i1, ...) is at
 * (char*)data + byte_offset + sizeof(element) * sum_k(i_k * strides[k]);
 * strides == NULL means compact row-major. Shapes and strides count elements, not bytes. */
typedef struct {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
} DLTensor;

/* A DLTensor plus its owner: the consumer calls deleter(self) when done with it. */
typedef struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(struct DLManagedTensor* self);
} DLManagedTensor;

#ifdef __cplusplus
}
#endif

#endif /* DLPACK_DLPACK_H_ */
#endif /* TESSEL_RUNTIME_DLPACK_H_ */
