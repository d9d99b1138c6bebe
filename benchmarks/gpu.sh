#!/usr/bin/env bash
# GPU check in one go: install the CuPy build matching the driver, run the CuPy
# parity tests, time descentlab on CuPy against PyTorch on CUDA (same shapes),
# and write the numbers to a folder. Budget: 8 minutes in all (install <= 150 s,
# parity tests <= 100 s, benchmark <= 210 s, each under `timeout`).
#
#   bash benchmarks/gpu.sh [--out DIR] [--repeats N] [--wheels DIR]
#   bash benchmarks/gpu.sh --dry-run [--out DIR]   # CPU: every step up to the GPU
#   bash benchmarks/gpu.sh --cupy-for "CUDA Version: 12.4"   # print the package
#
# --out DIR     where results go (default: gpu-results-<UTC time>); must be new
#               or empty. Files: summary.txt, nvidia-smi.txt, parity.txt,
#               bench-gpu.json, bench-gpu.txt.
# --repeats N   timed repeats per benchmark case (default 5; median reported).
# --wheels DIR  install CuPy offline from wheels in DIR (a machine without
#               network access); otherwise pip asks the package index.
# --dry-run     no GPU needed: parses the CUDA version (nvidia-smi's if there is
#               one, else a sample line), prints the pip command instead of
#               running it, runs the parity test file (it skips without a GPU)
#               and a tiny NumPy-backend benchmark, and writes the same files.
# Environment: PYTHON (default: python3) is the interpreter with descentlab's
# dependencies and a CUDA build of PyTorch.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-python3}"
out=""
repeats=5
wheels=""
dry_run=0

die() { echo "gpu.sh: $*" >&2; exit 2; }

# "CUDA Version: 12.4" (nvidia-smi's header) -> cupy-cuda12x
cupy_for() {
    local line="$1" major
    major="$(sed -n 's/.*CUDA Version: *\([0-9][0-9]*\)\.[0-9].*/\1/p' <<<"$line" | head -n1)"
    case "$major" in
        11) echo cupy-cuda11x ;;
        12) echo cupy-cuda12x ;;
        13) echo cupy-cuda13x ;;
        "") die "no 'CUDA Version: X.Y' in: $line" ;;
        *) die "CUDA $major has no known CuPy wheel (known: 11, 12, 13)" ;;
    esac
}

while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || die "--out needs a folder"; out="$2"; shift 2 ;;
        --repeats)
            [ $# -ge 2 ] || die "--repeats needs a number"
            [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "--repeats must be an integer >= 1; got '$2'"
            repeats="$2"; shift 2 ;;
        --wheels)
            [ $# -ge 2 ] || die "--wheels needs a folder"
            [ -d "$2" ] || die "--wheels: no folder '$2'"
            wheels="$2"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        --cupy-for) [ $# -ge 2 ] || die "--cupy-for needs a line"; cupy_for "$2"; exit 0 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

out="${out:-gpu-results-$(date -u +%Y%m%dT%H%M%SZ)}"
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
    die "output folder '$out' is not empty; pass a new --out"
fi
mkdir -p "$out"
summary="$out/summary.txt"
start=$SECONDS
log() { echo "[gpu.sh +$((SECONDS - start))s] $*" | tee -a "$summary"; }

cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg
"$python" -c "import descentlab, numpy" 2>/dev/null \
    || die "'$python' cannot import descentlab and numpy (set PYTHON)"
log "descentlab $("$python" -c 'import descentlab; print(descentlab.__version__)'), mode: $([ $dry_run = 1 ] && echo dry-run || echo gpu)"

# 1. the driver's CUDA version -> the CuPy wheel
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >"$out/nvidia-smi.txt" 2>&1; then
    smi_line="$(grep -m1 'CUDA Version' "$out/nvidia-smi.txt" || true)"
elif [ $dry_run = 1 ]; then
    smi_line="| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4 |"
    echo "no nvidia-smi (dry run): sample line: $smi_line" >"$out/nvidia-smi.txt"
else
    die "nvidia-smi is missing or failed (no NVIDIA driver?); use --dry-run on a CPU"
fi
pkg="$(cupy_for "$smi_line")"
log "driver says: ${smi_line//|/} -> $pkg"

# 2. install CuPy (skipped when a working one is already there)
pip_cmd=("$python" -m pip install -q "$pkg")
[ -n "$wheels" ] && pip_cmd=("$python" -m pip install -q --no-index --find-links "$wheels" "$pkg")
if [ $dry_run = 1 ]; then
    log "would run: ${pip_cmd[*]}"
elif "$python" -c "import cupy; cupy.cuda.runtime.getDeviceCount()" 2>/dev/null; then
    log "CuPy already works: $("$python" -c 'import cupy; print(cupy.__version__)')"
else
    log "installing: ${pip_cmd[*]}"
    timeout 150 "${pip_cmd[@]}" || die "CuPy install failed or took over 150 s"
fi
torch_info="$("$python" -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "no-cuda")' 2>/dev/null || echo "not installed")"
log "PyTorch: $torch_info"
if [ $dry_run = 0 ] && [[ "$torch_info" != *" cuda" ]]; then
    log "warning: PyTorch has no CUDA here: the benchmark's PyTorch columns will be empty"
fi

# 3. CuPy parity tests (skip themselves without CuPy and a GPU)
set +e
timeout 100 "$python" -m pytest -q -rs tests/test_cupy_parity.py >"$out/parity.txt" 2>&1
parity_rc=$?
set -e
log "parity tests: $(tail -n1 "$out/parity.txt") (exit $parity_rc)"
if [ $dry_run = 0 ] && ! grep -q "passed" "$out/parity.txt"; then
    log "error: no parity test passed on the GPU"
    parity_rc=1
fi
if [ $dry_run = 1 ] && [ $parity_rc -ne 0 ]; then
    die "parity test file failed on the CPU (exit $parity_rc): $(tail -n3 "$out/parity.txt")"
fi

# 4. the benchmark: descentlab on CuPy vs PyTorch on CUDA, same shapes
bench=("$python" -m descentlab bench --no-memory --repeats "$repeats" --json "$out/bench-gpu.json")
if [ $dry_run = 1 ]; then
    bench=("$python" -m descentlab bench --no-memory --size tiny --repeats 1 --threads 1
        --only deepconvnet_adam conv16_fwd_bwd --json "$out/bench-gpu.json")
    log "dry run: NumPy backend, tiny sizes: ${bench[*]}"
    timeout 240 "${bench[@]}" >"$out/bench-gpu.txt" 2>&1 || die "benchmark failed: $(tail -n3 "$out/bench-gpu.txt")"
else
    log "benchmark: DESCENTLAB_BACKEND=cupy ${bench[*]}"
    DESCENTLAB_BACKEND=cupy timeout 210 "${bench[@]}" >"$out/bench-gpu.txt" 2>&1 \
        || die "benchmark failed or took over 210 s: $(tail -n3 "$out/bench-gpu.txt")"
fi
cat "$out/bench-gpu.txt" >>"$summary"
log "done in $((SECONDS - start)) s; results in $out/"
exit "$parity_rc"
