#!/bin/busybox sh
# shellcheck shell=dash
# shellcheck disable=SC2119,SC2120 # some functions fill "$@" with config.sh's word lists (eval "set -- …"): they take no arguments
# /init of the hypeman-exec guest image: PID 1. It loads the kernel modules the image
# carries, mounts the agent's runtime image (runtime-image layout), the container root
# overlay and the config disk, starts the agent chrooted into the container root
# (restarted with backoff when it dies) and the entrypoint, reaps orphans, and powers off
# when the entrypoint exits.
#
# PID 1 choice: busybox sh stays PID 1 and ends in `wait`. Both the agent supervisor and
# the entrypoint run as its background jobs; ash's `wait` blocks in waitpid(-1), so every
# orphan re-parented to PID 1 is reaped while it waits (and ignored, not being a job). No
# extra reaper binary, and the exit status of the entrypoint is still known.
#
# Every device and mount point is an environment variable with a default. The kernel hands
# unknown `name=value` command-line words to init as environment, and tests point them at
# directories (a directory "device" is bind-mounted instead of mounted). HYPEMAN_DRY_RUN=1
# prints each command that changes something instead of running it.
#
# The image builder (src/host/initrd/InitScript.ts) copies this file as it is, except the
# block of parameters below, which it renders for the image's layout.

export PATH=/sbin:/bin

# >>> parameters: rendered by the image builder >>>
HYPEMAN_PAYLOAD=/.hypeman
HYPEMAN_AGENT_LAUNCHER=/.hypeman/bin/hypeman-exec-agent
HYPEMAN_AGENT_PORT=2222
HYPEMAN_VSOCK_ADDON_PATH=/.hypeman/vsock.node
HYPEMAN_ENTRYPOINT_SHIM=/.hypeman/bin/hypeman-entrypoint
: "${HYPEMAN_ROOTFS_DEVICE:=/dev/vda}"
: "${HYPEMAN_WRITABLE_DEVICE:=/dev/vdb}"
: "${HYPEMAN_CONFIG_DEVICE:=/dev/vdc}"
: "${HYPEMAN_RUNTIME_DEVICE:=none}"
: "${HYPEMAN_RUNTIME_OPTIONS:=ro}"
: "${HYPEMAN_LOWER:=/overlay/lower}"
: "${HYPEMAN_WRITABLE:=/overlay/rw}"
: "${HYPEMAN_NEWROOT:=/overlay/newroot}"
: "${HYPEMAN_CONFIG:=/overlay/config}"
: "${HYPEMAN_CONSOLE:=/dev/console}"
: "${HYPEMAN_NET_IFACE:=eth0}"
: "${HYPEMAN_DEVICE_WAIT:=5}"
: "${HYPEMAN_AGENT:=1}"
: "${HYPEMAN_AGENT_BACKOFF_MAX:=30}"
: "${HYPEMAN_DRY_RUN:=0}"
# <<< parameters <<<

CONTAINER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "hypeman-init: $*"; }

# Seconds since the kernel started, for the log: how long boot took to each step.
uptime_s() {
  read -r up _ </proc/uptime 2>/dev/null || up=unknown
  echo "$up"
}

# Quotes a command for the log, so a dry run shows exactly what would run.
show() {
  out=+
  for a in "$@"; do
    case $a in
      '' | *[!A-Za-z0-9_./:=,@%+-]*) out="$out '$(printf %s "$a" | sed "s/'/'\\\\''/g")'" ;;
      *) out="$out $a" ;;
    esac
  done
  echo "$out"
}

# Everything that changes the system goes through run: a dry run prints it instead.
run() {
  if [ "$HYPEMAN_DRY_RUN" = 1 ]; then
    show "$@"
    return 0
  fi
  "$@"
}

die() {
  log "FATAL: $*"
  [ "$HYPEMAN_DRY_RUN" = 1 ] && exit 1
  sync
  poweroff -f
  exit 1
}

mount_kernel_filesystems() {
  run mkdir -p /proc /sys /dev /run
  run mount -t proc proc /proc || die "cannot mount /proc"
  run mount -t sysfs sysfs /sys || die "cannot mount /sys"
  run mount -t devtmpfs devtmpfs /dev || die "cannot mount /dev"
  run mkdir -p /dev/pts /dev/shm
  run mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts || die "cannot mount /dev/pts"
  run mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm || die "cannot mount /dev/shm"
}

# The console is the VM's serial port: all of init's output, the agent's and the
# entrypoint's goes there.
use_console() {
  [ "$HYPEMAN_DRY_RUN" = 1 ] && return 0
  [ -n "$HYPEMAN_CONSOLE" ] && [ -e "$HYPEMAN_CONSOLE" ] && exec </dev/null >"$HYPEMAN_CONSOLE" 2>&1
  return 0
}

# A kernel with its drivers as modules (a distribution's): the image carries the modules
# for the kernel it was built for, with a list in load order (dependencies first). Another
# kernel finds no list for its release and loads nothing (everything must be built in).
# Once loaded, their files only hold initramfs memory (a megabyte or two): removed.
load_kernel_modules() {
  modules=/lib/modules/$(uname -r)
  [ -f "$modules/load-order" ] || return 0
  while read -r module; do
    run insmod "$modules/$module" || log "cannot load $module; continuing without it"
  done <"$modules/load-order"
  run rm -rf "$modules"
}

wait_for_device() {
  [ "$HYPEMAN_DRY_RUN" = 1 ] && return 0
  i=0
  while [ ! -e "$1" ]; do
    # virtio disks can appear a little after init starts
    i=$((i + 1))
    if [ "$i" -gt $((HYPEMAN_DEVICE_WAIT * 10)) ]; then
      log "$1 did not appear within ${HYPEMAN_DEVICE_WAIT}s"
      return 1
    fi
    sleep 0.1
  done
}

# attach SOURCE DIR OPTIONS: mounts a block device, or bind-mounts a directory (tests);
# OPTIONS start with ro or rw.
attach() {
  run mkdir -p "$2" || return 1
  if [ -d "$1" ]; then
    run mount --bind "$1" "$2" || return 1
    case $3 in ro | ro,*) run mount -o remount,bind,ro "$2" || return 1 ;; esac
    return 0
  fi
  wait_for_device "$1" || return 1
  run mount -o "$3" "$1" "$2"
}

# The runtime-image layout: the agent's runtime (node, its libraries, the bundle) is a
# read-only disk or virtio-pmem device mounted at the payload directory, so its pages are
# page cache the kernel can drop (or, with DAX, the host's), not initramfs held in RAM.
mount_runtime_image() {
  [ "$HYPEMAN_RUNTIME_DEVICE" = none ] && return 0
  attach "$HYPEMAN_RUNTIME_DEVICE" "$HYPEMAN_PAYLOAD" "$HYPEMAN_RUNTIME_OPTIONS" \
    || log "cannot mount the runtime image $HYPEMAN_RUNTIME_DEVICE at $HYPEMAN_PAYLOAD; continuing without the agent"
}

mount_container_root() {
  attach "$HYPEMAN_ROOTFS_DEVICE" "$HYPEMAN_LOWER" ro || die "cannot mount the root filesystem $HYPEMAN_ROOTFS_DEVICE"
  attach "$HYPEMAN_WRITABLE_DEVICE" "$HYPEMAN_WRITABLE" rw || die "cannot mount the writable disk $HYPEMAN_WRITABLE_DEVICE"
  run mkdir -p "$HYPEMAN_WRITABLE/upper" "$HYPEMAN_WRITABLE/work" "$HYPEMAN_NEWROOT"
  run mount -t overlay -o "lowerdir=$HYPEMAN_LOWER,upperdir=$HYPEMAN_WRITABLE/upper,workdir=$HYPEMAN_WRITABLE/work" overlay "$HYPEMAN_NEWROOT" \
    || die "cannot mount the overlay at $HYPEMAN_NEWROOT"
}

# config.sh (see renderGuestConfig) sets ENTRYPOINT, CMD, ENV and VOLUMES as lists of
# shell-quoted words, WORKDIR, and GUEST_IP, GUEST_PREFIX, GUEST_GATEWAY, GUEST_DNS, GUEST_HOSTNAME.
load_config() {
  if attach "$HYPEMAN_CONFIG_DEVICE" "$HYPEMAN_CONFIG" ro; then
    if [ -f "$HYPEMAN_CONFIG/config.sh" ]; then
      # shellcheck source=/dev/null
      . "$HYPEMAN_CONFIG/config.sh"
      log "loaded $HYPEMAN_CONFIG/config.sh"
      return 0
    fi
  fi
  log "no config.sh on $HYPEMAN_CONFIG_DEVICE: running the agent only, without an entrypoint"
}

bind_into_container_root() {
  for d in /proc /sys /dev /dev/pts /dev/shm; do
    run mkdir -p "$HYPEMAN_NEWROOT$d"
    run mount --bind "$d" "$HYPEMAN_NEWROOT$d" || die "cannot bind $d into the container root"
  done
  # The agent's payload, read-only: the container can use it but not change it.
  run mkdir -p "$HYPEMAN_NEWROOT$HYPEMAN_PAYLOAD"
  run mount --bind "$HYPEMAN_PAYLOAD" "$HYPEMAN_NEWROOT$HYPEMAN_PAYLOAD" || die "cannot bind $HYPEMAN_PAYLOAD into the container root"
  run mount -o remount,bind,ro "$HYPEMAN_NEWROOT$HYPEMAN_PAYLOAD" || die "cannot make $HYPEMAN_PAYLOAD read-only"
}

mount_volumes() {
  eval "set -- ${VOLUMES:-}"
  for v in "$@"; do
    # DEVICE:MOUNTPOINT:ro|rw
    device=${v%%:*}
    rest=${v#*:}
    point=${rest%:*}
    access=${rest##*:}
    attach "$device" "$HYPEMAN_NEWROOT$point" "$access" || log "volume $device could not be mounted at $point; continuing without it"
  done
}

configure_network() {
  run ip link set lo up
  [ -n "${GUEST_HOSTNAME:-}" ] && run hostname "$GUEST_HOSTNAME"
  [ -n "${GUEST_IP:-}" ] || return 0
  run ip link set "$HYPEMAN_NET_IFACE" up || log "no network interface $HYPEMAN_NET_IFACE"
  run ip addr add "$GUEST_IP/${GUEST_PREFIX:-24}" dev "$HYPEMAN_NET_IFACE"
  [ -n "${GUEST_GATEWAY:-}" ] && run ip route add default via "$GUEST_GATEWAY" dev "$HYPEMAN_NET_IFACE"
  if [ -n "${GUEST_DNS:-}" ]; then
    resolv=$HYPEMAN_NEWROOT/etc/resolv.conf
    if [ "$HYPEMAN_DRY_RUN" = 1 ]; then
      # shellcheck disable=SC2086 # one word per server, as written below
      show write "$resolv" nameserver $GUEST_DNS
    else
      mkdir -p "$HYPEMAN_NEWROOT/etc"
      rm -f "$resolv" # may be a dangling symlink into the image
      for ns in $GUEST_DNS; do echo "nameserver $ns"; done >"$resolv"
    fi
  fi
  return 0
}

# Whether this boot runs the agent: HYPEMAN_AGENT=0 leaves it out (a guest without exec,
# the baseline of the footprint figures), and without its launcher there is nothing to run.
wants_agent() {
  [ "$HYPEMAN_AGENT" = 0 ] && {
    log "HYPEMAN_AGENT=0: not starting the agent"
    return 1
  }
  [ "$HYPEMAN_DRY_RUN" = 1 ] || [ -x "$HYPEMAN_AGENT_LAUNCHER" ] || {
    log "no agent at $HYPEMAN_AGENT_LAUNCHER: exec is unavailable in this guest"
    return 1
  }
}

# The agent, chrooted into the container root with a clean environment, restarted when it
# dies: 1s, 2s, 4s … up to HYPEMAN_AGENT_BACKOFF_MAX, back to 1s after a run of a minute.
supervise_agent() {
  delay=1
  while :; do
    set -- env -i PATH="$CONTAINER_PATH" HOME=/root
    [ -e "$HYPEMAN_VSOCK_ADDON_PATH" ] && set -- "$@" HYPEMAN_VSOCK_ADDON="$HYPEMAN_VSOCK_ADDON_PATH"
    started=$(date +%s)
    log "starting the agent on vsock port $HYPEMAN_AGENT_PORT at uptime $(uptime_s) s"
    run "$@" chroot "$HYPEMAN_NEWROOT" "$HYPEMAN_AGENT_LAUNCHER" --listen "vsock:$HYPEMAN_AGENT_PORT" --root /
    rc=$?
    [ "$HYPEMAN_DRY_RUN" = 1 ] && return 0
    [ $(($(date +%s) - started)) -ge 60 ] && delay=1
    log "the agent exited with status $rc; restarting it in ${delay}s"
    sleep "$delay"
    delay=$((delay * 2))
    [ "$delay" -gt "$HYPEMAN_AGENT_BACKOFF_MAX" ] && delay=$HYPEMAN_AGENT_BACKOFF_MAX
  done
}

has_entrypoint() {
  eval "set -- ${ENTRYPOINT:-} ${CMD:-}"
  [ "$#" -gt 0 ]
}

# The entrypoint in the container root, with only config.sh's environment, in WORKDIR.
# The shim (entrypoint.sh, in the payload) changes directory and finds the program there.
run_entrypoint() {
  eval "set -- ${ENV:-}"
  set -- env -i PATH="$CONTAINER_PATH" "$@" chroot "$HYPEMAN_NEWROOT" "$HYPEMAN_ENTRYPOINT_SHIM" "${WORKDIR:-/}"
  eval "set -- \"\$@\" ${ENTRYPOINT:-} ${CMD:-}"
  log "starting the entrypoint in ${WORKDIR:-/} at uptime $(uptime_s) s"
  run "$@"
}

power_off() {
  log "$*; powering off"
  run sync
  run poweroff -f
}

main() {
  mount_kernel_filesystems
  use_console
  log "starting (PID $$) at uptime $(uptime_s) s"
  load_kernel_modules
  mount_runtime_image
  mount_container_root
  load_config
  bind_into_container_root
  mount_volumes
  configure_network
  agent=0
  wants_agent && agent=1
  if [ "$HYPEMAN_DRY_RUN" = 1 ]; then
    [ "$agent" = 1 ] && supervise_agent
    has_entrypoint && run_entrypoint
    power_off "dry run done"
    exit 0
  fi
  if [ "$agent" = 1 ]; then supervise_agent & fi
  if has_entrypoint; then
    run_entrypoint &
    entrypoint=$!
    wait "$entrypoint"
    rc=$?
    # wait also returns when a signal arrives: only a gone process is an exit
    while kill -0 "$entrypoint" 2>/dev/null; do
      wait "$entrypoint"
      rc=$?
    done
    power_off "the entrypoint exited with status $rc"
  fi
  # No entrypoint (or poweroff failed): serve exec and reap orphans forever.
  while :; do
    wait
    sleep 1
  done
}

main "$@"
