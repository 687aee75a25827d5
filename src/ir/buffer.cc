// Buffers: construction, views and stride helpers.
#include "tessel/ir/buffer.h"

#include "tessel/ir/error.h"

namespace tessel {

const char* memory_scope_name(MemoryScope scope) {
  switch (scope) {
    case MemoryScope::kGlobal: return "global";
    case MemoryScope::kLocal: return "local";
    case MemoryScope::kShared: return "shared";
  }
  return "?";
}

Expr Buffer::operator()(std::vector<Expr> indices) const {
  internal_check(static_cast<int>(indices.size()) == ndim())
      << "buffer " << node_->name << " has " << ndim() << " dimensions, accessed with " << indices.size() << " indices";
  return make_load(*this, std::move(indices));
}

std::vector<Expr> Buffer::effective_strides() const {
  if (!node_->strides.empty()) return node_->strides;
  std::vector<Expr> strides(node_->shape.size());
  Expr running;
  for (int d = ndim() - 1; d >= 0; --d) {
    DataType t = node_->shape[d].dtype();
    if (!running.defined()) {
      running = make_int(t, 1);
    }
    strides[d] = running;
    Expr extent = node_->shape[d];
    Expr r = running;
    match_types(r, extent);
    const int64_t* a = as_const_int(r);
    const int64_t* b = as_const_int(extent);
    running = (a && b) ? make_int(r.dtype(), *a * *b) : r * extent;
  }
  return strides;
}

Expr Buffer::num_elements() const {
  Expr total = make_int(DataType::Int(64), 1);
  for (const Expr& extent : node_->shape) {
    const int64_t* constant = as_const_int(extent);
    Expr e = constant ? make_int(DataType::Int(64), *constant) : make_cast(DataType::Int(64), extent);
    const int64_t* a = as_const_int(total);
    const int64_t* b = as_const_int(e);
    total = (a && b) ? make_int(DataType::Int(64), *a * *b) : total * e;
  }
  return total;
}

Buffer make_buffer(std::string name, DataType dtype, std::vector<Expr> shape, std::vector<Expr> strides,
                   MemoryScope scope, int alignment) {
  internal_check(dtype.is_scalar()) << "buffer " << name << " must have a scalar element type";
  internal_check(strides.empty() || strides.size() == shape.size()) << "buffer " << name << " strides/shape rank mismatch";
  internal_check(alignment > 0 && (alignment & (alignment - 1)) == 0) << "buffer " << name << " alignment must be a power of two";
  for (const Expr& extent : shape) internal_check(extent.dtype().is_int() && extent.dtype().is_scalar())
      << "buffer " << name << " extent must be a scalar integer";
  Var data(name, DataType::Handle());
  return Buffer(std::make_shared<const BufferNode>(std::move(name), std::move(data), dtype, std::move(shape),
                                                   std::move(strides), alignment, scope));
}

Buffer make_buffer_view(const Buffer& base, std::string name, std::vector<Expr> shape, std::vector<Expr> strides) {
  internal_check(strides.empty() || strides.size() == shape.size()) << "view " << name << " strides/shape rank mismatch";
  return Buffer(std::make_shared<const BufferNode>(std::move(name), base->data, base->dtype, std::move(shape),
                                                   std::move(strides), base->alignment, base->scope));
}

}  // namespace tessel
