#!/usr/bin/env bash
# The prepared run for the first lent GPU (benchmarks/RESULTS.md, "To run on the first lent GPU").
#
#   bash benchmarks/first_gpu_run.sh tests   # python -m pytest -m "gpu and not network" (a few minutes) in one process:
#                                            # -o addopts="" drops setup.cfg's -n (pytest-xdist may be absent there, and
#                                            # the GPU tests measure peak memory, which other workers would change)
#   bash benchmarks/first_gpu_run.sh bench   # benchmarks/bench_gpu.py --device cuda (about 8 minutes, estimated)
#
# The GPU machine has torch but not ganmetric's pure-Python dependencies and no network: the wheels
# in .whl/ (made beforehand on a machine with PyPI, see RESULTS.md) are installed into /tmp/site
# first. Logs and reports go to $OUT (or ./gpu_run when OUT is unset).
set -o pipefail
out="${OUT:-gpu_run}"
mkdir -p "$out"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"
case "$1" in
    tests) python3 -m pytest -q -o addopts="" -m "gpu and not network" -p no:cacheprovider -rs 2>&1 | tee "$out/pytest_gpu.log" ;;
    bench) python3 benchmarks/bench_gpu.py --device cuda --out "$out/bench_gpu" 2>&1 | tee "$out/bench_gpu.log" ;;
    *) echo "usage: $0 tests|bench" >&2; exit 2 ;;
esac
