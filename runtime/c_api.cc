// The C ABI of libtessel_runtime (include/tessel/runtime/c_api.h): every entry catches
// exceptions, stores the message in a thread-local last-error string and returns its status.
#include <new>

#include "cuda_driver.h"
#include "runtime_module.h"
#include "runtime_tensor.h"
#include "tessel/runtime/c_api.h"

namespace {

thread_local std::string last_error;

// Runs `body`, translating exceptions into status codes and the last-error message.
template <typename Body>
int32_t guarded(Body&& body) {
  try {
    body();
    return TESSEL_OK;
  } catch (const tessel_rt::RuntimeError& error) {
    last_error = error.what();
    return error.status();
  } catch (const std::bad_alloc&) {
    last_error = "out of memory";
    return TESSEL_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& error) {
    last_error = std::string("internal error in the Tessel runtime: ") + error.what();
    return TESSEL_ERROR_INTERNAL;
  } catch (...) {
    last_error = "internal error in the Tessel runtime: unknown exception";
    return TESSEL_ERROR_INTERNAL;
  }
}

void require(const void* pointer, const char* what) {
  TESSEL_RT_CHECK(pointer != nullptr, TESSEL_ERROR_INVALID_ARGUMENT) << what << " is null";
}

int32_t find_index(const TesselModule* module, const char* name, bool input) {
  require(name, "name");
  int32_t index = input ? module->input_index(name) : module->output_index(name);
  if (index < 0) {
    const auto& infos = input ? module->inputs : module->outputs;
    std::string known;
    for (const auto& info : infos) known += (known.empty() ? "" : ", ") + info.name;
    throw tessel_rt::RuntimeError(TESSEL_ERROR_UNKNOWN_NAME, std::string("the module has no ") +
                                                                 (input ? "input" : "output") + " named '" + name +
                                                                 "' (it has: " + known + ")");
  }
  return index;
}

void fill_info(const tessel_rt::TensorInfo& info, TesselTensorInfo* out) {
  out->name = info.name.c_str();
  out->ndim = static_cast<int32_t>(info.shape.size());
  out->shape = info.shape.data();
  out->dtype = info.dtype;
}

}  // namespace

extern "C" {

const char* tessel_get_last_error(void) { return last_error.c_str(); }

const char* tessel_status_name(int32_t status) {
  switch (status) {
    case TESSEL_OK: return "TESSEL_OK";
    case TESSEL_ERROR_INVALID_ARGUMENT: return "TESSEL_ERROR_INVALID_ARGUMENT";
    case TESSEL_ERROR_FILE_NOT_FOUND: return "TESSEL_ERROR_FILE_NOT_FOUND";
    case TESSEL_ERROR_NOT_A_MODULE: return "TESSEL_ERROR_NOT_A_MODULE";
    case TESSEL_ERROR_VERSION_MISMATCH: return "TESSEL_ERROR_VERSION_MISMATCH";
    case TESSEL_ERROR_TARGET_MISMATCH: return "TESSEL_ERROR_TARGET_MISMATCH";
    case TESSEL_ERROR_UNKNOWN_NAME: return "TESSEL_ERROR_UNKNOWN_NAME";
    case TESSEL_ERROR_SHAPE_MISMATCH: return "TESSEL_ERROR_SHAPE_MISMATCH";
    case TESSEL_ERROR_DTYPE_MISMATCH: return "TESSEL_ERROR_DTYPE_MISMATCH";
    case TESSEL_ERROR_KERNEL_FAILED: return "TESSEL_ERROR_KERNEL_FAILED";
    case TESSEL_ERROR_OUT_OF_MEMORY: return "TESSEL_ERROR_OUT_OF_MEMORY";
    case TESSEL_ERROR_CORRUPT_MODULE: return "TESSEL_ERROR_CORRUPT_MODULE";
    case TESSEL_ERROR_INTERNAL: return "TESSEL_ERROR_INTERNAL";
    case TESSEL_ERROR_NO_DEVICE: return "TESSEL_ERROR_NO_DEVICE";
    default: return "TESSEL_UNKNOWN_STATUS";
  }
}

int32_t tessel_runtime_format_version(void) { return TESSEL_MODULE_FORMAT_VERSION; }

int32_t tessel_tensor_alloc(int32_t ndim, const int64_t* shape, DLDataType dtype, DLDevice device,
                            TesselTensor** out) {
  return guarded([&] {
    require(out, "out");
    *out = TesselTensor::allocate(ndim, shape, dtype, device);
  });
}

void tessel_tensor_free(TesselTensor* tensor) { delete tensor; }

int32_t tessel_tensor_copy(const DLTensor* src, DLTensor* dst) {
  return guarded([&] { tessel_rt::copy_tensor(src, dst); });
}

int32_t tessel_cuda_available(void) {
  return guarded([&] { tessel_rt::cuda::driver(); });
}

int32_t tessel_tensor_as_dltensor(TesselTensor* tensor, const DLTensor** out) {
  return guarded([&] {
    require(tensor, "tensor");
    require(out, "out");
    *out = &tensor->view();
  });
}

int32_t tessel_tensor_to_dlpack(TesselTensor* tensor, DLManagedTensor** out) {
  return guarded([&] {
    require(tensor, "tensor");
    require(out, "out");
    *out = tensor->export_dlpack();
  });
}

int32_t tessel_tensor_from_dlpack(DLManagedTensor* managed, TesselTensor** out) {
  return guarded([&] {
    require(out, "out");
    *out = TesselTensor::import(managed);
  });
}

int32_t tessel_module_load(const char* path, TesselModule** out) {
  return guarded([&] {
    require(out, "out");
    *out = nullptr;
    require(path, "path");
    *out = tessel_rt::load_module(path).release();
  });
}

void tessel_module_free(TesselModule* module) { delete module; }

int32_t tessel_module_num_inputs(const TesselModule* module, int32_t* out) {
  return guarded([&] {
    require(module, "module");
    require(out, "out");
    *out = static_cast<int32_t>(module->inputs.size());
  });
}

int32_t tessel_module_num_outputs(const TesselModule* module, int32_t* out) {
  return guarded([&] {
    require(module, "module");
    require(out, "out");
    *out = static_cast<int32_t>(module->outputs.size());
  });
}

int32_t tessel_module_input_info(const TesselModule* module, int32_t index, TesselTensorInfo* out) {
  return guarded([&] {
    require(module, "module");
    require(out, "out");
    TESSEL_RT_CHECK(index >= 0 && static_cast<size_t>(index) < module->inputs.size(), TESSEL_ERROR_INVALID_ARGUMENT)
        << "input index " << index << " is out of range (the module has " << module->inputs.size() << ")";
    fill_info(module->inputs[index], out);
  });
}

int32_t tessel_module_output_info(const TesselModule* module, int32_t index, TesselTensorInfo* out) {
  return guarded([&] {
    require(module, "module");
    require(out, "out");
    TESSEL_RT_CHECK(index >= 0 && static_cast<size_t>(index) < module->outputs.size(), TESSEL_ERROR_INVALID_ARGUMENT)
        << "output index " << index << " is out of range (the module has " << module->outputs.size() << ")";
    fill_info(module->outputs[index], out);
  });
}

int32_t tessel_module_input_index(const TesselModule* module, const char* name, int32_t* out) {
  return guarded([&] {
    require(module, "module");
    require(out, "out");
    *out = find_index(module, name, true);
  });
}

int32_t tessel_module_output_index(const TesselModule* module, const char* name, int32_t* out) {
  return guarded([&] {
    require(module, "module");
    require(out, "out");
    *out = find_index(module, name, false);
  });
}

int32_t tessel_module_metadata_json(const TesselModule* module, const char** out) {
  return guarded([&] {
    require(module, "module");
    require(out, "out");
    *out = module->metadata_json.c_str();
  });
}

int32_t tessel_module_graph_json(const TesselModule* module, const char** out) {
  return guarded([&] {
    require(module, "module");
    require(out, "out");
    *out = module->graph_json.c_str();
  });
}

int32_t tessel_module_set_input(TesselModule* module, const char* name, const DLTensor* value) {
  return guarded([&] {
    require(module, "module");
    module->set_input(find_index(module, name, true), value, false);
  });
}

int32_t tessel_module_set_input_index(TesselModule* module, int32_t index, const DLTensor* value) {
  return guarded([&] {
    require(module, "module");
    module->set_input(index, value, false);
  });
}

int32_t tessel_module_set_input_zero_copy(TesselModule* module, int32_t index, const DLTensor* value) {
  return guarded([&] {
    require(module, "module");
    module->set_input(index, value, true);
  });
}

int32_t tessel_module_set_output_zero_copy(TesselModule* module, int32_t index, const DLTensor* value) {
  return guarded([&] {
    require(module, "module");
    module->set_output_zero_copy(index, value);
  });
}

int32_t tessel_module_run(TesselModule* module) {
  return guarded([&] {
    require(module, "module");
    module->run();
  });
}

int32_t tessel_module_get_output(const TesselModule* module, int32_t index, DLTensor* dst) {
  return guarded([&] {
    require(module, "module");
    module->get_output(index, dst);
  });
}

int32_t tessel_module_run_profile(TesselModule* module, int32_t repeat, const char** table) {
  return guarded([&] {
    require(module, "module");
    require(table, "table");
    *table = module->run_profile(repeat).c_str();
  });
}

}  // extern "C"
