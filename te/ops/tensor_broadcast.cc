// Binary operators with numpy broadcasting (tag "broadcast", or "elemwise" when no operand is
// broadcast), where() and broadcast_to().
#include <functional>

#include "tessel/ir/structural.h"
#include "tensor_internal.h"

namespace tessel::te::ops {

using detail::constant;
using detail::convert_scalar;

namespace {

bool is_one_extent(const Expr& e) { return is_const_int(e, 1); }

bool same_extent(const Expr& a, const Expr& b) {
  const int64_t* x = as_const_int(a);
  const int64_t* y = as_const_int(b);
  if (x && y) return *x == *y;
  return structural_equal(a, b);
}

// Reads t at the indices of a broadcast output of rank out_rank: t's axes align with the
// output's trailing axes, and an axis of extent 1 is read at 0 when the output's is larger.
Expr read_broadcast(const Tensor& t, const std::vector<Var>& out_index, const std::vector<Expr>& out_shape) {
  int offset = static_cast<int>(out_index.size()) - t.ndim();
  std::vector<Expr> index;
  for (int d = 0; d < t.ndim(); ++d) {
    bool stretched = is_one_extent(t.shape()[d]) && !is_one_extent(out_shape[offset + d]);
    index.push_back(stretched ? Expr(make_const(out_index[offset + d].dtype(), 0)) : Expr(out_index[offset + d]));
  }
  return t(index);
}

// The element type the operands agree on: the tensors' (which must match), else a scalar's.
DataType common_dtype(const std::vector<const Operand*>& operands, const std::string& op_name) {
  DataType t;
  bool found = false;
  for (const Operand* o : operands) {
    if (!o->is_tensor()) continue;
    if (!found) {
      t = o->tensor.dtype();
      found = true;
    } else {
      user_check(o->tensor.dtype() == t) << op_name << ": operand types differ (" << t.to_string() << " and "
                                         << o->tensor.dtype().to_string() << ")";
    }
  }
  if (!found) {
    for (const Operand* o : operands) {
      user_check(o->scalar.defined()) << op_name << ": undefined operand";
      return o->scalar.dtype();
    }
  }
  return t;
}

struct Broadcast {
  std::vector<Expr> shape;
  bool stretched = false;  // some tensor operand is read at fewer/other points than the output
};

Broadcast broadcast_operands(const std::vector<const Operand*>& operands, const std::string& op_name) {
  Broadcast result;
  bool first = true;
  for (const Operand* o : operands) {
    if (!o->is_tensor()) continue;
    if (first) {
      result.shape = o->tensor.shape();
      first = false;
      continue;
    }
    std::vector<Expr> next = broadcast_shape(result.shape, o->tensor.shape(), op_name);
    result.shape = next;
  }
  user_check(!first) << op_name << ": at least one operand must be a tensor";
  for (const Operand* o : operands) {
    if (!o->is_tensor()) continue;
    const auto& shape = o->tensor.shape();
    if (shape.size() != result.shape.size()) {
      result.stretched = true;
      continue;
    }
    for (size_t d = 0; d < shape.size(); ++d) result.stretched |= !same_extent(shape[d], result.shape[d]);
  }
  return result;
}

Expr operand_value(const Operand& o, DataType t, const std::vector<Var>& index, const std::vector<Expr>& shape) {
  if (o.is_tensor()) return read_broadcast(o.tensor, index, shape);
  return convert_scalar(o.scalar, t);
}

// out = f(a, b) over the broadcast shape. `check` validates the common operand type.
Tensor binary(const Operand& a, const Operand& b, const std::string& name, const std::function<Expr(Expr, Expr)>& f,
              const std::function<void(DataType)>& check = nullptr) {
  DataType t = common_dtype({&a, &b}, name);
  if (check) check(t);
  Broadcast bc = broadcast_operands({&a, &b}, name);
  return compute(bc.shape, [&](const std::vector<Var>& i) {
    return f(operand_value(a, t, i, bc.shape), operand_value(b, t, i, bc.shape));
  }, name, bc.stretched ? "broadcast" : "elemwise");
}

std::function<void(DataType)> require_float_type(const std::string& name) {
  return [name](DataType t) { user_check(t.is_float()) << name << ": operands must be float, not " << t.to_string(); };
}
std::function<void(DataType)> require_bool_type(const std::string& name) {
  return [name](DataType t) { user_check(t.is_bool()) << name << ": operands must be bool, not " << t.to_string(); };
}
std::function<void(DataType)> require_not_bool(const std::string& name) {
  return [name](DataType t) { user_check(!t.is_bool()) << name << ": operands must not be bool"; };
}

}  // namespace

std::vector<Expr> broadcast_shape(const std::vector<Expr>& a, const std::vector<Expr>& b, const std::string& op_name) {
  size_t rank = std::max(a.size(), b.size());
  std::vector<Expr> shape(rank);
  for (size_t d = 0; d < rank; ++d) {
    // Align at the right: missing leading axes count as extent 1.
    Expr x = d + a.size() >= rank ? a[d + a.size() - rank] : Expr();
    Expr y = d + b.size() >= rank ? b[d + b.size() - rank] : Expr();
    if (!x.defined() || is_one_extent(x)) {
      shape[d] = y.defined() ? y : x;
    } else if (!y.defined() || is_one_extent(y)) {
      shape[d] = x;
    } else {
      user_check(same_extent(x, y)) << op_name << ": shapes do not broadcast: extent "
                                    << (as_const_int(x) ? std::to_string(*as_const_int(x)) : "?") << " vs "
                                    << (as_const_int(y) ? std::to_string(*as_const_int(y)) : "?")
                                    << " on broadcast axis " << d;
      shape[d] = x;
    }
  }
  return shape;
}

Tensor add(const Operand& a, const Operand& b) {
  return binary(a, b, "add", [](Expr x, Expr y) { return x + y; }, require_not_bool("add"));
}
Tensor subtract(const Operand& a, const Operand& b) {
  return binary(a, b, "subtract", [](Expr x, Expr y) { return x - y; }, require_not_bool("subtract"));
}
Tensor multiply(const Operand& a, const Operand& b) {
  return binary(a, b, "multiply", [](Expr x, Expr y) { return x * y; }, require_not_bool("multiply"));
}
Tensor divide(const Operand& a, const Operand& b) {
  return binary(a, b, "divide", [](Expr x, Expr y) {
    return x.dtype().is_float() ? x / y : detail::trunc_div_expr(x, y);
  }, require_not_bool("divide"));
}
Tensor floor_divide(const Operand& a, const Operand& b) {
  return binary(a, b, "floor_divide", [](Expr x, Expr y) {
    return x.dtype().is_float() ? make_call(Intrinsic::k_floor, {x / y}) : x / y;
  }, require_not_bool("floor_divide"));
}
Tensor trunc_divide(const Operand& a, const Operand& b) {
  return binary(a, b, "trunc_divide", [](Expr x, Expr y) {
    return x.dtype().is_float() ? detail::trunc_float(x / y) : detail::trunc_div_expr(x, y);
  }, require_not_bool("trunc_divide"));
}
Tensor floor_mod(const Operand& a, const Operand& b) {
  return binary(a, b, "floor_mod", [](Expr x, Expr y) { return x % y; }, require_not_bool("floor_mod"));
}
Tensor power(const Operand& a, const Operand& b) {
  return binary(a, b, "power", [](Expr x, Expr y) { return make_call(Intrinsic::k_pow, {x, y}); },
                require_float_type("power"));
}
Tensor maximum(const Operand& a, const Operand& b) {
  return binary(a, b, "maximum", [](Expr x, Expr y) { return tessel::max(x, y); });
}
Tensor minimum(const Operand& a, const Operand& b) {
  return binary(a, b, "minimum", [](Expr x, Expr y) { return tessel::min(x, y); });
}
Tensor equal(const Operand& a, const Operand& b) {
  return binary(a, b, "equal", [](Expr x, Expr y) { return x == y; });
}
Tensor not_equal(const Operand& a, const Operand& b) {
  return binary(a, b, "not_equal", [](Expr x, Expr y) { return x != y; });
}
Tensor less(const Operand& a, const Operand& b) {
  return binary(a, b, "less", [](Expr x, Expr y) { return x < y; });
}
Tensor less_equal(const Operand& a, const Operand& b) {
  return binary(a, b, "less_equal", [](Expr x, Expr y) { return x <= y; });
}
Tensor greater(const Operand& a, const Operand& b) {
  return binary(a, b, "greater", [](Expr x, Expr y) { return x > y; });
}
Tensor greater_equal(const Operand& a, const Operand& b) {
  return binary(a, b, "greater_equal", [](Expr x, Expr y) { return x >= y; });
}
Tensor logical_and(const Operand& a, const Operand& b) {
  return binary(a, b, "logical_and", [](Expr x, Expr y) { return x && y; }, require_bool_type("logical_and"));
}
Tensor logical_or(const Operand& a, const Operand& b) {
  return binary(a, b, "logical_or", [](Expr x, Expr y) { return x || y; }, require_bool_type("logical_or"));
}
Tensor logical_xor(const Operand& a, const Operand& b) {
  return binary(a, b, "logical_xor", [](Expr x, Expr y) { return x != y; }, require_bool_type("logical_xor"));
}

Tensor where(const Operand& condition, const Operand& x, const Operand& y) {
  DataType t = common_dtype({&x, &y}, "where");
  Broadcast bc = broadcast_operands({&condition, &x, &y}, "where");
  return compute(bc.shape, [&](const std::vector<Var>& i) {
    Expr c = condition.is_tensor() ? read_broadcast(condition.tensor, i, bc.shape) : condition.scalar;
    if (!c.dtype().is_bool()) c = c != make_const(c.dtype(), 0);
    return make_select(c, operand_value(x, t, i, bc.shape), operand_value(y, t, i, bc.shape));
  }, "where", bc.stretched ? "broadcast" : "elemwise");
}

Tensor broadcast_to(const Tensor& x, const std::vector<Expr>& shape) {
  user_check(shape.size() >= static_cast<size_t>(x.ndim()))
      << "broadcast_to: target rank " << shape.size() << " is smaller than " << x.name() << "'s rank " << x.ndim();
  std::vector<Expr> result = broadcast_shape(x.shape(), shape, "broadcast_to");
  for (size_t d = 0; d < shape.size(); ++d) {
    user_check(same_extent(result[d], shape[d])) << "broadcast_to: " << x.name() << " does not broadcast to the "
                                                 << "target shape on axis " << d;
  }
  Tensor input = x;
  return compute(shape, [&](const std::vector<Var>& i) { return read_broadcast(input, i, shape); }, "broadcast_to",
                 "broadcast");
}

}  // namespace tessel::te::ops
