#!/bin/sh
# Speed and memory of `flatroot mount`, side by side with what users would otherwise mount or
# unpack, on one tree: the image of a make-apk-repo preset's `everything` blueprint.
#
#   benches/scripts/mount-bench.sh [PRESET] [RUNS]
#
# PRESET is a make-apk-repo preset (small, medium, large; default medium), RUNS the number
# of runs per figure (default 3; medians are reported). FLATROOT names the binary (default
# target/release/flatroot); FLATROOT_CORPUS_DIR the directory of prepared repositories
# (default target/flatroot-corpus; the repository is made there once, as the tests make it).
#
# Sides, all reading inputs from /dev/shm (tmpfs, RAM), so that no side waits for a disk:
#   flatroot blueprint   `flatroot mount` of the blueprint (resolve, verify, inflate, serve)
#   flatroot image       `flatroot mount` of the built OCI layout (gzip layer, inflated once)
#   flatroot image, tar  the same built with --compression none (the layer is mapped in place)
#   squashfuse           squashfuse of `mksquashfs` (gzip) of the unpacked tree
#   ratarmount           ratarmount of the gzip layer blob (a fresh index each run)
#   archivemount         archivemount of the gzip layer blob, under a shorter timeout
#                        (MOUNT_BENCH_SLOW_TIMEOUT, 120 s) and once (MOUNT_BENCH_SLOW_RUNS)
#   tmpfs                the layer unpacked with `tar -xzf` into /dev/shm (the kernel's speed)
# Each run of a side mounts afresh (so kernel caches start empty), then times: mount ready
# (from starting the server to the mount being in the mount table; for tmpfs, the unpack),
# `find -ls` first and again (the kernel's entry and attribute caches now warm), `du -s`,
# reading every byte (`tar -cf - -C MNT . | wc -c`) first and again (the page cache now
# warm), and reads the server's peak resident memory (VmHWM).
# Every command reading a mount runs under `timeout`, and every mount is taken down.
set -eu

preset=${1:-medium}
runs=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
flatroot=${FLATROOT:-$root/target/release/flatroot}
tools=${FLATROOT_SHARED_TOOLS:-$root/../shared/tools}
corpus=${FLATROOT_CORPUS_DIR:-$root/target/flatroot-corpus}
repo=$corpus/debian-$preset
limit=${MOUNT_BENCH_TIMEOUT:-600}
slow_limit=${MOUNT_BENCH_SLOW_TIMEOUT:-120}
slow_runs=${MOUNT_BENCH_SLOW_RUNS:-1}

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
mkdir "$mnt"
server=
cleanup() {
    fusermount3 -u -z -q "$mnt" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'
}
say() { echo "$*" >&2; }

# Runs a shell command under a timeout of $2 seconds (default $limit) and prints its seconds,
# or ">N" when it did not finish.
timed() {
    lim=${2:-$limit}
    start=$(now)
    if timeout -k 5 "$lim" sh -c "$1" >/dev/null 2>&1; then
        elapsed "$start" "$(now)"
    else
        echo ">$lim"
    fi
}

# Like timed, unless the step before ($1) timed out.
after() {
    case $1 in
    ">"*) echo "$1" ;;
    *) timed "$2" "$3" ;;
    esac
}

mounted() { awk -v m="$mnt" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo; }

# Starts a FUSE server in the foreground (its pid in $server) and waits until the mount is in
# the mount table; sets $ready to the seconds that took, or ">N".
start_server() {
    lim=$1
    shift
    start=$(now)
    "$@" >"$work/server.log" 2>&1 &
    server=$!
    while ! mounted; do
        if ! kill -0 "$server" 2>/dev/null || at_least "$(elapsed "$start" "$(now)")" "$lim"; then
            say "server did not mount: $* ($(tail -n 3 "$work/server.log"))"
            ready=">$lim"
            return
        fi
        sleep 0.05
    done
    ready=$(elapsed "$start" "$(now)")
}

stop_server() {
    fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
    # (sh has no local variables: the callers' loop counter is $i, so this one is $waited.)
    waited=0
    while kill -0 "$server" 2>/dev/null && [ "$waited" -lt 200 ]; do
        sleep 0.05
        waited=$((waited + 1))
    done
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=
}

peak_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo "-"; }

# One side: NAME, a timeout for its commands, then the server's command (mounting on $mnt);
# $side_runs runs (default $runs).
# Appends "NAME|ready|find|refind|du|read|reread|peak" (medians) to $work/results.
side() {
    name=$1
    lim=$2
    shift 2
    : >"$work/runs"
    i=0
    n=${side_runs:-$runs}
    while [ "$i" -lt "$n" ]; do
        say "$name: run $((i + 1)) of $n"
        start_server "$lim" "$@"
        case $ready in
        ">"*) echo "$ready - - - - - -" >>"$work/runs"; stop_server; i=$((i + 1)); continue ;;
        esac
        # After a step that timed out, the side's later steps are not run: they show the same.
        find=$(timed "find '$mnt' -ls" "$lim")
        refind=$(after "$find" "find '$mnt' -ls" "$lim")
        du=$(after "$refind" "du -s '$mnt'" "$lim")
        read1=$(after "$du" "tar -cf - -C '$mnt' . | wc -c" "$lim")
        read2=$(after "$read1" "tar -cf - -C '$mnt' . | wc -c" "$lim")
        peak=$(peak_kib "$server")
        stop_server
        echo "$ready $find $refind $du $read1 $read2 $peak" >>"$work/runs"
        i=$((i + 1))
    done
    line=$name
    for column in 1 2 3 4 5 6 7; do
        value=$(awk -v c="$column" '{ print $c }' "$work/runs" | grep -v '^[->]' | median)
        # A figure no run finished is shown as the timeout.
        [ "$value" = "-" ] && value=$(awk -v c="$column" 'NR == 1 { print $c }' "$work/runs")
        line="$line|$value"
    done
    echo "$line" >>"$work/results"
}

say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/results"

# The images, and the gzip layer blob for the archive mounters.
say "building the image (gzip) and the image (uncompressed)"
(cd "$(dirname "$blueprint")/.." && "$flatroot" build "$blueprint" "$work/image" >/dev/null)
(cd "$(dirname "$blueprint")/.." \
    && "$flatroot" build --compression none "$blueprint" "$work/image-tar" >/dev/null)
layer_blob=$(ls -S "$work/image/blobs/sha256/"* | head -n 1)
ln -s "$layer_blob" "$work/layer.tar.gz"
layer_bytes=$(wc -c <"$layer_blob")

# tmpfs: unpacking the layer is its "mount"; the last unpack stays for the other sides.
: >"$work/runs"
i=0
while [ "$i" -lt "$runs" ]; do
    rm -rf "$work/tree"
    mkdir "$work/tree"
    unpack=$(timed "tar -xzf '$work/layer.tar.gz' -C '$work/tree'")
    find=$(timed "find '$work/tree' -ls")
    refind=$(timed "find '$work/tree' -ls")
    du=$(timed "du -s '$work/tree'")
    read1=$(timed "tar -cf - -C '$work/tree' . | wc -c")
    read2=$(timed "tar -cf - -C '$work/tree' . | wc -c")
    echo "$unpack $find $refind $du $read1 $read2 -" >>"$work/runs"
    i=$((i + 1))
done
line=tmpfs
for column in 1 2 3 4 5 6 7; do
    line="$line|$(awk -v c="$column" '{ print $c }' "$work/runs" | median)"
done
echo "$line" >>"$work/results"
entries=$(find "$work/tree" | wc -l)
bytes=$(tar -cf - -C "$work/tree" . | wc -c)

# squashfs of the same tree, made RUNS times (the median is reported beside the mount).
: >"$work/mksquashfs"
i=0
while [ "$i" -lt "$runs" ]; do
    rm -f "$work/tree.sqfs"
    timed "mksquashfs '$work/tree' '$work/tree.sqfs' -comp gzip -noappend -quiet" \
        >>"$work/mksquashfs"
    i=$((i + 1))
done
mksquashfs_s=$(median <"$work/mksquashfs")

side "flatroot blueprint" "$limit" \
    sh -c "cd '$(dirname "$blueprint")/..' && exec '$flatroot' mount '$blueprint' '$mnt'"
side "flatroot image (gzip layer)" "$limit" "$flatroot" mount "$work/image" "$mnt"
side "flatroot image (uncompressed layer)" "$limit" "$flatroot" mount "$work/image-tar" "$mnt"
side "squashfuse" "$limit" squashfuse -f "$work/tree.sqfs" "$mnt"
if command -v ratarmount >/dev/null; then
    side "ratarmount" "$limit" sh -c "rm -f '$work/ratar.sqlite'; \
        exec ratarmount -f --index-file '$work/ratar.sqlite' '$work/layer.tar.gz' '$mnt'"
fi
if command -v archivemount >/dev/null; then
    side_runs=$slow_runs
    side "archivemount" "$slow_limit" archivemount -f -o readonly "$work/layer.tar.gz" "$mnt"
    side_runs=
fi

say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "preset $preset: $entries entries, $bytes tar bytes, gzip layer $layer_bytes bytes;" \
    "median of $runs runs; binary $flatroot; mksquashfs (gzip) ${mksquashfs_s} s"
echo
printf '| side | mount ready s | find -ls s | again s | du -s s | read every byte s | again s |'
echo " peak RSS KiB |"
echo "|---|---|---|---|---|---|---|---|"
awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
    $1, $2, $3, $4, $5, $6, $7, $8 }' "$work/results"
echo
# Ratios against the flatroot image mount (gzip layer): how many times its time each side
# takes, first pass and again.
awk -F'|' '
    function ratio(v, base) {
        return (v ~ /^[0-9.]+$/ && base > 0) ? sprintf("%.2fx", v / base) : v
    }
    $1 == "flatroot image (gzip layer)" { f = $3; f2 = $4; r = $6; r2 = $7 }
    { name[NR] = $1; find[NR] = $3; find2[NR] = $4; read[NR] = $6; read2[NR] = $7 }
    END {
        print "| side | find -ls | again | read every byte | again |"
        print "|---|---|---|---|---|"
        for (i = 1; i <= NR; i++) {
            printf "| %s | %s | %s | %s | %s |\n", name[i], ratio(find[i], f),
                ratio(find2[i], f2), ratio(read[i], r), ratio(read2[i], r2)
        }
    }' "$work/results"
