// Data types of the loop IR: a scalar kind (int, uint, float, bfloat, handle), a bit width and a
// number of vector lanes. bool is uint1. A handle is an opaque pointer (buffer data).
#pragma once

#include <cstdint>
#include <string>

namespace tessel {

enum class TypeCode : uint8_t { kInt, kUInt, kFloat, kBFloat, kHandle };

class DataType {
 public:
  constexpr DataType() = default;
  constexpr DataType(TypeCode code, int bits, int lanes = 1) : code_(code), bits_(bits), lanes_(lanes) {}

  static constexpr DataType Int(int bits, int lanes = 1) { return {TypeCode::kInt, bits, lanes}; }
  static constexpr DataType UInt(int bits, int lanes = 1) { return {TypeCode::kUInt, bits, lanes}; }
  static constexpr DataType Float(int bits, int lanes = 1) { return {TypeCode::kFloat, bits, lanes}; }
  static constexpr DataType BFloat16(int lanes = 1) { return {TypeCode::kBFloat, 16, lanes}; }
  static constexpr DataType Bool(int lanes = 1) { return {TypeCode::kUInt, 1, lanes}; }
  static constexpr DataType Handle() { return {TypeCode::kHandle, 64, 1}; }
  // Parses "float32", "int8x16", "bool", "bfloat16", "handle"; throws CompileError otherwise.
  static DataType parse(const std::string& text);

  constexpr TypeCode code() const { return code_; }
  constexpr int bits() const { return bits_; }
  constexpr int lanes() const { return lanes_; }
  constexpr int bytes() const { return (bits_ + 7) / 8; }  // of one lane

  constexpr bool is_int() const { return code_ == TypeCode::kInt; }
  constexpr bool is_uint() const { return code_ == TypeCode::kUInt && bits_ != 1; }
  constexpr bool is_bool() const { return code_ == TypeCode::kUInt && bits_ == 1; }
  // int, uint or bool: everything with exact integer arithmetic.
  constexpr bool is_integral() const { return code_ == TypeCode::kInt || code_ == TypeCode::kUInt; }
  constexpr bool is_float() const { return code_ == TypeCode::kFloat || code_ == TypeCode::kBFloat; }
  constexpr bool is_bfloat16() const { return code_ == TypeCode::kBFloat; }
  constexpr bool is_handle() const { return code_ == TypeCode::kHandle; }
  constexpr bool is_scalar() const { return lanes_ == 1; }
  constexpr bool is_vector() const { return lanes_ > 1; }

  constexpr DataType with_lanes(int lanes) const { return {code_, bits_, lanes}; }
  constexpr DataType element_of() const { return with_lanes(1); }

  constexpr bool operator==(const DataType& other) const = default;

  std::string to_string() const;  // "float32", "int32x8", "bool", "handle"

 private:
  TypeCode code_ = TypeCode::kInt;
  uint8_t bits_ = 32;
  uint16_t lanes_ = 1;
};

}  // namespace tessel
