#!/usr/bin/env bash
# fresh-check.sh -- `make fresh-check`: runs README.md's first shell block, as written, as root in
# a new Debian 12 minbase root made by debootstrap, holding a copy of this tree. Passes when
# `make run` answered /readyz (it is then stopped, as Ctrl-C would) and the block ended with
# status 0. Not part of `make test`: it installs the whole toolchain into the new root.
#
# The root: the minbase tarball is made once from the Debian mirror this machine's
# /etc/apt/sources.list* names and kept in $FRESH_CACHE (default /var/cache/ember-fresh);
# /proc, /dev and this machine's /usr/local/go (read-only, as the README asks for Go 1.26) are
# mounted into it and unmounted by a trap. The block runs in a network namespace of its own
# (slirp4netns for the way out), so `make run`'s 8080-8082 and every test's ports are its own.
# /var/cache/ember-e2e (the end-to-end suite's Go builds) is this machine's, seen through an
# overlay whose writes are thrown away: the check does not spend 20 minutes rebuilding Go
# components that do not depend on the machine, nor changes this machine's copy.
#
# Environment: FRESH_CACHE; FRESH_KEEP=1 keeps the root afterwards (it is kept anyway when the
# check fails); FRESH_TIMEOUT (seconds the block may take, default 5400).
set -u
cd "$(dirname "$0")/.." || exit 2
CACHE=${FRESH_CACHE:-/var/cache/ember-fresh}
LIMIT=${FRESH_TIMEOUT:-5400}
E2E_HOST_CACHE=/var/cache/ember-e2e
t_start=$(date +%s)

say() { echo "fresh-check: $*"; }
die() { say "$*"; exit 1; }
[ "$(id -u)" = 0 ] || { say "runs as root (debootstrap, mount, chroot)"; exit 2; }
for t in debootstrap slirp4netns nsenter unshare ip curl git; do
  command -v "$t" >/dev/null || { say "needs $t (make deps-fresh installs it)"; exit 2; }
done
mkdir -p "$CACHE"

# The block: README.md's first ```sh fence, as written.
block=$(awk '/^```sh$/ {f = 1; next} f && /^```$/ {exit} f' README.md)
[ -n "$block" ] || die "README.md has no \`\`\`sh block"
# `make run`'s probe address, as the Makefile gives it.
readyz_addr=$(sed -n 's/.*--health-probe-bind-address \(127\.0\.0\.1:[0-9]*\).*/\1/p' Makefile | head -1)
[ -n "$readyz_addr" ] || die "no --health-probe-bind-address 127.0.0.1:PORT in the Makefile's run target"

# The Debian mirror of this machine: the first bookworm source of /etc/apt/sources.list*.
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
  awk '/^$/ {u = ""} /^URIs:/ {u = $2} /^Suites:/ && / bookworm( |$)/ && u != "" {print u; exit}')
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -nE 's/^deb +(\[[^]]*\] +)?([a-z]+:[^ ]+) +bookworm +.*/\2/p' | head -1)
fi
[ -n "$mirror" ] || die "no bookworm source in /etc/apt/sources.list*"

tarball=$CACHE/minbase-bookworm.tar
if [ ! -s "$tarball" ]; then
  say "debootstrap --variant=minbase bookworm from $mirror (first run; kept as $tarball)"
  boot=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
  if ! debootstrap --variant=minbase bookworm "$boot" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
    tail -20 "$CACHE/debootstrap.log"
    rm -rf --one-file-system "$boot"
    die "debootstrap failed (log: $CACHE/debootstrap.log)"
  fi
  tar -C "$boot" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf --one-file-system "$boot"
  say "minbase root made in $(($(date +%s) - t_start)) s"
fi

RUN=$(mktemp -d "$CACHE/run.XXXXXX")
ROOT=$RUN/root
NSPID=""
SLIRP=""
MOUNTS=()
passed=false

# in_netns PID: PID runs in the check's network namespace (so the check started it).
NETNS=""
in_netns() { [ -n "$NETNS" ] && [ "$(readlink "/proc/$1/ns/net" 2>/dev/null)" = "$NETNS" ]; }
netns_pids() {
  local d p
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    in_netns "$p" && echo "$p"
  done
}

cleanup() {
  local p m i left
  trap - EXIT INT TERM
  # Whatever still runs in the namespace (make run, servers the tests left) was started here.
  if [ -n "$NETNS" ]; then
    for i in 1 2 3 4 5 6 7 8 9 10; do
      left=$(netns_pids)
      [ -z "$left" ] && break
      # shellcheck disable=SC2086,SC2046 # $left is a list of PIDs; the signal is one word
      kill $([ "$i" -gt 5 ] && echo -KILL || echo -TERM) $left 2>/dev/null
      sleep 1
    done
  fi
  [ -n "$SLIRP" ] && kill "$SLIRP" 2>/dev/null
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    m=${MOUNTS[$i]}
    umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null || say "could not unmount $m"
  done
  if grep -qF " $RUN/" /proc/self/mountinfo; then
    say "something is still mounted under $RUN; left as it is"
  elif $passed && [ -z "${FRESH_KEEP:-}" ]; then
    rm -rf --one-file-system "$RUN"
  else
    say "the root is kept in $ROOT (block output: $RUN/block.log)"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mount_in WHAT WHERE [mount options...]: mounts WHAT on $ROOT/WHERE, to be unmounted by the trap.
mount_in() {
  local what=$1 where=$ROOT$2; shift 2
  mkdir -p "$where"
  mount "$@" "$what" "$where" || die "mount $* $what $where failed"
  MOUNTS+=("$where")
}

mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$tarball" || die "cannot unpack $tarball"
# The machine's apt sources (the mirror above, with its updates and security suites).
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
  rm -f "$ROOT/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/*.sources "$ROOT/etc/apt/sources.list.d/"
fi
echo "nameserver 10.0.2.3" >"$ROOT/etc/resolv.conf" # slirp4netns's DNS forwarder
# This tree as git sees it (tracked and untracked files, without what .gitignore leaves out).
mkdir -p "$ROOT/root/ember"
git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null |
  tar -C "$ROOT/root/ember" -xf - || die "cannot copy the tree"
printf '%s\n' "$block" >"$ROOT/root/readme-block.sh"

mount_in proc /proc -t proc
mount_in /dev /dev --rbind
mount --make-rslave "$ROOT/dev"
if [ -d /usr/local/go ]; then
  mount_in /usr/local/go /usr/local/go --bind
  mount -o remount,bind,ro "$ROOT/usr/local/go"
fi
mkdir -p "$RUN/e2e-upper" "$RUN/e2e-work" "$E2E_HOST_CACHE"
mount_in overlay /var/cache/ember-e2e -t overlay \
  -o "lowerdir=$E2E_HOST_CACHE,upperdir=$RUN/e2e-upper,workdir=$RUN/e2e-work"

say "README.md's first shell block, in $ROOT (/root/ember):"
printf '%s\n' "$block" | sed 's/^/    /'
mkfifo "$RUN/go"
: >"$RUN/block.log"
# The namespace's first process waits on the fifo until its network is up, then becomes the
# block's shell, in the root, with a root login's environment.
unshare --net -- bash -c 'read -r _ <"$1"; exec chroot "$2" /usr/bin/env -i HOME=/root TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  timeout -k 30 "$3" bash -c "cd /root/ember && bash /root/readme-block.sh"' \
  _ "$RUN/go" "$ROOT" "$LIMIT" >"$RUN/block.log" 2>&1 &
NSPID=$!
for i in $(seq 1 50); do
  NETNS=$(readlink "/proc/$NSPID/ns/net")
  [ -n "$NETNS" ] && [ "$NETNS" != "$(readlink /proc/self/ns/net)" ] && break
  NETNS=""; sleep 0.1
done
[ -n "$NETNS" ] || die "unshare --net did not start"
slirp4netns --configure --mtu=65520 --disable-host-loopback "$NSPID" tap0 >"$RUN/slirp.log" 2>&1 &
SLIRP=$!
for i in $(seq 1 50); do
  nsenter -t "$NSPID" -n ip -4 route 2>/dev/null | grep -q '^default' && break
  sleep 0.1
done
nsenter -t "$NSPID" -n ip -4 route | grep -q '^default' || { cat "$RUN/slirp.log"; die "slirp4netns gave no route out"; }
nsenter -t "$NSPID" -n ip link set lo up || die "cannot bring up lo in the namespace"
echo go >"$RUN/go"

# Stream the block's output; stop `make run` (the ember-issuer make started, in the namespace)
# once its /readyz answers, as Ctrl-C would.
tail -s 0.5 -n +1 -f --pid="$NSPID" "$RUN/block.log" | sed -u 's/^/fresh: /' &
TAILPID=$!
ready=false
while kill -0 "$NSPID" 2>/dev/null; do
  if ! $ready && nsenter -t "$NSPID" -n curl -fs -o /dev/null --max-time 2 "http://$readyz_addr/readyz"; then
    ready=true
    say "make run answers http://$readyz_addr/readyz after $(($(date +%s) - t_start)) s; stopping it"
    for p in $(netns_pids); do
      [ "$(cat "/proc/$p/comm" 2>/dev/null)" = ember-issuer ] || continue
      [ "$(cat "/proc/$(awk '{print $4}' "/proc/$p/stat")/comm" 2>/dev/null)" = make ] || continue
      kill -INT "$p"
    done
  fi
  sleep 1
done
wait "$NSPID"
rc=$?
wait "$TAILPID" 2>/dev/null
took=$(($(date +%s) - t_start))
$ready || die "make run never answered http://$readyz_addr/readyz (block exit $rc, $took s)"
[ "$rc" -eq 0 ] || die "the block ended with status $rc after $took s"
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$RUN/block.log" | tail -1)
passed=true
say "passed in $took s: make run answered /readyz, make test said \"$last\""
