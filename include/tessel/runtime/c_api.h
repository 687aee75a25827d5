/* Tessel runtime C ABI: load an exported module library (.so), set inputs, run, read outputs.
 * Every function returns a TesselStatus (0 = success); on failure tessel_get_last_error() gives a
 * one-line message for the calling thread. Tensors cross the boundary as DLPack DLTensors.
 * A module handle may be used by one thread at a time; separate handles run concurrently. */
#ifndef TESSEL_RUNTIME_C_API_H_
#define TESSEL_RUNTIME_C_API_H_

#include <stdint.h>

#include "tessel/runtime/dlpack.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the module format this runtime reads (the exporter writes the same number). */
#define TESSEL_MODULE_FORMAT_VERSION 1

typedef enum {
  TESSEL_OK = 0,
  TESSEL_ERROR_INVALID_ARGUMENT = 1,  /* null pointer, index out of range, bad tensor layout */
  TESSEL_ERROR_FILE_NOT_FOUND = 2,    /* the library file does not exist or cannot be read */
  TESSEL_ERROR_NOT_A_MODULE = 3,      /* not a shared library, or not one Tessel exported */
  TESSEL_ERROR_VERSION_MISMATCH = 4,  /* exported with another module format version */
  TESSEL_ERROR_TARGET_MISMATCH = 5,   /* built for another architecture or missing CPU features */
  TESSEL_ERROR_UNKNOWN_NAME = 6,      /* no input or output of that name */
  TESSEL_ERROR_SHAPE_MISMATCH = 7,    /* tensor shape differs from the module's */
  TESSEL_ERROR_DTYPE_MISMATCH = 8,    /* tensor element type differs from the module's */
  TESSEL_ERROR_KERNEL_FAILED = 9,     /* a kernel returned an error while running */
  TESSEL_ERROR_OUT_OF_MEMORY = 10,
  TESSEL_ERROR_CORRUPT_MODULE = 11,   /* the embedded plan or metadata is inconsistent */
  TESSEL_ERROR_INTERNAL = 12,         /* a bug in the runtime */
  TESSEL_ERROR_NO_DEVICE = 13,        /* the module runs on a GPU, and no usable GPU or driver is here */
} TesselStatus;

/* Message of the last failure on this thread ("" when none). Valid until the next failing call. */
const char* tessel_get_last_error(void);
/* Name of a status code, e.g. "TESSEL_ERROR_SHAPE_MISMATCH". */
const char* tessel_status_name(int32_t status);
/* TESSEL_MODULE_FORMAT_VERSION of the runtime actually loaded. */
int32_t tessel_runtime_format_version(void);

/* ---- Tensors: CPU or CUDA device memory, owned by the runtime or imported through DLPack ---- */
typedef struct TesselTensor TesselTensor;

/* Allocates an uninitialised compact tensor: CPU memory aligned to 64 bytes (kDLCPU), or memory
 * of CUDA device 0 (kDLCUDA, through the driver, which is loaded on first use; without a GPU or
 * driver this fails with TESSEL_ERROR_NO_DEVICE). */
int32_t tessel_tensor_alloc(int32_t ndim, const int64_t* shape, DLDataType dtype, DLDevice device,
                            TesselTensor** out);
/* Copies src into dst: same shape and dtype, each on the CPU (any strides) or a CUDA device
 * (compact). Host <-> device copies go through the CUDA driver and wait for completion. */
int32_t tessel_tensor_copy(const DLTensor* src, DLTensor* dst);
/* TESSEL_OK when a CUDA GPU can be used (libcuda.so.1 loads, cuInit and device 0 succeed);
 * otherwise TESSEL_ERROR_NO_DEVICE with the reason as the last error. Nothing links against
 * CUDA: the driver is opened with dlopen. */
int32_t tessel_cuda_available(void);
void tessel_tensor_free(TesselTensor* tensor);
/* A view of the tensor (owned by it; valid while it lives). */
int32_t tessel_tensor_as_dltensor(TesselTensor* tensor, const DLTensor** out);
/* Exports the tensor without copying: the managed tensor keeps the data alive after
 * tessel_tensor_free, until its deleter runs. */
int32_t tessel_tensor_to_dlpack(TesselTensor* tensor, DLManagedTensor** out);
/* Imports a DLPack tensor without copying; the new tensor calls managed->deleter when freed.
 * On failure the caller still owns `managed`. */
int32_t tessel_tensor_from_dlpack(DLManagedTensor* managed, TesselTensor** out);

/* ---- Modules ---- */
typedef struct TesselModule TesselModule;

/* Name, shape and element type of an input or output; pointers stay valid while the module lives. */
typedef struct {
  const char* name;
  int32_t ndim;
  const int64_t* shape;
  DLDataType dtype;
} TesselTensorInfo;

/* Loads an exported module library: checks the file, the format version, the architecture and
 * the CPU features it needs (a CPU lacking one is reported here, never by a crash later).
 * A module compiled for target "cuda" (metadata target.kind) carries PTX (and a cubin) that is
 * loaded into CUDA device 0 here, with its memory plan, inputs, outputs and weights in device
 * memory; without a GPU or driver loading fails with TESSEL_ERROR_NO_DEVICE. Inputs and outputs
 * of such a module may be CPU tensors (copied to and from the device) or CUDA tensors. */
int32_t tessel_module_load(const char* path, TesselModule** out);
void tessel_module_free(TesselModule* module);

int32_t tessel_module_num_inputs(const TesselModule* module, int32_t* out);
int32_t tessel_module_num_outputs(const TesselModule* module, int32_t* out);
int32_t tessel_module_input_info(const TesselModule* module, int32_t index, TesselTensorInfo* out);
int32_t tessel_module_output_info(const TesselModule* module, int32_t index, TesselTensorInfo* out);
/* Index of the input (or output) called `name`; TESSEL_ERROR_UNKNOWN_NAME when there is none. */
int32_t tessel_module_input_index(const TesselModule* module, const char* name, int32_t* out);
int32_t tessel_module_output_index(const TesselModule* module, const char* name, int32_t* out);
/* The module's metadata and execution plan as JSON text (owned by the module). */
int32_t tessel_module_metadata_json(const TesselModule* module, const char** out);
int32_t tessel_module_graph_json(const TesselModule* module, const char** out);

/* Copies `value` (any strides, CPU) into the input. Shape and dtype must match exactly. */
int32_t tessel_module_set_input(TesselModule* module, const char* name, const DLTensor* value);
int32_t tessel_module_set_input_index(TesselModule* module, int32_t index, const DLTensor* value);
/* Uses the caller's memory for the input, without copying, until the next set_input on that
 * index. value must be compact and its data 64-byte aligned; it must stay alive while runs use it.
 * value == NULL goes back to the module's own input buffer. For a CUDA module a CPU value is
 * copied to the device at each run (so runs see its current contents), a CUDA value is used in
 * place. */
int32_t tessel_module_set_input_zero_copy(TesselModule* module, int32_t index, const DLTensor* value);
/* Makes runs write output `index` straight into the caller's memory (compact, 64-byte aligned)
 * until it is unbound with value == NULL (back to the module's own output buffer). For a CUDA
 * module a CPU value receives a copy at the end of each run. */
int32_t tessel_module_set_output_zero_copy(TesselModule* module, int32_t index, const DLTensor* value);

/* Runs every kernel of the plan once, in order. */
int32_t tessel_module_run(TesselModule* module);
/* Copies output `index` into `dst` (shape and dtype must match; CPU with any strides, or for a
 * CUDA module also a compact CUDA tensor). */
int32_t tessel_module_get_output(const TesselModule* module, int32_t index, DLTensor* dst);
/* Runs the plan `repeat` times (>= 1), timing each kernel call, and returns a text table
 * (per node: kernel, calls, median and mean microseconds, share of the total) owned by the
 * module, valid until the next run_profile. */
int32_t tessel_module_run_profile(TesselModule* module, int32_t repeat, const char** table);

#ifdef __cplusplus
}
#endif

#endif /* TESSEL_RUNTIME_C_API_H_ */
