// dense, matmul and batch_matmul computes, and their register-tiled default schedule.
//
// The schedule (CPU): the output [batch,] M x N is tiled into mr x nr register tiles (mr <= 8 rows,
// nr = 32 or 16 columns); two outer tile loops are fused into one parallel loop. Inside each tile the
// reduction runs in a small accumulator (cache_write "local", or the anchor itself when an
// elementwise epilogue is fused on top) ordered k.outer, k.inner (unrolled), rows (unrolled),
// 16-column vectors (unrolled), 16 lanes (vectorised), so that each k step issues mr * nr / 16
// FMAs on accumulators that stay in registers. Weights read as [N, K] go through a weight_pack
// stage ([N / 16, K, 16] panels, computed at root in parallel) so the vector loads are contiguous.
#include "nn_schedule_util.h"
#include "tessel/ir/error.h"

namespace tessel::te::ops {

using namespace nn_detail;

namespace {

// Reads op(B)[batch, k, j] for a matrix stored [N, K] through its packed panels.
Expr read_panel(const Tensor& packed, const std::vector<Expr>& batch, const Expr& k, const Expr& j) {
  std::vector<Expr> indices = batch;
  indices.push_back(j / index_const(kDensePanel));
  indices.push_back(k);
  indices.push_back(j % index_const(kDensePanel));
  return packed(indices);
}

// [batch, N, K] -> [batch, ceil(N / 16), K, 16] panels (zero-filled past N).
Tensor pack_batched(const Tensor& b, const std::string& name) {
  std::vector<int64_t> s = const_shape(b, name);
  int64_t n = s[1], panels = (n + kDensePanel - 1) / kDensePanel;
  DataType dtype = b.dtype();
  return compute(
      {index_const(s[0]), index_const(panels), index_const(s[2]), index_const(kDensePanel)},
      [&](const std::vector<Var>& i) {
        Expr j = i[1] * index_const(kDensePanel) + i[3];
        if (n % kDensePanel == 0) return b({i[0], j, i[2]});
        Expr value = b({i[0], tessel::min(j, index_const(n - 1)), i[2]});
        return make_select(j < index_const(n), value, make_const(dtype, 0));
      },
      name, kTagWeightPack);
}

Tensor add_bias(const Tensor& out, const std::optional<Tensor>& bias, int64_t n, const std::string& name) {
  if (!bias) return out;
  std::vector<int64_t> bs = const_shape(*bias, name);
  user_check(bs.size() == 1 && bs[0] == n) << name << ": bias must have shape [" << n << "]";
  user_check(bias->dtype() == out.dtype()) << name << ": bias dtype differs from the data's";
  Tensor b = *bias;
  // Tagged like the op so that default_schedule dispatches to the dense schedule, which fuses it.
  return compute(out.shape(), [&](const std::vector<Var>& i) { return out({i[0], i[1]}) + b({i[1]}); },
                 name + "_bias_add", kTagDense);
}

void check_float(const Tensor& t, const std::string& op) {
  user_check(t.dtype().is_float() && t.dtype().lanes() == 1) << op << ": " << t.name() << " must be a float tensor";
}

}  // namespace

Tensor dense(const Tensor& data, const Tensor& weight, const std::optional<Tensor>& bias, const std::string& name) {
  std::vector<int64_t> ws = const_shape(weight, name);
  user_check(ws.size() == 2) << name << ": weight must be [out_features, in_features]";
  return dense_packed(data, pack_dense_weight(weight, name + "_weight_packed"), ws[0], bias, name);
}

Tensor dense_packed(const Tensor& data, const Tensor& packed_weight, int64_t out_features,
                    const std::optional<Tensor>& bias, const std::string& name) {
  std::vector<int64_t> ds = const_shape(data, name), ps = const_shape(packed_weight, name);
  check_float(data, name);
  user_check(ds.size() == 2) << name << ": data must be [batch, in_features]";
  user_check(ps.size() == 3 && ps[2] == kDensePanel && ps[0] * kDensePanel >= out_features &&
             (ps[0] - 1) * kDensePanel < out_features)
      << name << ": packed weight must be [ceil(" << out_features << " / " << kDensePanel << "), in_features, "
      << kDensePanel << "]";
  user_check(ps[1] == ds[1]) << name << ": data has " << ds[1] << " features, weight " << ps[1];
  user_check(packed_weight.dtype() == data.dtype()) << name << ": weight dtype differs from the data's";
  IterVar k = reduce_axis(index_const(0), index_const(ds[1]), "k");
  Tensor out = compute_reduce(
      {index_const(ds[0]), index_const(out_features)},
      [&](const std::vector<Var>& i) { return sum(data({i[0], k}) * read_panel(packed_weight, {}, k, i[1]), {k}); },
      name, kTagDense);
  return add_bias(out, bias, out_features, name);
}

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, const std::string& name) {
  std::vector<int64_t> as = const_shape(a, name), bs = const_shape(b, name);
  check_float(a, name);
  user_check(as.size() == 2 && bs.size() == 2) << name << ": operands must be matrices";
  user_check(a.dtype() == b.dtype()) << name << ": operand dtypes differ";
  int64_t m = transpose_a ? as[1] : as[0], ka = transpose_a ? as[0] : as[1];
  int64_t kb = transpose_b ? bs[1] : bs[0], n = transpose_b ? bs[0] : bs[1];
  user_check(ka == kb) << name << ": inner dimensions differ (" << ka << " vs " << kb << ")";
  Tensor packed = transpose_b ? pack_dense_weight(b, name + "_b_packed") : b;
  IterVar k = reduce_axis(index_const(0), index_const(ka), "k");
  return compute_reduce(
      {index_const(m), index_const(n)},
      [&](const std::vector<Var>& i) {
        Expr x = transpose_a ? a({k, i[0]}) : a({i[0], k});
        Expr y = transpose_b ? read_panel(packed, {}, k, i[1]) : b({k, i[1]});
        return sum(x * y, {k});
      },
      name, kTagMatmul);
}

Tensor batch_matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, const std::string& name) {
  std::vector<int64_t> as = const_shape(a, name), bs = const_shape(b, name);
  check_float(a, name);
  user_check(as.size() == 3 && bs.size() == 3) << name << ": operands must be [batch, rows, cols]";
  user_check(a.dtype() == b.dtype()) << name << ": operand dtypes differ";
  user_check(as[0] == bs[0] || as[0] == 1 || bs[0] == 1)
      << name << ": batch sizes " << as[0] << " and " << bs[0] << " do not broadcast";
  int64_t batch = std::max(as[0], bs[0]);
  int64_t m = transpose_a ? as[2] : as[1], ka = transpose_a ? as[1] : as[2];
  int64_t kb = transpose_b ? bs[2] : bs[1], n = transpose_b ? bs[1] : bs[2];
  user_check(ka == kb) << name << ": inner dimensions differ (" << ka << " vs " << kb << ")";
  Tensor packed = transpose_b ? pack_batched(b, name + "_b_packed") : b;
  IterVar k = reduce_axis(index_const(0), index_const(ka), "k");
  return compute_reduce(
      {index_const(batch), index_const(m), index_const(n)},
      [&](const std::vector<Var>& i) {
        Expr ba = as[0] == 1 ? index_const(0) : Expr(i[0]);
        Expr bb = bs[0] == 1 ? index_const(0) : Expr(i[0]);
        Expr x = transpose_a ? a({ba, k, i[1]}) : a({ba, i[1], k});
        Expr y = transpose_b ? read_panel(packed, {bb}, k, i[2]) : b({bb, k, i[2]});
        return sum(x * y, {k});
      },
      name, kTagBatchMatmul);
}

// ---- default schedule --------------------------------------------------------------------------

void schedule_gemm(Schedule& schedule, const Tensor& output, const ScheduleTarget& target, const std::string& tag) {
  AnchorPlan plan = prepare_anchor(schedule, output, tag, target);
  schedule_anchor_producers(schedule, plan.inner, target, /*inline_pad=*/true);
  Stage outer = schedule[plan.outer];
  std::vector<IterVar> axes = outer.axis();
  size_t nd = axes.size();
  internal_check(nd == 2 || nd == 3) << tag << " schedule: unexpected rank " << nd;
  int64_t m = const_extent(axes[nd - 2]->dom.extent, tag, "rows");
  int64_t n = const_extent(axes[nd - 1]->dom.extent, tag, "columns");
  int64_t mr = pick_factor(m, {8, 7, 6, 5, 4});
  int64_t nr = n >= kDensePanel ? pick_factor(n, {2 * kDensePanel, kDensePanel}) : n;

  std::vector<IterVar> t = outer.tile(axes[nd - 2], axes[nd - 1], mr, nr);  // io, jo, ii, ji
  // Column tiles outermost: the row tiles that follow one another reuse one K x nr panel of B
  // from the cache, so B is read from memory once and A (the smaller operand of a linear layer)
  // once per column tile, M K N / nr elements of traffic instead of M K N / mr row-tile first.
  outer.reorder({t[1], t[0], t[2], t[3]});
  std::vector<IterVar> loops = {t[1], t[0]};
  std::vector<int64_t> trips = {(n + nr - 1) / nr, (m + mr - 1) / mr};
  if (nd == 3) {
    loops.insert(loops.begin(), axes[0]);
    trips.insert(trips.begin(), const_extent(axes[0]->dom.extent, tag, "batch"));
  }
  IterVar attach = parallelize_outer(outer, loops, trips, target);
  if (mr > 1) outer.unroll(t[2]);
  if (nr > 1) outer.vectorize(t[3]);

  Stage inner = schedule[plan.inner];
  attach_inner(schedule, plan, outer, attach);
  std::vector<IterVar> ia = inner.axis();
  IterVar k = inner.reduce_axis()[0];
  int64_t kk = const_extent(k->dom.extent, tag, "reduction");
  std::vector<IterVar> order;
  if (nd == 3) order.push_back(ia[0]);
  IterVar k_inner;
  if (kk % 4 == 0 || kk % 2 == 0) {
    auto [ko, ki] = inner.split(k, kk % 4 == 0 ? 4 : 2);
    order.push_back(ko);
    order.push_back(ki);
    k_inner = ki;
  } else {
    order.push_back(k);
  }
  order.push_back(ia[nd - 2]);
  IterVar j_vector = ia[nd - 1];
  if (nr > kDensePanel && nr % kDensePanel == 0) {
    auto [jv, jx] = inner.split(ia[nd - 1], kDensePanel);
    order.push_back(jv);
    order.push_back(jx);
    inner.unroll(jv);
    j_vector = jx;
  } else {
    order.push_back(ia[nd - 1]);
  }
  inner.reorder(order);
  if (k_inner.defined()) inner.unroll(k_inner);
  if (mr > 1) inner.unroll(ia[nd - 2]);
  if (nr > 1) inner.vectorize(j_vector);
}

}  // namespace tessel::te::ops
