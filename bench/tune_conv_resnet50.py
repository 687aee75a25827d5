#!/usr/bin/env python3
"""Tunes every distinct conv2d layer of ResNet-50 (batch 1, 224x224) as the graph compiler builds
it, and compares each with PyTorch's conv2d (NCHW fp32, oneDNN where PyTorch picks it) in the same
run, on the same number of threads.

    python3 bench/tune_conv_resnet50.py [--trials 200] [--layers 0,3,7] [--records conv.jsonl]
                                        [--threads 2] [--list]

Layers come from torchvision's resnet50 (forward hooks give each Conv2d's input size) and are
deduplicated on (in, out, kernel, stride, padding, input size); the "uses" column says how many
of the model's 53 convolutions share the shape. The whole model goes through the ONNX importer
and the graph compiler's task extraction (`autotune.extract_tasks`), which gives each layer's
workload exactly as the compiled model runs it: the conv in the layout chosen for the whole
network (NCHW{b}c, the stem included) with its weight pre-packed at compile time and its fused
epilogue (bias, relu, residual add; the most used one where several share a shape, so Tessel
does a little more work than PyTorch's bare conv). That task is tuned (records
already in --records count, so runs resume), and then timed as a kernel:

  - Tessel untuned: the task's default schedule (what an untuned compile uses);
  - Tessel tuned:   the best record of the task;
  - PyTorch:        torch.nn.functional.conv2d on the NCHW input and OIHW weight;
  - Tessel e2e:     a one-conv module (its own layout choice) compiled with the records and
                    run through tessel.runtime, i.e. tuned conv plus the NCHW <-> NCHW{b}c layout
                    transforms of the input and output (which a whole model pays once, not per
                    layer); shown for reference.

The ratio is PyTorch ms / Tessel tuned ms (> 1: Tessel faster); the summary gives its geometric
mean and minimum. Checks: the tuned kernel against the default schedule on random inputs, and the
tuned module's output against PyTorch on the layer's weights.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common  # noqa: E402  (before numpy: it may re-execute the script)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=200, help="measured candidates per layer")
    p.add_argument("--layers", default="", help="comma-separated layer indices (see --list); default all")
    p.add_argument("--records", default="tune_conv_resnet50.jsonl", help="JSON-lines records file (resumed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cost-model", default="xgboost", choices=["xgboost", "random"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=30, help="timed runs per engine (median)")
    p.add_argument("--no-e2e", action="store_true", help="skip compiling and timing the one-conv module")
    p.add_argument("--list", action="store_true", help="print the distinct layers and exit")
    p.add_argument("--quiet", action="store_true", help="no per-round tuning progress lines")
    return p.parse_args()


ARGS = parse_args()
bench_common.setup_environment(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import tessel  # noqa: E402
import tessel.runtime  # noqa: E402
from tessel import autotune, te  # noqa: E402
from tessel.build_module import empty  # noqa: E402


def resnet50_conv_layers() -> list:
    """Distinct conv2d layers of torchvision's resnet50 at 1x3x224x224, in model order: dicts with
    name (first module using the shape), cin, cout, k, stride, pad, h, w, uses."""
    import torchvision
    model = torchvision.models.resnet50(weights=None).eval()
    seen = {}
    hooks = []

    def hook(name):
        def fn(module, inputs, output):
            x = inputs[0]
            key = (module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
                   module.dilation, module.groups, tuple(x.shape[2:]))
            if key in seen:
                seen[key]["uses"] += 1
                return
            if module.dilation != (1, 1) or module.groups != 1 or module.bias is not None:
                raise SystemExit(f"{name}: unexpected conv attributes (dilation/groups/bias)")
            seen[key] = {"name": name, "cin": module.in_channels, "cout": module.out_channels,
                         "k": module.kernel_size[0], "stride": module.stride[0], "pad": module.padding[0],
                         "h": x.shape[2], "w": x.shape[3], "uses": 1}
        return fn

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            hooks.append(module.register_forward_hook(hook(name)))
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    return list(seen.values())


def layer_key(layer: dict) -> tuple:
    ho = (layer["h"] + 2 * layer["pad"] - layer["k"]) // layer["stride"] + 1
    return (layer["cin"], layer["h"], layer["w"], layer["cout"], layer["k"], ho)


def model_conv_tasks(layers: list, work: str) -> dict:
    """The conv2d task of every layer as the compiled ResNet-50 runs it: the whole model goes
    through the ONNX importer and task extraction, so each conv has the layout the graph compiler
    picks for the whole network (NCHW{b}c, the stem included) and its fused epilogue (bias, relu,
    residual add). Where several fused workloads share a conv shape, the most used one."""
    import torchvision
    from tessel.frontend import from_onnx
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    path = os.path.join(work, "resnet50.onnx")
    torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), path, opset_version=13, input_names=["input"],
                      output_names=["output"])
    graph, params = from_onnx(path)
    found = {}
    for task in autotune.extract_tasks(graph, params, "llvm"):
        if "conv2d" not in task.name:
            continue
        data, weight, out = (tuple(a.shape) for a in (task.args[0], task.args[1], task.args[-1]))
        if len(data) == 5:  # NCHW{b}c data, OIHW{i}i{o}o weight
            key = (data[1] * data[4], data[2], data[3], weight[0] * weight[5], weight[2], out[2])
        else:
            key = (data[1], data[2], data[3], weight[0], weight[2], out[2])
        if key not in found or task.weight > found[key].weight:
            found[key] = task
    missing = [bench_common.layer_label(l) for l in layers if layer_key(l) not in found]
    if missing:
        raise SystemExit(f"no task of the compiled ResNet-50 matches layer(s) {', '.join(missing)}")
    return found


MODEL_TASKS: dict = {}


def random_args(specs, rng) -> list:
    arrays = []
    for spec in specs:
        a = empty(spec.shape, spec.dtype)
        if spec.is_output:
            a.fill(np.nan)
        else:
            a[...] = rng.standard_normal(spec.shape).astype(spec.dtype)
        arrays.append(a)
    return arrays


def bench_layer(index: int, layer: dict, work: str) -> list:
    rng = np.random.default_rng(index)
    weight = (rng.standard_normal((layer["cout"], layer["cin"], layer["k"], layer["k"]))
              * np.sqrt(2.0 / (layer["cin"] * layer["k"] ** 2))).astype(np.float32)
    graph, params = bench_common.conv_graph(layer, weight)
    task = MODEL_TASKS[layer_key(layer)]

    start = time.time()
    autotune.tune([task], trials=ARGS.trials, records=ARGS.records, seed=ARGS.seed, cost_model=ARGS.cost_model,
                  verbose=not ARGS.quiet)
    tuning_s = time.time() - start
    trials = len(bench_common.read_records(ARGS.records, task.workload_key))

    outputs = list(task._native.outputs)
    untuned = tessel.build(te.default_schedule(outputs, "llvm"), task.args, target="llvm", name="conv_default")
    schedule, args = task.apply_best(ARGS.records)
    tuned = tessel.build(schedule, args, target="llvm", name="conv_tuned")
    # Same random inputs (NCHW{b}c data, packed weight) through both kernels.
    base = random_args(untuned.arg_specs, rng)
    mine = [empty(a.shape, a.dtype) for a in base]
    for a, b, s in zip(mine, base, untuned.arg_specs):
        a[...] = np.nan if s.is_output else b
    untuned(*base)
    tuned(*mine)
    for a, b, s in zip(mine, base, untuned.arg_specs):
        if s.is_output:
            err = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
            if not err < 1e-4:
                raise SystemExit(f"layer {index}: tuned kernel differs from the default schedule ({err:.2e})")

    x = rng.standard_normal((1, layer["cin"], layer["h"], layer["w"])).astype(np.float32)
    tx, tw = torch.from_numpy(x), torch.from_numpy(weight)
    stride, pad = layer["stride"], layer["pad"]
    engines = {
        "untuned": lambda: untuned(*base),
        "tuned": lambda: tuned(*mine),
        "torch": lambda: F.conv2d(tx, tw, stride=stride, padding=pad),
    }
    e2e_err = None
    if not ARGS.no_e2e:
        lib = autotune.compile(graph, params, target="llvm", records=ARGS.records, verbose=False)
        path = os.path.join(work, f"conv{index}.so")
        lib.export_library(path)
        module = tessel.runtime.load(path)
        input_name = module.inputs[0][0]
        (out,) = module.run(**{input_name: x})
        with torch.no_grad():
            reference = F.conv2d(tx, tw, stride=stride, padding=pad).numpy()
        e2e_err = float(np.max(np.abs(out - reference)) / np.max(np.abs(reference)))
        if not e2e_err < 1e-4:
            raise SystemExit(f"layer {index}: the tuned module differs from PyTorch ({e2e_err:.2e})")
        x_aligned = empty(x.shape, x.dtype)
        x_aligned[...] = x
        module.set_input(input_name, x_aligned)
        engines["e2e"] = module.run
    with torch.no_grad():
        ms = bench_common.interleaved_median_ms(engines, runs=ARGS.runs)
    gflops = bench_common.layer_gflops(layer)
    return [f"{index:>2} {bench_common.layer_label(layer)}", layer["uses"], gflops, trials, tuning_s, ms["untuned"],
            ms["tuned"], gflops / (ms["tuned"] * 1e-3), ms["torch"], ms["torch"] / ms["tuned"], ms.get("e2e")]


def main() -> int:
    torch.set_num_threads(ARGS.threads)
    layers = resnet50_conv_layers()
    if ARGS.list:
        for i, layer in enumerate(layers):
            print(f"{i:>2}  {bench_common.layer_label(layer):<32} {bench_common.layer_gflops(layer):.3f} GFLOP  "
                  f"x{layer['uses']}  ({layer['name']})")
        return 0
    chosen = [int(s) for s in ARGS.layers.split(",") if s.strip()] if ARGS.layers else list(range(len(layers)))
    for i in chosen:
        if not 0 <= i < len(layers):
            raise SystemExit(f"--layers: {i} is not a layer index (0..{len(layers) - 1}; see --list)")
    print(bench_common.environment_note())
    print(f"records: {os.path.abspath(ARGS.records)}; cost model {ARGS.cost_model}, seed {ARGS.seed}, "
          f"{len(chosen)} of {len(layers)} distinct layers")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        MODEL_TASKS.update(model_conv_tasks([layers[i] for i in chosen], work))
        for i in chosen:
            rows.append(bench_layer(i, layers[i], work))
            sys.stdout.flush()
    print()
    print("ResNet-50 conv2d layers, batch 1 (in->out kxk/stride pad HxW); ratio = PyTorch ms / Tessel tuned ms "
          f"(> 1: Tessel faster); medians of {ARGS.runs} interleaved runs")
    print(bench_common.format_table(
        ["layer", "uses", "GFLOP", "trials", "tuning s", "untuned ms", "tuned ms", "GFLOP/s", "PyTorch ms", "ratio",
         "e2e ms"], rows))
    ratios = [r[9] for r in rows]
    worst = min(range(len(rows)), key=lambda i: ratios[i])
    print(f"summary: {len(rows)} layers, geometric mean ratio {bench_common.geometric_mean(ratios):.3f}, "
          f"min ratio {ratios[worst]:.3f} (layer {rows[worst][0].split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
