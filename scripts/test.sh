#!/usr/bin/env bash
# Runs Tessel's whole test suite: the C++ GoogleTest suites through ctest (without the `slow`
# label), then the Python suite with pytest. Expects a build made by scripts/setup.sh.
#
#   bash scripts/test.sh              # build/: ctest + pytest
#   bash scripts/test.sh --sanitize   # builds build-asan/ (ASan+UBSan) and runs ctest there
set -uo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

sanitize=0
for argument in "$@"; do
  case "$argument" in
    --sanitize) sanitize=1 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option '$argument' (try --help)" >&2; exit 2 ;;
  esac
done

build_dir=build
if [ "$sanitize" -eq 1 ]; then
  build_dir=build-asan
  bash scripts/setup.sh --sanitize || exit 1
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
fi
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  echo "test.sh: error: no build in $build_dir/; run: bash scripts/setup.sh" >&2
  exit 1
fi

log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT

echo "==> C++ tests (ctest, $build_dir, label 'slow' excluded)"
ctest --test-dir "$build_dir" --output-on-failure -j2 -LE slow 2>&1 | tee "$log_dir/ctest.log"
ctest_status=${PIPESTATUS[0]}
ctest_summary="$(grep -E 'tests passed|No tests were found' "$log_dir/ctest.log" | tail -n 1)"

pytest_status=0
pytest_summary="skipped (sanitizer run)"
if [ "$sanitize" -eq 0 ]; then
  echo
  echo "==> Python tests (pytest, tests/python)"
  /usr/bin/python3 -m pytest tests/python -q 2>&1 | tee "$log_dir/pytest.log"
  pytest_status=${PIPESTATUS[0]}
  pytest_summary="$(grep -E '(passed|failed|error|skipped|no tests ran)' "$log_dir/pytest.log" | tail -n 1)"
  if [ "$pytest_status" -eq 5 ]; then  # 5 = no tests collected
    pytest_status=0
    pytest_summary="no Python tests collected"
  fi
fi

# Size of the product code (tests excluded), so that growth stays visible.
count_lines() { find "$@" -type f \( -name '*.cc' -o -name '*.h' -o -name '*.py' \) \
  -not -name '_tessel*' -print0 2>/dev/null | xargs -0 cat 2>/dev/null | wc -l; }
cpp_lines="$(count_lines include src codegen runtime te relay_like autotune python -not -name '*.py')"
python_lines="$(count_lines python -name '*.py')"

verdict() { if [ "$1" -eq 0 ]; then echo "ok"; else echo "FAILED (exit $1)"; fi; }
echo
echo "==================== Tessel test summary ===================="
printf 'C++    (ctest):  %-8s %s\n' "$(verdict "$ctest_status")" "${ctest_summary:-no summary}"
printf 'Python (pytest): %-8s %s\n' "$(verdict "$pytest_status")" "${pytest_summary:-no summary}"
printf 'Code size:       %s lines of C++, %s lines of Python (tests excluded)\n' \
  "$cpp_lines" "$python_lines"
echo "============================================================="
[ "$ctest_status" -eq 0 ] && [ "$pytest_status" -eq 0 ]
