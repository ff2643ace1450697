#!/bin/sh
# Speed and memory of `flatroot mount`, side by side with the same tree on tmpfs.
#
#   benches/scripts/mount-bench.sh [PRESET] [RUNS]
#
# PRESET is a make-apk-repo preset (small, medium, large; default medium), RUNS the number
# of timed runs per figure (default 3; the median is reported). FLATROOT names the binary
# (default target/release/flatroot). The repository is made once under
# target/flatroot-corpus/debian-PRESET, as the tests make it. Figures, per BENCHMARKING.md:
#   - mount: from `flatroot mount --background` starting to the mount being ready
#     (resolve, verify, inflate every package into memory);
#   - find -ls, and reading every byte (tar -cf - | wc -c), on the mount and on a copy of the
#     same tree in /dev/shm (tmpfs, the kernel's own speed), page cache warm on both sides:
#     each side is walked once before timing;
#   - the server's resident memory while serving and its peak (VmRSS, VmHWM).
# Every command reading the mount runs under `timeout`, and the mount is always taken down.
set -eu

preset=${1:-medium}
runs=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
flatroot=${FLATROOT:-$root/target/release/flatroot}
tools=${FLATROOT_SHARED_TOOLS:-$root/../shared/tools}
corpus=${FLATROOT_CORPUS_DIR:-$root/target/flatroot-corpus}
repo=$corpus/debian-$preset
limit=600

if [ ! -f "$repo.done" ]; then
    rm -rf "$repo"
    mkdir -p "$corpus"
    "$tools/make-apk-repo" --preset "$preset" --out "$repo" >&2
    touch "$repo.done"
fi
blueprint=$repo/blueprints/everything.yaml
[ -f "$blueprint" ] || blueprint=$(ls "$repo"/blueprints/*.yaml | head -n 1)

work=$(mktemp -d /dev/shm/flatroot-mount-bench.XXXXXX)
mnt=$work/mnt
copy=$work/copy
mkdir "$mnt" "$copy"
cleanup() {
    fusermount3 -u -z -q "$mnt" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# One timed command, RUNS times; prints the median seconds.
timed() {
    i=0
    while [ "$i" -lt "$runs" ]; do
        start=$(now)
        timeout "$limit" sh -c "$1" >/dev/null
        elapsed "$start" "$(now)"
        i=$((i + 1))
    done | median
}

start=$(now)
pid=$(cd "$(dirname "$blueprint")/.." && timeout "$limit" "$flatroot" mount "$blueprint" "$mnt" --background)
mount_s=$(elapsed "$start" "$(now)")

timeout "$limit" cp -a "$mnt/." "$copy/"
timeout "$limit" tar -cf - -C "$mnt" . | wc -c >/dev/null
timeout "$limit" tar -cf - -C "$copy" . | wc -c >/dev/null

entries=$(timeout "$limit" find "$mnt" | wc -l)
bytes=$(timeout "$limit" tar -cf - -C "$mnt" . | wc -c)
find_fuse=$(timed "find '$mnt' -ls")
find_tmpfs=$(timed "find '$copy' -ls")
read_fuse=$(timed "tar -cf - -C '$mnt' . | wc -c")
read_tmpfs=$(timed "tar -cf - -C '$copy' . | wc -c")
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
"$flatroot" umount "$mnt"

echo "preset $preset: $entries entries, $bytes tar bytes; median of $runs runs; binary $flatroot"
echo "mount (resolve + inflate + mount): ${mount_s} s"
echo "find -ls: flatroot mount ${find_fuse} s, tmpfs ${find_tmpfs} s"
echo "read every byte: flatroot mount ${read_fuse} s, tmpfs ${read_tmpfs} s"
echo "server memory: RSS ${rss} KiB while serving, peak ${peak} KiB"
