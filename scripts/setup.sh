#!/usr/bin/env bash
# Sets up Tessel on Debian 12: installs the Debian packages it needs, builds it with CMake into
# build/, and installs the entry points (`tessel` on PATH, `import tessel` for python3).
# Idempotent: a second run with nothing changed calls neither apt nor cmake's configure step.
#
#   bash scripts/setup.sh              # Release build in build/ + entry points
#   bash scripts/setup.sh --sanitize   # ASan+UBSan build of the C++ code in build-asan/
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEBIAN_PYTHON=/usr/bin/python3
LAUNCHER=/usr/local/bin/tessel

PACKAGES=(
  build-essential cmake ninja-build ccache
  llvm-19-dev zlib1g-dev libzstd-dev libedit-dev libxml2-dev libffi-dev
  libxgboost-dev nlohmann-json3-dev pybind11-dev libgtest-dev libgmock-dev libsqlite3-dev
  libopenblas-dev libbenchmark-dev
  python3-dev python3-numpy python3-pytest
  python3-onnx libonnx-testdata python3-torch python3-torchvision python3-matplotlib
)

sanitize=0
for argument in "$@"; do
  case "$argument" in
    --sanitize) sanitize=1 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option '$argument' (try --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

# Writes stdin to $1 (as root when needed) unless the file already holds exactly that text.
write_if_changed() {
  local target="$1" mode="${2:-644}" content
  content="$(cat)"
  if [ -f "$target" ] && [ "$(cat "$target")" = "$content" ]; then return 0; fi
  as_root mkdir -p "$(dirname "$target")"
  printf '%s\n' "$content" | as_root tee "$target" >/dev/null
  as_root chmod "$mode" "$target"
  echo "    wrote $target"
}

# ---- 1. Debian packages -----------------------------------------------------------------------
missing_packages() {
  local package status
  for package in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)"
    [ "$status" = "installed" ] || printf '%s\n' "$package"
  done
}

install_packages() {
  local -a missing
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    say "Debian packages: all ${#PACKAGES[@]} installed"
    return
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; Tessel's set-up expects Debian 12"
  say "Installing Debian packages: ${missing[*]}"
  local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends)
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    as_root apt-get update
  fi
  if ! as_root "${apt[@]}" "${missing[@]}"; then
    say "apt-get install failed; refreshing the package index and retrying"
    as_root apt-get update
    as_root "${apt[@]}" "${missing[@]}"
  fi
  mapfile -t missing < <(missing_packages)
  [ "${#missing[@]}" -eq 0 ] || die "packages still missing after apt-get: ${missing[*]}"
}

# ---- 2. CMake configure + build ---------------------------------------------------------------
configure_and_build() {
  local build_dir="$1"; shift
  local -a options=("$@")
  local generator="Unix Makefiles"
  command -v ninja >/dev/null 2>&1 && generator="Ninja"
  local stamp="$build_dir/.tessel-setup-options"
  local wanted="generator=$generator source=$REPO_ROOT options=${options[*]}"

  # Configure only when the build tree is new or set up differently; otherwise the build tool
  # re-runs CMake by itself when a CMakeLists.txt changes.
  if [ ! -f "$build_dir/CMakeCache.txt" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    if [ -f "$build_dir/CMakeCache.txt" ]; then
      say "Build options changed; reconfiguring $build_dir"
      rm -rf "$build_dir/CMakeCache.txt" "$build_dir/CMakeFiles"
    fi
    say "Configuring $build_dir ($generator)"
    cmake -S "$REPO_ROOT" -B "$build_dir" -G "$generator" "${options[@]}" \
      || die "CMake could not configure $build_dir (see the messages above)"
    printf '%s\n' "$wanted" > "$stamp"
  fi
  say "Building $build_dir with $(nproc) jobs"
  cmake --build "$build_dir" -j "$(nproc)" || die "the build in $build_dir failed (see above)"
}

# ---- 3. Entry points --------------------------------------------------------------------------
python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

install_entry_points() {
  local python_dir="$REPO_ROOT/python"
  case "$python_dir" in *"'"*) die "the repository path must not contain a single quote" ;; esac

  say "Installing the tessel command ($LAUNCHER)"
  write_if_changed "$LAUNCHER" 755 <<EOF
#!/bin/sh
# Tessel command line, installed by scripts/setup.sh; runs the checkout named below.
# -P: do not put the current directory on sys.path, so a local 'tessel' folder cannot shadow it.
PYTHONPATH='$python_dir'\${PYTHONPATH:+:\$PYTHONPATH}
export PYTHONPATH
exec $DEBIAN_PYTHON -P -m tessel "\$@"
EOF

  say "Making 'import tessel' work for $DEBIAN_PYTHON"
  local debian_site debian_version
  debian_site="$("$DEBIAN_PYTHON" -c 'import site; print(site.getsitepackages()[0])')"
  debian_version="$(python_version "$DEBIAN_PYTHON")"
  write_if_changed "$debian_site/tessel.pth" 644 <<<"$python_dir"

  # The python3 first on PATH (e.g. a pyenv build) gets the package and Debian's packages
  # (numpy, torch, ...) when it has the same major.minor, hence the same extension ABI.
  local default_python default_real default_version default_site
  default_python="$(command -v python3 || true)"
  if [ -n "$default_python" ]; then
    default_real="$("$default_python" -c 'import os, sys; print(os.path.realpath(sys.executable))' 2>/dev/null || true)"
    if [ -n "$default_real" ] && [ "$default_real" != "$(readlink -f "$DEBIAN_PYTHON")" ]; then
      default_version="$(python_version "$default_python")"
      if [ "$default_version" = "$debian_version" ]; then
        say "Making 'import tessel' work for $default_real (Python $default_version)"
        default_site="$("$default_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
        write_if_changed "$default_site/tessel.pth" 644 <<EOF
$python_dir
/usr/lib/python3/dist-packages
EOF
      else
        echo "    note: python3 on PATH is $default_real (Python $default_version), but Tessel's"
        echo "    native module is built for Debian's Python $debian_version: use $DEBIAN_PYTHON."
      fi
    fi
  fi

  say "Checking the entry points"
  local probe='import tessel; tessel.num_threads(); print(tessel.__file__)'
  local location
  location="$(cd / && env -u PYTHONPATH "$DEBIAN_PYTHON" -c "$probe")" \
    || die "'import tessel' fails under $DEBIAN_PYTHON"
  echo "    $DEBIAN_PYTHON: import tessel -> $location"
  if [ -n "${default_site:-}" ]; then
    location="$(cd / && env -u PYTHONPATH "$default_python" -c "$probe")" \
      || die "'import tessel' fails under $default_python"
    echo "    $default_python: import tessel -> $location"
  fi
  local launcher_version
  launcher_version="$(cd / && "$LAUNCHER" --version)" || die "$LAUNCHER --version failed"
  echo "    $LAUNCHER --version -> $launcher_version"
  case ":$PATH:" in
    *":$(dirname "$LAUNCHER"):"*) ;;
    *) echo "    note: $(dirname "$LAUNCHER") is not on PATH; add it to run 'tessel'" ;;
  esac
}

# ---- main -------------------------------------------------------------------------------------
install_packages
if [ "$sanitize" -eq 1 ]; then
  # The Python module is left out: an ASan-instrumented module cannot load into a plain python.
  configure_and_build "$REPO_ROOT/build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTESSEL_SANITIZE=ON -DTESSEL_BUILD_PYTHON=OFF -DTESSEL_BUILD_BENCH=OFF
  say "Done: sanitizer build in build-asan/ (run: bash scripts/test.sh --sanitize)"
else
  configure_and_build "$REPO_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DTESSEL_SANITIZE=OFF
  install_entry_points
  say "Done. Try: tessel demo   |   bash scripts/test.sh"
fi
