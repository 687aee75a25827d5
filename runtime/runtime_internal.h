// Private declarations of libtessel_runtime: the error type the C ABI turns into status codes,
// a minimal JSON reader for the embedded plan and metadata, tensors, CPU feature checks and the
// loaded module with its graph executor. Nothing here is exported (see tessel_runtime.map).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessel/runtime/c_api.h"

namespace tessel_rt {

// A failure with the status the C ABI reports for it.
class RuntimeError : public std::runtime_error {
 public:
  RuntimeError(TesselStatus status, const std::string& message) : std::runtime_error(message), status_(status) {}
  TesselStatus status() const { return status_; }

 private:
  TesselStatus status_;
};

// Streams a message and throws it: fail(TESSEL_ERROR_..) << "text" << value;
class ErrorStream {
 public:
  explicit ErrorStream(TesselStatus status) : status_(status) {}
  template <typename T>
  ErrorStream& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }
  [[noreturn]] void raise() const { throw RuntimeError(status_, stream_.str()); }

 private:
  TesselStatus status_;
  std::ostringstream stream_;
};
struct ErrorThrower {
  [[noreturn]] void operator&(const ErrorStream& stream) const { stream.raise(); }
};
#define TESSEL_RT_CHECK(cond, status) \
  (cond) ? (void)0 : ::tessel_rt::ErrorThrower() & ::tessel_rt::ErrorStream(status)

// ---- JSON (only what the exporter writes: objects, arrays, strings, integers, booleans, null) ----
struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  int64_t integer = 0;  // exact when the text was an integer
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;

  // Accessors throw TESSEL_ERROR_CORRUPT_MODULE naming `what` when the value has another kind.
  const JsonValue& at(const std::string& key) const;
  bool has(const std::string& key) const { return kind == Kind::kObject && object.count(key) > 0; }
  int64_t as_int(const char* what) const;
  const std::string& as_string(const char* what) const;
  const std::vector<JsonValue>& as_array(const char* what) const;
};
// Parses `text`; a syntax error throws TESSEL_ERROR_CORRUPT_MODULE naming `what`.
JsonValue parse_json(const std::string& text, const char* what);

// ---- Element types ----
// "float32", "int8", "bool", "bfloat16", ...; throws TESSEL_ERROR_CORRUPT_MODULE when unknown.
DLDataType parse_dtype(const std::string& text);
std::string dtype_to_string(DLDataType dtype);
inline bool same_dtype(DLDataType a, DLDataType b) { return a.code == b.code && a.bits == b.bits && a.lanes == b.lanes; }
inline int64_t dtype_bytes(DLDataType dtype) { return (int64_t{dtype.bits} * dtype.lanes + 7) / 8; }
std::string shape_to_string(const int64_t* shape, int32_t ndim);
int64_t num_elements(const int64_t* shape, int32_t ndim);

// ---- Tensors ----
constexpr size_t kAlignment = 64;

// 64-byte-aligned heap memory.
struct AlignedBuffer {
  void* data = nullptr;
  size_t bytes = 0;
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n);
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

// Checks that `value` is a CPU tensor of exactly `shape` and `dtype` (status codes for each
// mismatch, messages naming `what`).
void check_tensor_matches(const DLTensor* value, const int64_t* shape, int32_t ndim, DLDataType dtype,
                          const std::string& what);
// The same checks without the one on the device (for tensors that may live on a GPU).
void check_tensor_shape(const DLTensor* value, const int64_t* shape, int32_t ndim, DLDataType dtype,
                        const std::string& what);
// True when `value` is compact row-major (strides null or equal to the compact ones).
bool is_compact(const DLTensor* value);
// Copies between two CPU tensors of the same shape and dtype with any strides.
void copy_strided(const DLTensor* src, const DLTensor* dst);
// Copies between tensors on the CPU (any strides) or CUDA device 0 (compact), checking shapes.
void copy_tensor(const DLTensor* src, DLTensor* dst);

// ---- CPU ----
// The architecture this runtime was built for ("x86_64", "aarch64", ...), as a triple's first part.
std::string host_architecture();
// The features in `required` (LLVM names such as "avx512f") this CPU lacks. Names the runtime
// cannot test are assumed present (they are baseline or tuning flags, not instruction sets).
std::vector<std::string> missing_cpu_features(const std::vector<std::string>& required);

}  // namespace tessel_rt
