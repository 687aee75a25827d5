// DataType parsing and printing.
#include "tessel/ir/type.h"

#include <cstdlib>

#include "tessel/ir/error.h"

namespace tessel {

std::string DataType::to_string() const {
  std::string base;
  switch (code_) {
    case TypeCode::kInt: base = "int" + std::to_string(bits_); break;
    case TypeCode::kUInt: base = bits_ == 1 ? "bool" : "uint" + std::to_string(bits_); break;
    case TypeCode::kFloat: base = "float" + std::to_string(bits_); break;
    case TypeCode::kBFloat: base = "bfloat" + std::to_string(bits_); break;
    case TypeCode::kHandle: return "handle";
  }
  if (lanes_ > 1) base += "x" + std::to_string(lanes_);
  return base;
}

DataType DataType::parse(const std::string& text) {
  std::string body = text;
  int lanes = 1;
  // A lane suffix "x<N>" follows the bit width: "float32x8".
  if (auto pos = body.find_last_of('x'); pos != std::string::npos && pos + 1 < body.size() &&
                                         body.find_first_not_of("0123456789", pos + 1) == std::string::npos) {
    lanes = std::atoi(body.c_str() + pos + 1);
    body = body.substr(0, pos);
  }
  user_check(lanes >= 1) << "invalid vector lanes in data type '" << text << "'";
  if (body == "bool") return Bool(lanes);
  if (body == "handle" && lanes == 1) return Handle();
  struct Prefix { const char* name; TypeCode code; };
  // Longest prefixes first so "bfloat" is not taken for "float" and "uint" not for "int".
  for (Prefix p : {Prefix{"bfloat", TypeCode::kBFloat}, Prefix{"float", TypeCode::kFloat},
                   Prefix{"uint", TypeCode::kUInt}, Prefix{"int", TypeCode::kInt}}) {
    std::string prefix = p.name;
    if (body.rfind(prefix, 0) != 0) continue;
    std::string digits = body.substr(prefix.size());
    user_check(!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos)
        << "unknown data type '" << text << "'";
    int bits = std::atoi(digits.c_str());
    bool valid = false;
    switch (p.code) {
      case TypeCode::kInt:
      case TypeCode::kUInt: valid = bits == 8 || bits == 16 || bits == 32 || bits == 64; break;
      case TypeCode::kFloat: valid = bits == 16 || bits == 32 || bits == 64; break;
      case TypeCode::kBFloat: valid = bits == 16; break;
      case TypeCode::kHandle: break;
    }
    user_check(valid) << "unsupported bit width in data type '" << text << "'";
    return DataType(p.code, bits, lanes);
  }
  user_error() << "unknown data type '" << text << "'";
  return {};
}

}  // namespace tessel
