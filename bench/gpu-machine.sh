#!/usr/bin/env bash
# The whole benchmark on an NVIDIA H100/H200 machine in one command, well under 8 minutes
# (ENVIRONMENT.md section 3: no node, no network there). Nothing is built there.
#
# Prepare on the development machine, from the project's root:
#   bash ../shared/gpu/prepare.sh                                # .gpu/: node.xz, loader .debs, env.sh
#   npm run prebench                                             # bench/dist/ (emptied first)
#   npx vite build --config bench/vite.gpu.config.ts             # bench/dist/gpu/main.js, peers bundled
# Carry: .gpu, bench/dist, node_modules/webgpu/package.json, node_modules/webgpu/index.js,
#        node_modules/webgpu/dist/linux-x64 (about 75 MB uncompressed with .gpu; see RESULTS.md)
# Run there: bash bench/gpu-machine.sh        (results in $OUT when set, else bench/results)
# It runs the matmul tuner (every tiled candidate; altreg's rows then use its pick, with the
# default tiles timed alongside) and the kernel parts (matmul, memory). The training part takes
# minutes of its own at MNIST scale (the peers train thousands of rows a second), so it is a
# second call, e.g.
#   bash bench/gpu-machine.sh --only training --train-rows 6144 --slow-runs 1
# (a later --only replaces the default one).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-bench/results}
mkdir -p "$out"
for need in .gpu/env.sh bench/dist/gpu/main.js node_modules/webgpu/dist/linux-x64/dawn.node; do
  [ -e "$need" ] || { echo "gpu-machine.sh: $need is missing; see the header of this script" >&2; exit 2; }
done
. .gpu/env.sh
{ nvidia-smi -L; node --version; } > "$out/machine.txt" 2>&1 || true
# Vulkan named explicitly: a silent fall-back to another backend would time the wrong thing.
# Exact GPU timestamps (Dawn rounds them otherwise) for the column timed by timestamps.
timeout 450 node bench/dist/gpu/main.js --backend vulkan --dawn-flag disable-dawn-features=timestamp_quantization \
  --sizes 256,512,1024,2048,4096 --strategies --tune --only matmul,memory \
  --out "$out" "$@" > "$out/bench.md" 2> "$out/bench.log"
rc=$?
cat "$out/bench.md"
grep -v 'XDG_RUNTIME_DIR' "$out/bench.log" | tail -n 40 >&2
exit $rc
