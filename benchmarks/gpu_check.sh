#!/usr/bin/env bash
# One GPU run that fits in about 9 minutes on one H100/H200:
#   1. the GPU tests of every module (pytest -m gpu)          ~1 min, limit 2   -> $OUT/gpu_tests.log
#   2. the training-throughput benchmark                      ~1 min, limit 2   -> $OUT/throughput.json (+ benchmarks/results/)
#   3. `ltutorial reproduce cifar10-lt`, 200 epochs           ~4 min, limit 5   -> $OUT/reproduce/
# Each step runs under `timeout`; a failing step is reported and the next one still runs.
# Usage (repo root):  OUT=/some/dir bash benchmarks/gpu_check.sh
#   GPU_CHECK_STEPS="tests throughput reproduce" (default: all three) selects steps;
#   REPRODUCE_METHODS / REPRODUCE_EPOCHS / *_TIMEOUT / *_ARGS override the sizes below;
#   PYTHON picks the interpreter (default python3).
# Data: a carried `.gpudata/` folder is used as LTUTORIAL_DATA when present (else random data
# for the benchmark, and the reproduction step needs LTUTORIAL_DATA to find CIFAR-10).
set -o pipefail
cd "$(dirname "$0")/.." || exit 2
OUT=${OUT:-build/gpu_check}
mkdir -p "$OUT"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
# Pure-Python packages the GPU machine lacks (e.g. imbalanced-learn) may be carried in .gpudata/site.
if [ -d .gpudata/site ]; then
    export PYTHONPATH="$PWD/.gpudata/site:$PYTHONPATH"
fi
export LTUTORIAL_PROGRESS=0
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if [ -z "${LTUTORIAL_DATA:-}" ] && [ -d .gpudata ]; then
    export LTUTORIAL_DATA="$PWD/.gpudata"
fi
if [ -z "${LTUTORIAL_CACHE:-}" ] && [ -d .gpudata ]; then
    export LTUTORIAL_CACHE="$PWD/.gpudata/cache"
fi
STEPS=${GPU_CHECK_STEPS:-"tests throughput reproduce"}
# Sized so the worst case (every step hitting its limit) stays at 9 minutes.
TESTS_TIMEOUT=${TESTS_TIMEOUT:-120}
THROUGHPUT_TIMEOUT=${THROUGHPUT_TIMEOUT:-120}
REPRODUCE_TIMEOUT=${REPRODUCE_TIMEOUT:-300}
REPRODUCE_METHODS=${REPRODUCE_METHODS:-erm,focal,cb-focal,ldam-drw,la,vs,vs-tla-adrw}
REPRODUCE_EPOCHS=${REPRODUCE_EPOCHS:-200}
THROUGHPUT_ARGS=${THROUGHPUT_ARGS:-}      # e.g. "--quick" for a CPU dry run
REPRODUCE_ARGS=${REPRODUCE_ARGS:-}        # e.g. "--max-train 512 --max-test 500 --model resnet8"

SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
failed=0
t_start=$(date +%s)

run_step() {  # run_step NAME TIMEOUT LOGFILE CMD...
    local name=$1 limit=$2 log=$3
    shift 3
    echo "=== [$name] start $(date +%T), limit ${limit}s: $*"
    local t0 rc
    t0=$(date +%s)
    timeout --kill-after=20 "$limit" "$@" 2>&1 | tee "$log"
    rc=$?
    local dt=$(( $(date +%s) - t0 ))
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "=== [$name] TIMED OUT after ${dt}s (limit ${limit}s)"
    fi
    echo "=== [$name] rc=$rc in ${dt}s"
    printf '%-12s rc=%-4s %5ss  %s\n' "$name" "$rc" "$dt" "$log" >> "$SUMMARY"
    [ "$rc" -eq 0 ] || failed=1
    return 0
}

{
    echo "date: $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || echo "nvidia-smi unavailable"
    "$PY" - <<'EOF' 2>&1
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0))
for mod in ("numpy", "sklearn", "matplotlib", "tqdm", "pytest", "torchvision", "papermill", "imblearn"):
    try:
        m = __import__(mod)
        print(f"{mod} {getattr(m, '__version__', '?')}")
    except Exception as err:  # noqa: BLE001
        print(f"{mod} missing ({type(err).__name__})")
EOF
    echo "LTUTORIAL_DATA=${LTUTORIAL_DATA:-<unset>}"
} 2>&1 | tee "$OUT/environment.txt"

for step in $STEPS; do
    case "$step" in
    tests)
        run_step gpu_tests "$TESTS_TIMEOUT" "$OUT/gpu_tests.log" \
            "$PY" -m pytest -m gpu -q -rs --maxfail=10 --durations=10 --continue-on-collection-errors tests
        ;;
    throughput)
        run_step throughput "$THROUGHPUT_TIMEOUT" "$OUT/throughput.log" \
            "$PY" benchmarks/train_throughput.py --out "$OUT/throughput.json" $THROUGHPUT_ARGS
        if [ -f "$OUT/throughput.json" ]; then
            "$PY" - "$OUT/throughput.json" <<'EOF' || true
import json, re, sys, shutil, pathlib
path = pathlib.Path(sys.argv[1])
d = json.loads(path.read_text())
if d.get("quick") or d.get("device_type") != "cuda":
    print("not copied to benchmarks/results (a quick or CPU run)")
    sys.exit(0)
slug = re.sub(r"[^a-z0-9]+", "-", d["device"].lower()).strip("-")[:60]
dest = pathlib.Path("benchmarks/results") / f"{slug}-train_throughput.json"
dest.parent.mkdir(parents=True, exist_ok=True)
shutil.copy(path, dest)
print(f"copied to {dest}; speedup {d['speedup_vs_reference']:.1f}x, fused {d['fused_speedup_vs_reference']:.1f}x per model")
EOF
        fi
        ;;
    reproduce)
        if ! "$PY" -c "import ltutorial.reproduce" >/dev/null 2>&1; then
            echo "=== [reproduce] SKIPPED: ltutorial.reproduce is missing or does not import" | tee "$OUT/reproduce.log"
            printf '%-12s skipped (module missing)\n' reproduce >> "$SUMMARY"
        elif [ -z "${LTUTORIAL_DATA:-}" ]; then
            echo "=== [reproduce] SKIPPED: no CIFAR-10 (carry .gpudata/ or set LTUTORIAL_DATA)" | tee "$OUT/reproduce.log"
            printf '%-12s skipped (no data)\n' reproduce >> "$SUMMARY"
        else
            mkdir -p "$OUT/reproduce"
            run_step reproduce "$REPRODUCE_TIMEOUT" "$OUT/reproduce.log" \
                "$PY" -m ltutorial reproduce cifar10-lt --methods "$REPRODUCE_METHODS" \
                --epochs "$REPRODUCE_EPOCHS" --out "$OUT/reproduce" $REPRODUCE_ARGS
        fi
        ;;
    *)
        echo "unknown step '$step' (known: tests throughput reproduce)"
        failed=1
        ;;
    esac
done

echo "=== summary ($(( $(date +%s) - t_start ))s in all)"
cat "$SUMMARY"
exit "$failed"
