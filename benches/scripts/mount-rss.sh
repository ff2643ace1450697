#!/bin/sh
# Peak memory of `flatroot mount` serving an image, in each form given.
#
#   benches/scripts/mount-rss.sh BINARY SOURCE...
#
# For each SOURCE (an OCI layout, a docker-archive, a layer .tar, .tar.gz or .tar.zst), the
# BINARY mounts it in the foreground on a fresh directory in /dev/shm; once the mount is in
# the mount table, the server's peak resident memory (VmHWM) is read, every byte is read
# through the mount (`tar -cf - -C MNT . | wc -c`), and VmHWM and VmRSS are read again.
# Prints one line per source: seconds until ready, the peaks and the RSS in KiB.
set -eu

[ $# -ge 2 ] || { echo "usage: $0 BINARY SOURCE..." >&2; exit 2; }
flatroot=$1
shift
limit=${MOUNT_BENCH_TIMEOUT:-600}

kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$2/status"; }

for source in "$@"; do
    mnt=$(mktemp -d /dev/shm/flatroot-mount-rss.XXXXXX)
    start=$(date +%s.%N)
    "$flatroot" mount "$source" "$mnt" >/dev/null 2>"$mnt.log" &
    pid=$!
    until awk -v m="$mnt" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$source: the server ended: $(cat "$mnt.log")" >&2
            rm -rf "$mnt" "$mnt.log"
            continue 2
        fi
        sleep 0.05
    done
    ready=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    at_ready=$(kib VmHWM "$pid")
    bytes=$(timeout -k 5 "$limit" tar -cf - -C "$mnt" . | wc -c)
    peak=$(kib VmHWM "$pid")
    rss=$(kib VmRSS "$pid")
    fusermount3 -u "$mnt" || fusermount3 -u -z "$mnt"
    wait "$pid" || true
    rm -rf "$mnt" "$mnt.log"
    echo "$source: ready $ready s; peak $at_ready KiB when ready; after reading $bytes bytes" \
        "peak $peak KiB, RSS $rss KiB"
done
