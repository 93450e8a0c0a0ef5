#!/usr/bin/env bash
# One GPU run that fits in a 10-minute command (GPU_CHECK_BUDGET, default 540 s, bounds the whole script):
#   1. the GPU tests (pytest -m gpu, modules with GPU tests)  ~0.5 min, limit 60 s
#   2. the training-throughput benchmark (random uint8 data)  ~2 min, limit 130 s -> $OUT/results/<device>-train_throughput.json
#   3. `ltutorial reproduce cifar10-lt`, 200 epochs           ~4-5 min, at most 330 s -> $OUT/reproduce/<device>-reproduce-cifar10-lt.{json,md}
#   4. where the fused step spends its kernel time            ~20 s, limit 45 s -> $OUT/results/<device>-profile_fused_step.json
#      (benchmarks/profile_fused_step.py); last, so it only takes what the reproduction left of the budget.
# Every step's output goes to $OUT/gpu_check.log, the environment and one line per step to $OUT/summary.txt:
# six files in all (a lent GPU machine returns at most 8 files from $OUT, at most 2 folders down).
# Each step runs under `timeout` (SIGINT first, so pytest prints its failures and Python its traceback);
# a failing step is reported and the next one still runs; a step is skipped when under 20 s of budget is left.
# Usage (repo root):  OUT=/some/dir bash benchmarks/gpu_check.sh
#   GPU_CHECK_STEPS="tests throughput reproduce profile" (the default) selects steps;
#   GPU_CHECK_BUDGET / REPRODUCE_METHODS / REPRODUCE_EPOCHS / REPRODUCE_EVAL_EVERY / REPRODUCE_PRECISION /
#   *_TIMEOUT / *_ARGS override the sizes below; the reproduction rewrites its JSON/markdown every 10 epochs
#   and when interrupted ("complete": false), so a step cut short by its limit still leaves numbers under
#   $OUT/reproduce/; PYTHON picks the interpreter (default python3).
# After the throughput step, the reproduction's --precision is set from the faster several-models setup the
# benchmark measured (its JSON's "recommended"), unless REPRODUCE_PRECISION is set already.
# Data: a carried `.gpudata/` folder is used as LTUTORIAL_DATA when present (else the reproduction
# step needs LTUTORIAL_DATA to find CIFAR-10). The benchmark uses random uint8 data of CIFAR-10-LT's
# shape unless THROUGHPUT_ARGS says otherwise (speed does not depend on pixel values).
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
STEPS=${GPU_CHECK_STEPS:-"tests throughput reproduce profile"}
# Per-step limits; each is further cut to what is left of GPU_CHECK_BUDGET when the step starts.
GPU_CHECK_BUDGET=${GPU_CHECK_BUDGET:-540}
TESTS_TIMEOUT=${TESTS_TIMEOUT:-60}
THROUGHPUT_TIMEOUT=${THROUGHPUT_TIMEOUT:-130}
REPRODUCE_TIMEOUT=${REPRODUCE_TIMEOUT:-330}
PROFILE_TIMEOUT=${PROFILE_TIMEOUT:-45}
REPRODUCE_PRECISION=${REPRODUCE_PRECISION:-}  # from the throughput step's measurements when empty, else auto
REPRODUCE_BENCHMARK=${REPRODUCE_BENCHMARK:-cifar10-lt}  # digits-lt needs no download (the script's CPU test)
REPRODUCE_METHODS=${REPRODUCE_METHODS:-erm,focal,cb-focal,ldam-drw,la,vs,vs-tla-adrw}
REPRODUCE_EPOCHS=${REPRODUCE_EPOCHS:-200}
REPRODUCE_EVAL_EVERY=${REPRODUCE_EVAL_EVERY:-5}  # test-set evaluation every N epochs (and after the last)
THROUGHPUT_ARGS=${THROUGHPUT_ARGS:---data random}  # e.g. "--quick" for a CPU dry run
THROUGHPUT_SCRIPT=${THROUGHPUT_SCRIPT:-benchmarks/train_throughput.py}
REPRODUCE_ARGS=${REPRODUCE_ARGS:-}        # e.g. "--max-train 512 --max-test 500 --model resnet8"
PROFILE_ARGS=${PROFILE_ARGS:-}            # e.g. "--quick --model small_cnn --models 2" for a CPU dry run
DEVICE_SLUG=$("$PY" -c "import re, torch; n = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'; print(re.sub(r'[^a-z0-9]+', '-', n.lower()).strip('-')[:60])" 2>/dev/null || echo unknown)

SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
failed=0
t_start=$(date +%s)

LOG="$OUT/gpu_check.log"
: > "$LOG"

run_step() {  # run_step NAME TIMEOUT CMD...   (output appended to $LOG)
    local name=$1 limit=$2 log=$LOG
    shift 2
    local left=$(( GPU_CHECK_BUDGET - ($(date +%s) - t_start) ))
    if [ "$left" -lt 20 ]; then
        echo "=== [$name] SKIPPED: only ${left}s of the ${GPU_CHECK_BUDGET}s budget left" | tee -a "$log"
        printf '%-12s skipped (budget)\n' "$name" >> "$SUMMARY"
        failed=1
        return 0
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "=== [$name] start $(date +%T), limit ${limit}s: $*" | tee -a "$log"
    local t0 rc
    t0=$(date +%s)
    timeout -s INT --kill-after=15 "$limit" "$@" 2>&1 | tee -a "$log"
    rc=$?
    local dt=$(( $(date +%s) - t0 ))
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "=== [$name] TIMED OUT after ${dt}s (limit ${limit}s)" | tee -a "$log"
    fi
    echo "=== [$name] rc=$rc in ${dt}s" | tee -a "$log"
    printf '%-12s rc=%-4s %5ss\n' "$name" "$rc" "$dt" >> "$SUMMARY"
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
} 2>&1 | tee -a "$SUMMARY"

for step in $STEPS; do
    case "$step" in
    tests)
        # Only the modules that hold GPU tests: the others may import what the GPU machine lacks
        # (nbformat, papermill), which would fail their collection for nothing.
        gpu_test_files=$(grep -l "pytest.mark.gpu" tests/test_*.py | tr '\n' ' ')
        if [ -z "$gpu_test_files" ]; then
            echo "=== [gpu_tests] SKIPPED: no test module holds pytest.mark.gpu tests" | tee -a "$LOG"
            printf '%-12s skipped (no GPU tests)\n' gpu_tests >> "$SUMMARY"
            failed=1
            continue
        fi
        run_step gpu_tests "$TESTS_TIMEOUT" \
            "$PY" -m pytest -m gpu -q -rfEs --maxfail=10 --durations=15 -p no:cacheprovider $gpu_test_files
        ;;
    throughput)
        tp_json="$OUT/results/${DEVICE_SLUG}-train_throughput.json"
        mkdir -p "$OUT/results"
        rm -f "$tp_json"  # a file left by an earlier run must not choose this run's settings
        run_step throughput "$THROUGHPUT_TIMEOUT" \
            "$PY" "$THROUGHPUT_SCRIPT" --out "$tp_json" $THROUGHPUT_ARGS
        if [ -f "$tp_json" ]; then
            # The reproduction trains its methods together: use the precision of the several-models setup
            # that won here (the JSON's "recommended"), unless set already.
            # A run cut short by its limit wrote "complete": false: its choice covers the setups it
            # timed (the most telling run first), and the log says so.
            settings=$("$PY" - "$tp_json" <<'EOF' 2>/dev/null || echo "auto unreadable"
import json, sys
d = json.load(open(sys.argv[1]))
rec = d.get("recommended") or {}
print(rec.get("precision", "auto"), "complete" if d.get("complete") else "partial")
EOF
)
            read -r rec_precision rec_state <<< "$settings"
            REPRODUCE_PRECISION="${REPRODUCE_PRECISION:-$rec_precision}"
            echo "=== several-models settings for the next steps: reproduce --precision $REPRODUCE_PRECISION" \
                "(measured best: $settings)" | tee -a "$LOG"
        fi
        ;;
    reproduce)
        if ! "$PY" -c "import ltutorial.reproduce" >/dev/null 2>&1; then
            echo "=== [reproduce] SKIPPED: ltutorial.reproduce is missing or does not import" | tee -a "$LOG"
            printf '%-12s skipped (module missing)\n' reproduce >> "$SUMMARY"
            failed=1
        elif [ -z "${LTUTORIAL_DATA:-}" ] && [ "${REPRODUCE_BENCHMARK#cifar}" != "$REPRODUCE_BENCHMARK" ]; then
            echo "=== [reproduce] SKIPPED: no CIFAR-10 (carry .gpudata/ or set LTUTORIAL_DATA)" | tee -a "$LOG"
            printf '%-12s skipped (no data)\n' reproduce >> "$SUMMARY"
            failed=1
        else
            mkdir -p "$OUT/reproduce"
            run_step reproduce "$REPRODUCE_TIMEOUT" \
                "$PY" -m ltutorial reproduce "$REPRODUCE_BENCHMARK" --methods "$REPRODUCE_METHODS" \
                --epochs "$REPRODUCE_EPOCHS" --eval-every "$REPRODUCE_EVAL_EVERY" --precision "${REPRODUCE_PRECISION:-auto}" \
                --out "$OUT/reproduce" $REPRODUCE_ARGS
        fi
        ;;
    profile)
        mkdir -p "$OUT/results"
        run_step profile "$PROFILE_TIMEOUT" \
            "$PY" benchmarks/profile_fused_step.py --out "$OUT/results/${DEVICE_SLUG}-profile_fused_step.json" $PROFILE_ARGS
        ;;
    *)
        echo "unknown step '$step' (known: tests throughput reproduce profile)" | tee -a "$LOG"
        failed=1
        ;;
    esac
done

echo "=== summary ($(( $(date +%s) - t_start ))s in all)"
cat "$SUMMARY"
exit "$failed"
