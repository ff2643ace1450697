#!/bin/bash
# Speed of `flatroot diff`, side by side with unpacking both layers and running `diff -r`.
#
#   benches/scripts/diff-bench.sh [PRESET] [RUNS]
#
# PRESET is a make-apk-repo preset (default large), RUNS the timed runs per figure (default
# 3; the median is reported). FLATROOT names the binary (default target/release/flatroot).
# The two blueprints differ by one package: A is the preset's `everything` blueprint, B the
# same with its last top-level package that changes the resolved set left out. Figures:
#   - flatroot diff of the blueprints at --level packages (indexes only, no package data);
#   - flatroot diff of the blueprints at --level files (both trees built in memory), with
#     `--no-cache` (every package inflated, once for both sides) and with the cache that the
#     image builds below left (package data memory-mapped from it);
#   - flatroot diff of the two built images (OCI layouts, layers read and inflated);
#   - baseline: GNU tar unpacking both gzip layers into /dev/shm, then `diff -r`;
#   - diffoscope of the two layer tarballs, when installed, bounded at ten minutes.
# Every command runs under `timeout`; temporary trees live on /dev/shm (tmpfs).
set -euo pipefail

preset=${1:-large}
runs=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
flatroot=${FLATROOT:-$root/target/release/flatroot}
tools=${FLATROOT_SHARED_TOOLS:-$root/../shared/tools}
corpus=${FLATROOT_CORPUS_DIR:-$root/target/flatroot-corpus}
repo=$corpus/debian-$preset
limit=600
# diffoscope's own bound, 600 s as the issue asks unless DIFFOSCOPE_LIMIT says otherwise.
dlimit=${DIFFOSCOPE_LIMIT:-600}

if [ ! -f "$repo.done" ]; then
    rm -rf "$repo"
    mkdir -p "$corpus"
    "$tools/make-apk-repo" --preset "$preset" --out "$repo" >&2
    touch "$repo.done"
fi

work=$(mktemp -d /dev/shm/flatroot-diff-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
# A cache of the benchmark's own, filled by the builds of the two images.
export XDG_CACHE_HOME=$work/xdg
a=$repo/blueprints/everything.yaml
[ -f "$a" ] || a=$(ls "$repo"/blueprints/*.yaml | tail -n 1)
b=$work/one-less.yaml

# The package count of a blueprint's resolution.
count() { "$flatroot" resolve --json "$1" | python3 -c \
    'import json,sys; print(sum(len(a["packages"]) for a in json.load(sys.stdin)["archs"]))'; }

# B: drop top-level packages from the end until one changes what resolves.
want=$(count "$a")
mapfile -t tops < <(grep -E '^    - "' "$a" | tac)
for top in "${tops[@]}"; do
    grep -vxF -- "$top" "$a" > "$b"
    if [ "$(count "$b")" != "$want" ]; then
        dropped=$top
        break
    fi
done
[ -n "${dropped:-}" ] || { echo "no top-level package changes the resolution" >&2; exit 1; }

"$flatroot" build "$a" "$work/image-a" >/dev/null
"$flatroot" build "$b" "$work/image-b" >/dev/null
layer() { python3 - "$1" <<'EOF'
import json, sys
root = sys.argv[1]
blob = lambda d: f"{root}/blobs/sha256/{d.split(':')[1]}"
index = json.load(open(blob(json.load(open(f"{root}/index.json"))["manifests"][0]["digest"])))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
print(blob(manifest["layers"][0]["digest"]))
EOF
}
layer_a=$(layer "$work/image-a")
layer_b=$(layer "$work/image-b")

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# One command, RUNS times; prints the median seconds. Exit status 1 means "different".
timed() {
    for _ in $(seq "$runs"); do
        start=$(now)
        status=0
        timeout "$limit" bash -c "$1" >/dev/null 2>&1 || status=$?
        [ "$status" -le 1 ] || { echo "failed ($status): $1" >&2; exit 1; }
        printf '%.3f\n' "$(echo "$(now) - $start" | bc)"
    done | median
}

baseline="rm -rf $work/ua $work/ub && mkdir $work/ua $work/ub \
    && tar -xzf $layer_a -C $work/ua && tar -xzf $layer_b -C $work/ub \
    && diff -r --no-dereference $work/ua $work/ub"
packages=$(timed "cd $repo && $flatroot diff $a $b --level packages")
files=$(timed "cd $repo && $flatroot diff $a $b --level files --no-cache")
warm=$(timed "cd $repo && $flatroot diff $a $b --level files")
images=$(timed "$flatroot diff $work/image-a $work/image-b --level files")
unpack=$(timed "$baseline")

if command -v diffoscope >/dev/null; then
    start=$(now)
    if timeout "$dlimit" diffoscope "$layer_a" "$layer_b" >/dev/null 2>&1 || [ $? -eq 1 ]; then
        diffoscope_s="$(printf '%.1f' "$(echo "$(now) - $start" | bc)") s"
    else
        diffoscope_s="did not finish in $dlimit s"
    fi
else
    diffoscope_s="not installed"
fi

ratio() { printf '%.1f' "$(echo "scale=3; $unpack / $1" | bc)"; }
name=$(echo "$dropped" | sed 's/^ *- "//; s/"$//')
echo "preset $preset: A = $(basename "$a") ($want packages), B = A without $name;" \
    "median of $runs runs; binary $flatroot"
echo "| what | median wall | unpack + diff -r / this |"
echo "|---|---|---|"
echo "| flatroot diff A.yaml B.yaml --level packages | ${packages} s | $(ratio "$packages")x |"
echo "| flatroot diff A.yaml B.yaml --level files --no-cache | ${files} s | $(ratio "$files")x |"
echo "| flatroot diff A.yaml B.yaml --level files, warm cache | ${warm} s | $(ratio "$warm")x |"
echo "| flatroot diff image-a image-b --level files | ${images} s | $(ratio "$images")x |"
echo "| GNU tar -xzf both layers + diff -r | ${unpack} s | 1.0x |"
echo "| diffoscope layer-a layer-b | ${diffoscope_s} | |"
