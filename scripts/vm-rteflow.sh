#!/usr/bin/env bash
# Runs a command inside a small QEMU VM booted with Debian's 6.1 kernel, so that DPDK's net_tap
# can create rte_flow rules for real. net_tap implements rte_flow with the kernel's TC (qdisc
# multiq, classifier flower, actions gact/skbedit/mirred, cls_bpf/act_bpf for RSS); the kernels
# our machines run have none of those and cannot load modules, Debian's kernel has them all as
# modules. The VM sees the host's root read-only (9p) under a throw-away tmpfs overlay, so it
# runs the host's own binaries (dpdk-testpmd, udpsieved from a build dir, tc, ip) unchanged.
#
# Usage:
#   scripts/vm-rteflow.sh prepare
#       Installs qemu-system-x86, busybox-static, cpio and kmod with apt-get, downloads (does
#       not install) the kernel package that linux-image-amd64 depends on, extracts it and
#       builds a tiny initramfs, all cached under UDPSIEVE_VM_DIR (default
#       /var/cache/udpsieve-vm). Does nothing when everything is already there.
#   scripts/vm-rteflow.sh check
#       Exits 0 when `prepare` has nothing to do (and `run` can run), else 1 saying what is
#       missing. Never installs or downloads anything.
#   scripts/vm-rteflow.sh run [--timeout SECONDS] [--mem MB] [--out DIR] -- COMMAND...
#       Boots the VM, runs COMMAND there as root in the current directory (read-only: the host's
#       root through 9p; writes land in a tmpfs and vanish), prints its stdout and stderr and
#       exits with its status. COMMAND should write what it produces to $UDPSIEVE_VM_OUT, a
#       writable directory shared with the host: DIR with --out (kept, same path inside and
#       out), otherwise a temp dir removed at the end. Variables UDPSIEVE_* are passed in.
#       Defaults: --timeout 300, --mem 2048.
#
# Exit status of `run`: COMMAND's own; 124 when the VM ran past --timeout; 125 when the VM did
# not boot, its setup failed or it reported no status. Whenever the status is not 0 the temp
# dir keeps the console log, QEMU's messages, the guest's setup log and what COMMAND left in a
# default $UDPSIEVE_VM_OUT, and its path is printed. UDPSIEVE_KEEP_TMP=1 keeps all of it always.
# The guest reads host files as the user running QEMU would: run as root to see everything.
#
# Inside the VM: PID 1 is this script (`__guest`, after the initramfs hands over), 2 vCPUs,
# 256 x 2 MB hugepages mounted at /dev/hugepages, /run and /dev/shm on tmpfs, no network device
# (only lo), IPv6 disabled on new interfaces (so a tap carries only the traffic a test sends),
# the TC modules above loaded. UDPSIEVE_VM=1 tells a command it runs there.
set -euo pipefail

readonly VM_DIR=${UDPSIEVE_VM_DIR:-/var/cache/udpsieve-vm}
readonly PACKAGES=(qemu-system-x86 busybox-static cpio kmod)
# What the initramfs needs to reach the host's root: virtio PCI transport, 9p over virtio, and
# overlayfs for a writable layer on top. Dependencies are resolved with modprobe, so this list
# names only what we use.
readonly INITRD_MODULES=(virtio_pci 9pnet_virtio 9p overlay)
# What net_tap's rte_flow needs: tun for the tap itself; multiq (its root qdisc), prio and
# ingress qdiscs; flower, u32 and bpf classifiers; drop, queue (skbedit), mirred and bpf actions.
readonly GUEST_MODULES=(tun sch_multiq sch_prio sch_ingress cls_flower cls_u32 cls_bpf act_gact
                        act_skbedit act_mirred act_bpf)
readonly GUEST_HUGEPAGES=256
SELF=$(readlink -f "${BASH_SOURCE[0]}")
readonly SELF

say() { printf 'vm-rteflow: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# The initramfs's /init (busybox sh). It only has to reach the host's root: load the virtio and
# 9p modules, mount the host's / read-only (cache=loose: nothing on the host changes under a
# test, and it makes reading binaries fast), put a tmpfs overlay on top so the guest can write
# anywhere, and switch_root into this very script (its path and the job dir come on the kernel
# command line), which does the rest from the full host userland.
# shellcheck disable=SC2016 # expanded by the guest's sh, not here
readonly INIT_SCRIPT='#!/bin/sh
# Applets as commands (only /bin/sh exists as a link yet).
/bin/busybox --install -s /bin
export PATH=/bin
# The kernel found no /dev/console in the cpio: mount devtmpfs and take the console from it.
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
# On failure, say why on the console (the host prints its tail) and power off at once.
fail() { echo "udpsieve-vm initramfs: $*"; echo o >/proc/sysrq-trigger; sleep 30; }
# Modules in dependency order, as modprobe --show-depends listed them when building this.
while read -r m; do insmod "/modules/$m" || fail "insmod $m failed"; done </modules/order
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower ||
  fail "cannot mount the host root over 9p"
# Writes (e.g. /lib/modules, a test scratch file) go to RAM and vanish at power-off.
mount -t tmpfs -o mode=0755 tmpfs /rw && mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
  fail "cannot mount the overlay"
# What to run next and where the job is, from the kernel command line.
run= job=
for arg in $(cat /proc/cmdline); do
  case $arg in udpsieve.run=*) run=${arg#*=} ;; udpsieve.job=*) job=${arg#*=} ;; esac
done
[ -n "$run" ] && [ -n "$job" ] || fail "udpsieve.run= or udpsieve.job= missing"
# Keep /dev (our console lives there); the next stage mounts proc itself.
mount --move /dev /newroot/dev
umount /proc
exec switch_root /newroot /bin/bash "$run" __guest "$job"
'

# ---------------------------------------------------------------------------------------------
# prepare / check

kernel_version() { cat "$VM_DIR/kernel/VERSION" 2>/dev/null || true; }

# The initramfs is rebuilt whenever what goes into it changes (this script's init, the code
# that builds it, the module list, the kernel, busybox), so editing them needs no manual cache
# clean-up.
initrd_stamp() {
  { printf '%s\n' "$INIT_SCRIPT" "$(declare -f build_initrd)" "${INITRD_MODULES[*]}" "$(kernel_version)"
    sha256sum /bin/busybox 2>/dev/null || true; } | sha256sum | cut -d' ' -f1
}

missing_packages() {
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

# Prints what is missing, one item a line; nothing when `run` can go.
what_is_missing() {
  missing_packages
  local kver
  kver=$(kernel_version)
  if [[ -z $kver ]]; then
    echo "kernel (under $VM_DIR/kernel)"
  elif [[ ! -f $VM_DIR/kernel/boot/vmlinuz-$kver ]]; then
    echo "kernel image $VM_DIR/kernel/boot/vmlinuz-$kver"
  fi
  if [[ ! -f $VM_DIR/initrd.img || "$(cat "$VM_DIR/initrd.stamp" 2>/dev/null)" != "$(initrd_stamp)" ]]; then
    echo "initramfs $VM_DIR/initrd.img (missing or out of date)"
  fi
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  say "installing: ${missing[*]}"
  # apt-get update first, as setup.sh does: on a fresh machine the lists may be stale or empty.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The kernel package linux-image-amd64 currently points at (linux-image-6.1.0-NN-amd64).
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

fetch_kernel() {
  [[ -n $(kernel_version) && -f $VM_DIR/kernel/boot/vmlinuz-$(kernel_version) ]] && return 0
  local pkg work kver
  pkg=$(kernel_package)
  if [[ -z $pkg ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    pkg=$(kernel_package)
  fi
  [[ -n $pkg ]] || die "apt-cache finds no kernel package behind linux-image-amd64"
  say "downloading $pkg (not installed: only its files are used)"
  work=$(mktemp -d "$VM_DIR/.kernel-XXXXXX")
  # Download as root without apt's _apt sandbox user, which could not write into our dir.
  if ! (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$pkg"); then
    # Stale package lists name a version the mirror no longer has: refresh once and retry.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    pkg=$(kernel_package)
    (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$pkg")
  fi
  dpkg-deb -x "$work"/*.deb "$work/root"
  kver=$(ls "$work/root/lib/modules")
  [[ -f $work/root/boot/vmlinuz-$kver ]] || die "$pkg holds no /boot/vmlinuz-$kver"
  # The .deb ships no modules.dep (postinst would run depmod); modprobe needs it, here and in
  # the guest.
  depmod -b "$work/root" "$kver"
  echo "$kver" >"$work/root/VERSION"
  rm -rf "$VM_DIR/kernel" "$work"/*.deb
  mv "$work/root" "$VM_DIR/kernel"
  rmdir "$work"
  say "kernel $kver in $VM_DIR/kernel ($(du -sh "$VM_DIR/kernel" | cut -f1))"
}

build_initrd() {
  local stamp
  stamp=$(initrd_stamp)
  [[ -f $VM_DIR/initrd.img && "$(cat "$VM_DIR/initrd.stamp" 2>/dev/null)" == "$stamp" ]] && return 0
  local kver work line mod count=0
  kver=$(kernel_version)
  work=$(mktemp -d "$VM_DIR/.initrd-XXXXXX")
  mkdir -p "$work/root/bin" "$work/root/dev" "$work/root/proc" "$work/root/modules"
  # Static busybox: the initramfs holds no libc, and busybox gives sh, mount, insmod, switch_root.
  cp /bin/busybox "$work/root/bin/busybox"
  ldd "$work/root/bin/busybox" >/dev/null 2>&1 && die "/bin/busybox is not static (install busybox-static)"
  ln -s busybox "$work/root/bin/sh"  # the interpreter of /init, before busybox --install runs
  printf '%s' "$INIT_SCRIPT" >"$work/root/init"
  chmod 755 "$work/root/init"
  : >"$work/root/modules/order"
  # modprobe --show-depends lists each module after its dependencies ("insmod PATH"), or
  # "builtin NAME" for what is compiled in; insmod them in that order, each once.
  for mod in "${INITRD_MODULES[@]}"; do
    while read -r line; do
      case $line in
        insmod\ *)
          line=${line#insmod }
          line=${line%% *}
          local base
          base=$(basename "$line")
          grep -qxF "$base" "$work/root/modules/order" && continue
          case $base in
            *.ko) cp "$line" "$work/root/modules/$base" ;;
            *) die "compressed module $base: teach build_initrd to unpack it for busybox insmod" ;;
          esac
          echo "$base" >>"$work/root/modules/order"
          count=$((count + 1))
          ;;
      esac
    done < <(modprobe -d "$VM_DIR/kernel" -S "$kver" --show-depends "$mod")
  done
  (cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.img"
  mv "$work/initrd.img" "$VM_DIR/initrd.img"
  echo "$stamp" >"$VM_DIR/initrd.stamp"
  say "initramfs $VM_DIR/initrd.img: busybox + $count modules: $(paste -sd' ' "$work/root/modules/order")"
  rm -rf "$work"
}

cmd_prepare() {
  [[ $# -eq 0 ]] || die "usage: $0 prepare"
  local missing
  missing=$(what_is_missing)
  if [[ -z $missing ]]; then
    say "everything present in $VM_DIR (kernel $(kernel_version))"
    return 0
  fi
  install_packages
  as_root mkdir -p "$VM_DIR"
  # One prepare at a time (two test runs starting together would race on the same files).
  exec 9>"$VM_DIR/.lock"
  flock 9
  # Work dirs are ours while we hold the lock: leftovers of an interrupted run go, and so do
  # ours if this one fails half-way.
  trap 'rm -rf "$VM_DIR"/.kernel-* "$VM_DIR"/.initrd-*' EXIT
  rm -rf "$VM_DIR"/.kernel-* "$VM_DIR"/.initrd-*
  fetch_kernel
  build_initrd
  missing=$(what_is_missing)
  [[ -z $missing ]] || die "still missing after prepare: $missing"
  say "ready: kernel $(kernel_version), initramfs $VM_DIR/initrd.img"
}

cmd_check() {
  local missing
  missing=$(what_is_missing)
  if [[ -n $missing ]]; then
    say "not prepared (run: $SELF prepare); missing:"
    while read -r line; do echo "  $line"; done <<<"$missing" >&2
    return 1
  fi
  say "ready: kernel $(kernel_version) in $VM_DIR"
}

# ---------------------------------------------------------------------------------------------
# run (host side)

cmd_run() {
  local timeout_s=300 mem=2048 out=
  while [[ $# -gt 0 ]]; do
    case $1 in
      --timeout) timeout_s=${2:?}; shift 2 ;;
      --mem) mem=${2:?}; shift 2 ;;
      --out) out=${2:?}; shift 2 ;;
      --) shift; break ;;
      *) die "usage: $0 run [--timeout SECONDS] [--mem MB] [--out DIR] -- COMMAND..." ;;
    esac
  done
  [[ $# -gt 0 ]] || die "usage: $0 run [--timeout SECONDS] [--mem MB] [--out DIR] -- COMMAND..."
  [[ $timeout_s =~ ^[0-9]+$ && $mem =~ ^[0-9]+$ ]] || die "--timeout and --mem take whole numbers"
  local missing
  missing=$(what_is_missing)
  if [[ -n $missing ]]; then
    say "not prepared (run: $SELF prepare); missing: $(echo "$missing" | paste -sd';')"
    exit 125
  fi

  local kver tmp job
  kver=$(kernel_version)
  # Everything the host writes for this run lives here: the job dir shared with the guest, the
  # console and QEMU logs.
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/udpsieve-vm-XXXXXX")
  job=$tmp/job
  mkdir -p "$job"
  if [[ -n $out ]]; then
    mkdir -p "$out"
    out=$(readlink -f "$out")
  else
    out=$job/out
    mkdir -p "$out"
  fi
  # Paths travel on the kernel command line, which splits on blanks.
  local p
  for p in "$SELF" "$job" "$out"; do
    [[ $p != *[[:space:]]* ]] || die "path with blanks cannot go to the VM: $p"
  done

  # The job: how to run COMMAND in the guest, as shell assignments the guest sources. The guest
  # mounts the job dir (and --out DIR) at the same path as on the host, so paths agree.
  {
    printf 'VM_KERNEL_ROOT=%q\n' "$VM_DIR/kernel"
    printf 'VM_CWD=%q\n' "$PWD"
    printf 'VM_OUT=%q\n' "$out"
    printf 'VM_OUT_SHARED=%q\n' "$([[ $out == "$job/out" ]] && echo 0 || echo 1)"
    local var
    for var in $(compgen -e); do
      [[ $var == UDPSIEVE_* ]] && printf 'export %s=%q\n' "$var" "${!var}"
    done
    printf 'export UDPSIEVE_VM=1 UDPSIEVE_VM_OUT=%q\n' "$out"
    printf 'VM_ARGV=('
    printf '%q ' "$@"
    printf ')\n'
  } >"$job/job.env"

  # shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
  local qemu=(
    qemu-system-x86_64
    # /dev/kvm on our machines is a paravirtual KVM that cannot run a stock kernel: use TCG,
    # one host thread per vCPU.
    -accel tcg,thread=multi -cpu max -smp 2 -m "$mem"
    # No default devices (VGA, NIC, drives); the serial console goes to a file we keep on
    # failure; poweroff or a kernel panic (panic=-1) end QEMU instead of rebooting.
    -nodefaults -display none -no-reboot -serial "file:$tmp/console.log"
    -kernel "$VM_DIR/kernel/boot/vmlinuz-$kver" -initrd "$VM_DIR/initrd.img"
    # init_on_alloc=0: Debian's kernel zeroes every page it hands out, which makes reserving
    # the hugepages take seconds under TCG (hugetlbfs still zeroes pages when they are mapped).
    -append "console=ttyS0 quiet panic=-1 init_on_alloc=0 udpsieve.run=$SELF udpsieve.job=$job"
    # The host's root, read-only; multidevs=remap keeps inode numbers unique across the host's
    # mounts.
    -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
    # The job dir, writable: job.env in, the command's output and status back.
    -fsdev "local,id=job,path=$job,security_model=none"
    -device virtio-9p-pci,fsdev=job,mount_tag=job
  )
  if [[ $out != "$job/out" ]]; then
    # shellcheck disable=SC2054
    qemu+=(-fsdev "local,id=out,path=$out,security_model=none"
           -device virtio-9p-pci,fsdev=out,mount_tag=out)
  fi

  local start qemu_pid rc=0
  start=$(now)
  # In the background so that a signal to this script (ctest's timeout, ^C) reaches the trap
  # at once; timeout(1) passes it on to QEMU.
  timeout --kill-after=10 "$timeout_s" "${qemu[@]}" </dev/null >"$tmp/qemu.log" 2>&1 &
  qemu_pid=$!
  trap 'kill "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null; say "interrupted; logs in $tmp"; exit 130' INT TERM
  wait "$qemu_pid" || rc=$?
  trap - INT TERM
  local elapsed
  elapsed=$(seconds_since "$start")

  # What the command printed, whatever happened (it was written to the share as it ran).
  [[ -f $job/stdout ]] && cat "$job/stdout"
  [[ -f $job/stderr ]] && cat "$job/stderr" >&2

  local status
  status=$(cat "$job/status" 2>/dev/null || true)
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    say "timed out after ${timeout_s} s"
    status=124
  elif [[ ! $status =~ ^[0-9]+$ ]]; then
    say "the VM reported no status (QEMU exit $rc)"
    status=125
  fi
  if [[ -f $job/times ]]; then
    # Guest uptimes at ready and at the command's end (see guest_main).
    local ready done_at
    read -r ready done_at <"$job/times" || true
    say "boot to command ${ready:-?} s, command $(awk -v a="${ready:-0}" -v b="${done_at:-0}" 'BEGIN { printf "%.1f", b - a }') s, total ${elapsed} s, status $status"
  else
    say "total ${elapsed} s, status $status"
  fi
  if [[ $status -ne 0 ]]; then
    if [[ $status -ge 124 ]]; then
      [[ -s $job/guest.log ]] && { say "guest setup log:"; sed 's/^/  /' "$job/guest.log" >&2; }
      [[ -s $tmp/qemu.log ]] && { say "QEMU said:"; sed 's/^/  /' "$tmp/qemu.log" >&2; }
      say "console log tail:"
      tail -n 30 "$tmp/console.log" 2>/dev/null | sed 's/^/  /' >&2 || true
    fi
  fi
  if [[ -n ${UDPSIEVE_KEEP_TMP:-} ]]; then
    say "kept $tmp"
  elif [[ $status -ne 0 ]]; then
    # Keep the logs (console.log, qemu.log, job/guest.log) and what COMMAND left in
    # $UDPSIEVE_VM_OUT (same path as in the guest); drop the rest.
    rm -f "$job/job.env" "$job/stdout" "$job/stderr" "$job/status" "$job/times"
    [[ -n $(ls -A "$job/out" 2>/dev/null) ]] || rmdir "$job/out" 2>/dev/null || true
    say "console log: $tmp/console.log; guest log and COMMAND's output under $job"
  else
    rm -rf "$tmp"
  fi
  exit "$status"
}

# ---------------------------------------------------------------------------------------------
# __guest: PID 1 inside the VM, on the host's userland (read-only 9p + tmpfs overlay).

guest_main() {
  local job=$1
  set +e
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C
  export TERM=dumb
  uptime_s() { cut -d' ' -f1 /proc/uptime; }
  poweroff_now() {
    sync
    # sysrq 'o' powers off at once (there is no init system to ask); -no-reboot makes a panic
    # end QEMU too, should this fail.
    echo o >/proc/sysrq-trigger
    sleep 60
  }
  abort() {
    echo "udpsieve-vm guest: $*" >/dev/console
    [[ -w $job ]] && echo "setup failed: $*" >>"$job/guest.log"
    poweroff_now
  }
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mkdir -p /dev/pts /dev/shm /dev/hugepages
  mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
  # What udev would add to devtmpfs: bash's <(...) needs /dev/fd.
  ln -sfn /proc/self/fd /dev/fd
  ln -sfn /proc/self/fd/0 /dev/stdin
  ln -sfn /proc/self/fd/1 /dev/stdout
  ln -sfn /proc/self/fd/2 /dev/stderr
  mount -t tmpfs -o mode=1777 tmpfs /dev/shm
  # /run is the host's otherwise (through the overlay); DPDK keeps its runtime dir there.
  mount -t tmpfs -o mode=0755 tmpfs /run
  # The job share at the same path as on the host (no cache: the host must see every write).
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 job "$job" ||
    abort "cannot mount the job share at $job"
  exec >>"$job/guest.log" 2>&1
  echo "[$(uptime_s)] host root and job share mounted"
  # shellcheck source=/dev/null
  source "$job/job.env" || abort "cannot read $job/job.env"
  if [[ $VM_OUT_SHARED == 1 ]]; then
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out "$VM_OUT" ||
      abort "cannot mount the output share at $VM_OUT"
  fi

  # Modules come from the extracted kernel package; /lib is /usr/lib on Debian 12, so this is
  # /usr/lib/modules/VERSION, where modprobe looks.
  local kver mod
  kver=$(uname -r)
  mkdir -p /lib/modules
  ln -sfn "$VM_KERNEL_ROOT/lib/modules/$kver" "/lib/modules/$kver"
  # One modprobe for all (each run reads modules.dep over 9p); on failure, one at a time to
  # name the culprit.
  if ! modprobe -a "${GUEST_MODULES[@]}"; then
    for mod in "${GUEST_MODULES[@]}"; do modprobe "$mod" || abort "modprobe $mod failed"; done
  fi
  echo "[$(uptime_s)] modules loaded: ${GUEST_MODULES[*]}"

  # DPDK's memory: 512 MB of 2 MB pages, leaving the rest of the guest's RAM (2 GB by default)
  # to the kernel and the overlay's tmpfs.
  echo "$GUEST_HUGEPAGES" >/proc/sys/vm/nr_hugepages
  [[ $(cat /proc/sys/vm/nr_hugepages) -eq $GUEST_HUGEPAGES ]] ||
    abort "reserved only $(cat /proc/sys/vm/nr_hugepages) of $GUEST_HUGEPAGES hugepages"
  mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages || abort "cannot mount hugetlbfs"
  # A new interface would otherwise send router solicitations, MLD reports and DAD probes,
  # which a tap hands to DPDK as received packets. Only interfaces created from now on (lo
  # keeps ::1); a test wanting IPv6 on one re-enables it there (net.ipv6.conf.IFACE.disable_ipv6=0).
  sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  # Loopback for tests that talk to local sockets; a hostname that says where logs came from.
  ip link set lo up
  hostname udpsieve-vm

  # COMMAND in a child (PID 1 must stay to report), its output straight into the share so the
  # host has it even after a timeout; then the status, written whole by a rename, and off.
  local ready status
  ready=$(uptime_s)
  echo "[$ready] running in $VM_CWD: ${VM_ARGV[*]}"
  ( cd "$VM_CWD" && exec "${VM_ARGV[@]}" ) </dev/null >"$job/stdout" 2>"$job/stderr"
  status=$?
  echo "$ready $(uptime_s)" >"$job/times"
  echo "[$(uptime_s)] exit status $status"
  echo "$status" >"$job/status.tmp" && mv "$job/status.tmp" "$job/status"
  poweroff_now
}

case ${1:-} in
  prepare) shift; cmd_prepare "$@" ;;
  check) shift; cmd_check "$@" ;;
  run) shift; cmd_run "$@" ;;
  __guest) shift; guest_main "$@" ;;
  *) die "usage: $0 prepare | check | run [--timeout SECONDS] [--mem MB] [--out DIR] -- COMMAND..." ;;
esac
