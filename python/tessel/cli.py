"""The ``tessel`` command line.

Subcommands today: ``info`` (host target and thread pool) and ``demo`` (the loop-IR demo
program). User errors print one line on stderr and exit non-zero; set ``TESSEL_DEBUG=1`` to see
the Python traceback of an internal error.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import List, NoReturn, Optional, Sequence

import tessel
from tessel import TesselError

PROG = "tessel"

# python/tessel/cli.py -> repository root
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class _CommandError(TesselError):
    """A user error with its own exit status (2: something the command needs is missing)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see `{PROG} --help`)\n")


def demo_path() -> Path:
    """Where the loop-IR demo executable is built: ``<repo>/build/bin/tessel_demo``."""
    return REPO_ROOT / "build" / "bin" / "tessel_demo"


def _command_info(args: argparse.Namespace) -> int:
    target = tessel.host_target()
    features = sorted(target.get("features", []))
    print(f"tessel {tessel.__version__}")
    print(f"target:      llvm -mtriple={target['triple']} -mcpu={target['cpu']}")
    print(f"triple:      {target['triple']}")
    print(f"cpu:         {target['cpu']}")
    print(f"vector bits: {target['vector_bits']}")
    print(f"features:    {' '.join(features) if features else '(none)'}")
    print(f"threads:     {tessel.num_threads()}")
    return 0


def _command_demo(args: argparse.Namespace) -> int:
    program = demo_path()
    if not program.is_file() or not os.access(program, os.X_OK):
        raise _CommandError(
            f"demo program not found at {program}; build it with `bash scripts/setup.sh`", 2
        )
    extra: List[str] = list(args.demo_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    completed = subprocess.run([str(program), *extra], check=False)
    if completed.returncode < 0:
        raise TesselError(f"demo program killed by signal {-completed.returncode}")
    return completed.returncode


def _command_config(args: argparse.Namespace) -> int:
    from tessel import runtime

    library = Path(runtime.library_path())
    if not library.is_file():
        raise _CommandError(
            f"the runtime library libtessel_runtime.so is not built (looked in {library}); "
            "build it with `bash scripts/setup.sh` or set TESSEL_RUNTIME_LIBRARY", 2
        )
    library_dir = library.resolve().parent
    flags: List[str] = []
    if args.cflags:
        flags.append(f"-I{REPO_ROOT / 'include'}")
    if args.libs:
        flags += [f"-L{library_dir}", "-ltessel_runtime", f"-Wl,-rpath,{library_dir}"]
    if not flags:
        raise _CommandError("say what to print: --cflags and/or --libs", 2)
    print(" ".join(flags))
    return 0


def _command_run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from tessel import runtime

    module = runtime.load(args.library)
    inputs = {}
    if args.inputs:
        with np.load(args.inputs) as data:
            inputs = {name: data[name] for name in data.files}
    missing = [name for name in module.input_names if name not in inputs]
    if missing:
        raise TesselError(
            f"no value for input(s) {', '.join(missing)}"
            + ("" if args.inputs else "; pass them with --inputs in.npz")
        )
    unknown = [name for name in inputs if name not in module.input_names]
    if unknown:
        raise TesselError(
            f"{args.inputs} has array(s) {', '.join(unknown)}, but the module's inputs are "
            f"{', '.join(module.input_names)}"
        )
    if args.repeat < 1:
        raise TesselError(f"--repeat must be at least 1, got {args.repeat}")
    outputs = module.run(**inputs)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        module.run()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    median = times[len(times) // 2] if len(times) % 2 else 0.5 * sum(times[len(times) // 2 - 1 : len(times) // 2 + 1])
    print(f"latency: median {median:.3f} ms, min {times[0]:.3f} ms, max {times[-1]:.3f} ms over {args.repeat} runs")
    if args.outputs:
        np.savez(args.outputs, **dict(zip(module.output_names, outputs or [])))
        print(f"wrote {len(module.output_names)} output(s) to {args.outputs}")
    return 0


def _command_compile(args: argparse.Namespace) -> int:
    from tessel.frontend import from_onnx  # the ONNX frontend is imported only when needed

    graph, params = from_onnx(args.model)
    module = tessel.compile(graph, params, target=args.target)
    module.export_library(args.output)
    print(f"wrote {args.output}: {module.num_kernel_calls} kernel calls; {module.summary}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser for the ``tessel`` command."""
    parser = _ArgumentParser(
        prog=PROG,
        description="Tessel: a TVM-style deep-learning compiler.",
    )
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {tessel.__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)

    info = commands.add_parser("info", help="show the host target and the thread pool size")
    info.set_defaults(handler=_command_info)

    demo = commands.add_parser(
        "demo",
        help="run the loop-IR demo program (arguments are passed through)",
        prefix_chars="\0",  # pass every argument, options included, through to the program
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER, help="arguments for the program")
    demo.set_defaults(handler=_command_demo)

    config = commands.add_parser(
        "config", help="print compiler flags that build a C/C++ program against the runtime"
    )
    config.add_argument("--cflags", action="store_true", help="include flags")
    config.add_argument("--libs", action="store_true", help="linker flags (with an rpath)")
    config.set_defaults(handler=_command_config)

    run = commands.add_parser("run", help="run an exported module library and print its latency")
    run.add_argument("library", help="the exported module (.so)")
    run.add_argument("--inputs", help=".npz file with one array per input name")
    run.add_argument("--outputs", help="write the outputs to this .npz file")
    run.add_argument("--repeat", type=int, default=10, help="timed runs (default 10)")
    run.set_defaults(handler=_command_run)

    compile_ = commands.add_parser("compile", help="compile an ONNX model into a deployable module library")
    compile_.add_argument("model", help="the ONNX model (.onnx)")
    compile_.add_argument("-o", "--output", required=True, help="the module library to write (.so)")
    compile_.add_argument("--target", default="llvm", help="LLVM target string (default: llvm, the host)")
    compile_.set_defaults(handler=_command_compile)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line and returns the process exit status.

    User errors (``TesselError``/``ValueError``, missing files) become one line on stderr and
    status 1 (2 for usage errors and a missing build artefact); an unexpected exception is reported as an internal error, with the traceback
    only when ``TESSEL_DEBUG`` is set.
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.error("missing COMMAND (one of: info, demo, config, run)")
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (TesselError, ValueError, OSError) as error:
        if os.environ.get("TESSEL_DEBUG"):
            raise
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.status if isinstance(error, _CommandError) else 1
    except Exception as error:  # an internal error: say so, still in one line
        if os.environ.get("TESSEL_DEBUG"):
            raise
        print(
            f"{PROG}: internal error: {type(error).__name__}: {error} "
            "(this is a bug; run with TESSEL_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
