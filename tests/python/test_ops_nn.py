"""tessel.ops neural-network operators with their default schedules, compiled for the host and
compared with torch.nn.functional: linear, matmul/bmm, conv2d (stride, asymmetric padding,
dilation, groups, depthwise), conv_transpose2d, max/avg/adaptive pooling, and fused epilogues."""

import re
from typing import Sequence

import numpy as np
import pytest

import tessel
from tessel import ops, te

torch = pytest.importorskip("torch")
F = torch.nn.functional


def random(shape: Sequence[int], seed: int, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(dtype)


def run(output, inputs, arrays):
    """Default-schedules output, builds it and runs it on the arrays; returns the result."""
    s = te.default_schedule(output)
    f = tessel.build(s, list(inputs) + [output])
    result = np.full(tuple(int(d) for d in output.shape), 7.0, dtype=arrays[0].dtype)  # overwritten
    f(*arrays, result)
    return result


def close(actual: np.ndarray, expected) -> None:
    np.testing.assert_allclose(actual, np.asarray(expected, dtype="float64"), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 13, 5), (33, 17, 65)])
@pytest.mark.parametrize("bias", [False, True])
def test_dense_matches_linear(m: int, k: int, n: int, bias: bool) -> None:
    x, w, b = random((m, k), 1), random((n, k), 2), random((n,), 3)
    X, W, B = te.placeholder((m, k), name="x"), te.placeholder((n, k), name="w"), te.placeholder((n,), name="b")
    out = ops.dense(X, W, B if bias else None)
    inputs, arrays = ([X, W, B], [x, w, b]) if bias else ([X, W], [x, w])
    expected = F.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b) if bias else None)
    close(run(out, inputs, arrays), expected)


def test_dense_bias_relu_fused() -> None:
    m, k, n = 19, 23, 40
    x, w, b = random((m, k), 4), random((n, k), 5), random((n,), 6)
    X, W, B = te.placeholder((m, k), name="x"), te.placeholder((n, k), name="w"), te.placeholder((n,), name="b")
    d = ops.dense(X, W, B)
    relu = te.compute((m, n), lambda i, j: te.max(d[i, j], 0.0), name="relu")
    text = str(tessel.lower(te.default_schedule(relu), [X, W, B, relu]))
    assert f"[{m * n}]" not in text, text  # the dense result only lives in the register tile
    close(run(relu, [X, W, B], [x, w, b]), F.relu(F.linear(*(torch.from_numpy(a) for a in (x, w, b)))))


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_matches_torch(ta: bool, tb: bool) -> None:
    m, k, n = 9, 17, 33
    a = random((k, m) if ta else (m, k), 7)
    b = random((n, k) if tb else (k, n), 8)
    A, B = te.placeholder(a.shape, name="a"), te.placeholder(b.shape, name="b")
    out = ops.matmul(A, B, transpose_a=ta, transpose_b=tb)
    ta_, tb_ = torch.from_numpy(a), torch.from_numpy(b)
    close(run(out, [A, B], [a, b]), (ta_.T if ta else ta_) @ (tb_.T if tb else tb_))


@pytest.mark.parametrize("batch_a,batch_b,tb", [(3, 3, False), (1, 4, True), (5, 1, False)])
def test_batch_matmul_matches_bmm(batch_a: int, batch_b: int, tb: bool) -> None:
    m, k, n = 7, 11, 19
    a = random((batch_a, m, k), 9)
    b = random((batch_b, n, k) if tb else (batch_b, k, n), 10)
    A, B = te.placeholder(a.shape, name="a"), te.placeholder(b.shape, name="b")
    out = ops.batch_matmul(A, B, transpose_b=tb)
    tb_ = torch.from_numpy(b).transpose(1, 2) if tb else torch.from_numpy(b)
    batch = max(batch_a, batch_b)
    expected = torch.bmm(torch.from_numpy(a).expand(batch, m, k), tb_.expand(batch, k, n))
    close(run(out, [A, B], [a, b]), expected)


CONV_CASES = [
    # (N, C, H, W), (O, KH, KW), stride, padding (top, left, bottom, right), dilation, groups
    ((3, 7, 11, 13), (5, 3, 3), 1, (1, 1, 1, 1), 1, 1),
    ((2, 3, 11, 13), (7, 3, 5), 2, (0, 1, 2, 1), 1, 1),
    ((1, 5, 13, 17), (4, 3, 3), (1, 2), (2, 0, 1, 3), 2, 1),
    ((2, 4, 9, 11), (6, 3, 3), 1, (1, 1, 1, 1), 1, 2),
    ((1, 8, 15, 17), (8, 3, 3), 1, (1, 1, 1, 1), 1, 8),
    ((1, 6, 12, 19), (12, 3, 3), 2, (1, 0, 1, 1), 1, 6),
]


@pytest.mark.parametrize("data_shape,kernel,stride,padding,dilation,groups", CONV_CASES)
def test_conv2d_nchw_matches_torch(data_shape, kernel, stride, padding, dilation, groups) -> None:
    o, kh, kw = kernel
    x = random(data_shape, 11)
    w = random((o, data_shape[1] // groups, kh, kw), 12)
    X, W = te.placeholder(x.shape, name="x"), te.placeholder(w.shape, name="w")
    out = ops.conv2d_nchw(X, W, strides=stride, padding=padding, dilation=dilation, groups=groups)
    top, left, bottom, right = padding
    padded = F.pad(torch.from_numpy(x), (left, right, top, bottom))
    expected = F.conv2d(padded, torch.from_numpy(w), stride=stride, dilation=dilation, groups=groups)
    close(run(out, [X, W], [x, w]), expected)


def test_conv2d_bias_relu_fused() -> None:
    x, w, b = random((2, 5, 10, 19), 13), random((12, 5, 3, 3), 14), random((12,), 15)
    X, W, B = te.placeholder(x.shape, name="x"), te.placeholder(w.shape, name="w"), te.placeholder(b.shape, name="b")
    conv = ops.conv2d_nchw(X, W, padding=1)
    out = te.compute(tuple(int(d) for d in conv.shape), lambda n, c, h, v: te.max(conv[n, c, h, v] + B[c], 0.0),
                     name="bias_relu")
    text = str(tessel.lower(te.default_schedule(out), [X, W, B, out]))
    assert f"[{2 * 12 * 10 * 19}]" not in text, text  # conv computed per output tile, not stored whole
    expected = F.relu(F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1))
    close(run(out, [X, W, B], [x, w, b]), expected)


def test_conv2d_nhwc_and_nchwc_match_torch() -> None:
    x, w = random((2, 7, 11, 13), 16), random((19, 7, 3, 3), 17)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1).numpy()
    # NHWC with HWIO weight.
    X, W = te.placeholder((2, 11, 13, 7), name="x"), te.placeholder((3, 3, 7, 19), name="w")
    out = ops.conv2d_nhwc(X, W, strides=2, padding=1)
    nhwc = run(out, [X, W], [np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(w.transpose(2, 3, 1, 0))])
    close(nhwc.transpose(0, 3, 1, 2), expected)
    # NCHW{4}c data, weight packed to 16-wide output blocks, both re-laid out inside the DAG.
    Xc, Wc = te.placeholder(x.shape, name="x"), te.placeholder(w.shape, name="w")
    blocked = ops.conv2d_nchwc(ops.nchw_to_nchwc(Xc, 4), ops.pack_conv2d_weight_nchwc(Wc, 4, 16), strides=2, padding=1)
    result = run(blocked, [Xc, Wc], [x, w])  # [2, 2, 6, 7, 16]
    unblocked = result.transpose(0, 1, 4, 2, 3).reshape(2, 32, 6, 7)[:, :19]
    close(unblocked, expected)


# The NCHWc default schedule's register tile depends on the vector registers: 8 columns of one
# channel block with AVX-512, columns x several 8-wide channel blocks with AVX2 (output blocks
# 4, 2 or 1 at a time; output widths not divisible by the column tile). Both are built for
# the host, whatever it is, with a fused bias + relu epilogue.
@pytest.mark.parametrize("cpu", ["znver3", "znver4"])
@pytest.mark.parametrize("out_blocks,width,stride", [(4, 13, 1), (6, 9, 2), (3, 7, 1)])
def test_conv2d_nchwc_register_tiles_per_isa(cpu: str, out_blocks: int, width: int, stride: int) -> None:
    block = 8
    x, w, b = random((1, 16, width + 1, width), 31), random((out_blocks * block, 16, 3, 3), 32), random((out_blocks * block,), 33)
    X, W, B = (te.placeholder(a.shape, name=n) for a, n in ((x, "x"), (w, "w"), (b, "b")))
    conv = ops.conv2d_nchwc(ops.nchw_to_nchwc(X, block), ops.pack_conv2d_weight_nchwc(W, block, block), strides=stride,
                            padding=1)
    bias = ops.reshape(B, (1, out_blocks, 1, 1, block))
    out = ops.relu(ops.add(conv, bias))
    s = te.default_schedule(out, f"llvm -mtriple=x86_64-linux-gnu -mcpu={cpu}")
    text = str(tessel.lower(s, [X, W, B, out]))
    # AVX2 accumulates several output blocks per tile (a local buffer of more than 8 columns x 8).
    tiles = [int(m) for m in re.findall(r"conv2d_nchwc: float32\[(\d+)\]", text)]
    assert tiles and (max(tiles) > 64 if cpu == "znver3" and out_blocks % 2 == 0 else max(tiles) <= 64), text
    f = tessel.build(s, [X, W, B, out])
    result = np.full(tuple(int(d) for d in out.shape), 7.0, dtype="float32")
    f(x, w, b, result)
    n, c, h, wo, _ = result.shape
    expected = F.relu(F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=1))
    close(result.transpose(0, 1, 4, 2, 3).reshape(n, c * block, h, wo), expected)


@pytest.mark.parametrize("stride,padding,output_padding,dilation",
                         [(2, 1, 1, 1), (2, 0, 0, 1), ((1, 3), (1, 2), (0, 2), (2, 1))])
def test_conv_transpose2d_matches_torch(stride, padding, output_padding, dilation) -> None:
    x, w = random((2, 3, 5, 7), 18), random((3, 4, 3, 3), 19)
    X, W = te.placeholder(x.shape, name="x"), te.placeholder(w.shape, name="w")
    out = ops.conv2d_transpose_nchw(X, W, strides=stride, padding=padding, output_padding=output_padding,
                                    dilation=dilation)
    expected = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                                  output_padding=output_padding, dilation=dilation)
    close(run(out, [X, W], [x, w]), expected)


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode",
                         [(3, 2, 1, 1, False), (3, 2, 0, 1, True), ((3, 2), (2, 1), (1, 0), (2, 3), False),
                          (2, 2, 0, 1, False), ((3, 2), 3, 1, 1, True)])
def test_max_pool2d_matches_torch(kernel, stride, padding, dilation, ceil_mode) -> None:
    x = random((2, 3, 11, 13), 20)
    X = te.placeholder(x.shape, name="x")
    out = ops.max_pool2d(X, kernel, stride, padding, dilation, ceil_mode)
    expected = F.max_pool2d(torch.from_numpy(x), kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    close(run(out, [X], [x]), expected)


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_avg_pool2d_matches_torch(ceil_mode: bool, count_include_pad: bool) -> None:
    x = random((2, 3, 10, 13), 21)
    X = te.placeholder(x.shape, name="x")
    out = ops.avg_pool2d(X, 3, 2, 1, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    expected = F.avg_pool2d(torch.from_numpy(x), 3, 2, 1, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    close(run(out, [X], [x]), expected)


@pytest.mark.parametrize("output_size", [(1, 1), (3, 5), (4, 6), (7, 9)])
def test_adaptive_avg_pool2d_matches_torch(output_size) -> None:
    x = random((2, 3, 5 if output_size == (7, 9) else 12, 7 if output_size == (7, 9) else 13), 22)
    X = te.placeholder(x.shape, name="x")
    out = ops.adaptive_avg_pool2d(X, output_size)
    close(run(out, [X], [x]), F.adaptive_avg_pool2d(torch.from_numpy(x), output_size))


def test_global_pools_match_torch() -> None:
    x = random((2, 7, 11, 13), 23)
    X = te.placeholder(x.shape, name="x")
    close(run(ops.global_avg_pool2d(X), [X], [x]), F.adaptive_avg_pool2d(torch.from_numpy(x), 1))
    close(run(ops.global_max_pool2d(X), [X], [x]), F.adaptive_max_pool2d(torch.from_numpy(x), 1))


def to_blocked(x: np.ndarray, block: int) -> np.ndarray:
    """NCHW -> NCHW{block}c (channels a multiple of block)."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(x.reshape(n, c // block, block, h, w).transpose(0, 1, 3, 4, 2))


@pytest.mark.parametrize("block", [4, 8, 16])
def test_pools_on_channel_blocked_data_match_torch(block: int) -> None:
    # NCHW{b}c data as blocked convs produce it: the window runs over rows and columns, the block
    # is carried through (and vectorised by the default schedule).
    x = random((2, 2 * block, 11, 13), 28 + block)
    X = te.placeholder(to_blocked(x, block).shape, name="x")
    tx = torch.from_numpy(x)
    cases = [
        (ops.max_pool2d(X, 3, 2, 1), F.max_pool2d(tx, 3, 2, 1)),
        (ops.max_pool2d(X, (3, 2), (2, 1), (1, 0), (2, 3), True), F.max_pool2d(tx, (3, 2), (2, 1), (1, 0), (2, 3), True)),
        (ops.avg_pool2d(X, 3, 2, 1, count_include_pad=False), F.avg_pool2d(tx, 3, 2, 1, count_include_pad=False)),
        (ops.avg_pool2d(X, 2, 2, 0, ceil_mode=True), F.avg_pool2d(tx, 2, 2, 0, ceil_mode=True)),
        (ops.global_avg_pool2d(X), F.adaptive_avg_pool2d(tx, 1)),
        (ops.global_max_pool2d(X), F.adaptive_max_pool2d(tx, 1)),
    ]
    for out, expected in cases:
        assert len(out.shape) == 5 and int(out.shape[4]) == block
        close(run(out, [X], [to_blocked(x, block)]), to_blocked(expected.numpy(), block))


def test_float64_dense_and_conv() -> None:
    x, w = random((5, 9), 24, "float64"), random((21, 9), 25, "float64")
    X, W = te.placeholder(x.shape, "float64", name="x"), te.placeholder(w.shape, "float64", name="w")
    np.testing.assert_allclose(run(ops.dense(X, W), [X, W], [x, w]), x @ w.T, rtol=1e-12, atol=1e-12)
    x, w = random((1, 3, 8, 9), 26, "float64"), random((4, 3, 3, 3), 27, "float64")
    X, W = te.placeholder(x.shape, "float64", name="x"), te.placeholder(w.shape, "float64", name="w")
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    np.testing.assert_allclose(run(ops.conv2d_nchw(X, W, padding=1), [X, W], [x, w]), expected, rtol=1e-12, atol=1e-12)


def test_shape_errors_are_user_errors() -> None:
    X = te.placeholder((1, 4, 5, 5), name="x")
    with pytest.raises(tessel.TesselError):
        ops.conv2d_nchw(X, te.placeholder((6, 3, 3, 3), name="w"))
    with pytest.raises(tessel.TesselError):
        ops.max_pool2d(X, 7)
    with pytest.raises(tessel.TesselError):
        ops.conv2d_nchw(X, te.placeholder((6, 4, 3, 3), name="w"), padding=(1, 2, 3))
