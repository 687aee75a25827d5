// Spatial and layout transforms (tag "injective"): resize2d (nearest / bilinear with the ONNX
// coordinate transforms) and layout_transform between TVM-style layout strings ("NCHW16c").
#include <algorithm>
#include <cctype>
#include <map>

#include "tensor_internal.h"

namespace tessel::te::ops {

using detail::clamp_index;

namespace {

Expr int_const(int64_t v) { return make_int(DataType::Int(32), v); }

// Input coordinate (float type ft) of output pixel o along an axis resized from `in` to `out`.
Expr source_coordinate(const Expr& o, int64_t in, int64_t out, ResizeCoordinate coordinate, DataType ft) {
  Expr x = make_cast(ft, o);
  double ratio = static_cast<double>(in) / static_cast<double>(out);  // 1 / scale
  switch (coordinate) {
    case ResizeCoordinate::kHalfPixel:
      return (x + make_const(ft, 0.5)) * make_const(ft, ratio) - make_const(ft, 0.5);
    case ResizeCoordinate::kAsymmetric:
      return x * make_const(ft, ratio);
    case ResizeCoordinate::kAlignCorners:
      if (out == 1) return make_const(ft, 0.0);
      return x * make_const(ft, static_cast<double>(in - 1) / static_cast<double>(out - 1));
  }
  return x;
}

Expr nearest_index(const Expr& coordinate, int64_t in, NearestRounding rounding) {
  DataType ft = coordinate.dtype();
  Expr r;
  switch (rounding) {
    case NearestRounding::kRoundPreferFloor:  // ties go down: ceil(x - 0.5)
      r = make_call(Intrinsic::k_ceil, {coordinate - make_const(ft, 0.5)});
      break;
    case NearestRounding::kRoundPreferCeil:  // ties go up: floor(x + 0.5)
      r = make_call(Intrinsic::k_floor, {coordinate + make_const(ft, 0.5)});
      break;
    case NearestRounding::kFloor: r = make_call(Intrinsic::k_floor, {coordinate}); break;
    case NearestRounding::kCeil: r = make_call(Intrinsic::k_ceil, {coordinate}); break;
  }
  return clamp_index(make_cast(DataType::Int(32), r), int_const(in));
}

}  // namespace

Tensor resize2d(const Tensor& x, int64_t out_height, int64_t out_width, ResizeMethod method,
                ResizeCoordinate coordinate, NearestRounding rounding) {
  user_check(x.ndim() >= 2) << "resize2d: input " << x.name() << " needs at least two (H, W) axes";
  user_check(out_height > 0 && out_width > 0 && out_height <= INT32_MAX && out_width <= INT32_MAX)
      << "resize2d: output size " << out_height << "x" << out_width << " is not positive";
  int h_axis = x.ndim() - 2, w_axis = x.ndim() - 1;
  int64_t in_h = const_extent(x.shape()[h_axis], "resize2d"), in_w = const_extent(x.shape()[w_axis], "resize2d");
  user_check(method == ResizeMethod::kNearest || x.dtype().is_float())
      << "resize2d: linear resizing needs a float tensor, not " << x.dtype().to_string();
  // Coordinates in float32 (float64 for float64 data): exact for any realistic image size.
  DataType ft = x.dtype().is_float() && x.dtype().bits() == 64 ? DataType::Float(64) : DataType::Float(32);
  std::vector<Expr> shape = x.shape();
  shape[h_axis] = int_const(out_height);
  shape[w_axis] = int_const(out_width);
  Tensor input = x;
  return compute(shape, [&](const std::vector<Var>& i) {
    Expr cy = source_coordinate(i[h_axis], in_h, out_height, coordinate, ft);
    Expr cx = source_coordinate(i[w_axis], in_w, out_width, coordinate, ft);
    std::vector<Expr> index(i.begin(), i.end());
    if (method == ResizeMethod::kNearest) {
      index[h_axis] = nearest_index(cy, in_h, rounding);
      index[w_axis] = nearest_index(cx, in_w, rounding);
      return input(index);
    }
    // Bilinear: clamp the coordinate to >= 0, interpolate between floor and floor + 1 (both
    // clamped to the last pixel, so the edge repeats).
    auto corners = [&](const Expr& c, int64_t in) {
      Expr clamped = tessel::max(c, make_const(ft, 0.0));
      Expr lower = clamp_index(make_cast(DataType::Int(32), make_call(Intrinsic::k_floor, {clamped})), int_const(in));
      Expr upper = tessel::min(lower + int_const(1), int_const(in - 1));
      Expr weight = clamped - make_cast(ft, lower);
      weight = tessel::min(weight, make_const(ft, 1.0));
      return std::make_tuple(lower, upper, weight);
    };
    auto [y0, y1, wy] = corners(cy, in_h);
    auto [x0, x1, wx] = corners(cx, in_w);
    auto at = [&](const Expr& y, const Expr& xx) {
      std::vector<Expr> idx = index;
      idx[h_axis] = y;
      idx[w_axis] = xx;
      Expr v = input(idx);
      return v.dtype() == ft ? v : make_cast(ft, v);
    };
    Expr one = make_const(ft, 1.0);
    Expr top = at(y0, x0) * (one - wx) + at(y0, x1) * wx;
    Expr bottom = at(y1, x0) * (one - wx) + at(y1, x1) * wx;
    Expr v = top * (one - wy) + bottom * wy;
    return v.dtype() == x.dtype() ? v : make_cast(x.dtype(), v);
  }, "resize2d", "injective");
}

namespace {

// One axis of a layout string: a primal axis ('C') or a sub-axis of `factor` elements ('c').
struct LayoutAxis {
  char primal;         // upper-case name of the primal axis it belongs to
  int64_t factor = 0;  // 0: the primal (outer) axis
};

std::vector<LayoutAxis> parse_layout(const std::string& layout) {
  std::vector<LayoutAxis> axes;
  std::map<char, int> primal_count, sub_count;
  size_t p = 0;
  while (p < layout.size()) {
    int64_t factor = 0;
    while (p < layout.size() && std::isdigit(static_cast<unsigned char>(layout[p]))) {
      factor = factor * 10 + (layout[p] - '0');
      user_check(factor <= INT32_MAX) << "layout " << layout << ": factor too large";
      ++p;
    }
    user_check(p < layout.size() && std::isalpha(static_cast<unsigned char>(layout[p])))
        << "layout " << layout << ": expected an axis letter at position " << p;
    char c = layout[p++];
    if (std::isupper(static_cast<unsigned char>(c))) {
      user_check(factor == 0) << "layout " << layout << ": primal axis " << c << " cannot have a factor";
      user_check(++primal_count[c] == 1) << "layout " << layout << ": axis " << c << " repeats";
      axes.push_back({c, 0});
    } else {
      user_check(factor > 0) << "layout " << layout << ": sub-axis " << c << " needs a factor (e.g. 16" << c << ")";
      char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      user_check(++sub_count[upper] == 1) << "layout " << layout << ": sub-axis " << c << " repeats";
      axes.push_back({upper, factor});
    }
  }
  for (const auto& [c, n] : sub_count) {
    user_check(primal_count.count(c)) << "layout " << layout << ": sub-axis of " << c << " without axis " << c;
  }
  return axes;
}

// The sub-axis factor of primal axis c in a layout (0 when it is not split).
int64_t factor_of(const std::vector<LayoutAxis>& layout, char c) {
  for (const LayoutAxis& a : layout) {
    if (a.primal == c && a.factor > 0) return a.factor;
  }
  return 0;
}

}  // namespace

Tensor layout_transform(const Tensor& x, const std::string& src_layout, const std::string& dst_layout) {
  std::vector<LayoutAxis> src = parse_layout(src_layout), dst = parse_layout(dst_layout);
  user_check(static_cast<int>(src.size()) == x.ndim())
      << "layout_transform: layout " << src_layout << " has " << src.size() << " axes but " << x.name() << " has rank "
      << x.ndim();
  // Primal extents from the source (a split axis counts outer * factor, padding included).
  std::map<char, int64_t> primal_extent;
  for (size_t d = 0; d < src.size(); ++d) {
    if (src[d].factor == 0) primal_extent[src[d].primal] = const_extent(x.shape()[d], "layout_transform");
  }
  for (size_t d = 0; d < src.size(); ++d) {
    if (src[d].factor == 0) continue;
    user_check(const_extent(x.shape()[d], "layout_transform") == src[d].factor)
        << "layout_transform: axis " << d << " of " << x.name() << " must have extent " << src[d].factor << " for "
        << src_layout;
    primal_extent[src[d].primal] *= src[d].factor;
  }
  std::map<char, int> dst_primal_count;
  for (const LayoutAxis& a : dst) {
    if (a.factor == 0) ++dst_primal_count[a.primal];
  }
  for (const auto& [c, extent] : primal_extent) {
    user_check(dst_primal_count.count(c)) << "layout_transform: " << dst_layout << " lacks axis " << c << " of "
                                          << src_layout;
  }
  user_check(dst_primal_count.size() == primal_extent.size())
      << "layout_transform: " << src_layout << " and " << dst_layout << " name different axes";
  std::vector<Expr> shape;
  bool padded = false;
  for (const LayoutAxis& a : dst) {
    int64_t extent = primal_extent[a.primal];
    if (a.factor > 0) {
      shape.push_back(int_const(a.factor));
    } else if (int64_t f = factor_of(dst, a.primal); f > 0) {
      shape.push_back(int_const((extent + f - 1) / f));
      padded |= extent % f != 0;
    } else {
      shape.push_back(int_const(extent));
    }
  }
  Tensor input = x;
  return compute(shape, [&](const std::vector<Var>& i) {
    // Primal coordinate of each axis: outer * factor + inner in the destination layout.
    std::map<char, Expr> coordinate;
    for (size_t d = 0; d < dst.size(); ++d) {
      if (dst[d].factor != 0) continue;
      int64_t f = factor_of(dst, dst[d].primal);
      coordinate[dst[d].primal] = f > 0 ? Expr(i[d]) * int_const(f) : Expr(i[d]);
    }
    for (size_t d = 0; d < dst.size(); ++d) {
      if (dst[d].factor != 0) coordinate[dst[d].primal] = coordinate[dst[d].primal] + i[d];
    }
    Expr inside;
    if (padded) {
      for (auto& [c, value] : coordinate) {
        if (factor_of(dst, c) == 0 || primal_extent[c] % factor_of(dst, c) == 0) continue;
        Expr in = value < int_const(primal_extent[c]);
        inside = inside.defined() ? (inside && in) : in;
        value = clamp_index(value, int_const(primal_extent[c]));
      }
    }
    std::vector<Expr> index;
    for (const LayoutAxis& a : src) {
      const Expr& value = coordinate[a.primal];
      int64_t f = factor_of(src, a.primal);
      if (a.factor > 0) {
        index.push_back(value % int_const(f));
      } else {
        index.push_back(f > 0 ? value / int_const(f) : value);
      }
    }
    Expr v = input(index);
    return inside.defined() ? make_select(inside, v, make_const(x.dtype(), 0)) : v;
  }, "layout_transform", "injective");
}

}  // namespace tessel::te::ops
