#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for CI (tests/workflow/test_slurm.py) and for trying
# profiles/slurm by hand. Needs root and Debian's package registry; no systemd.
#
#   .ci/slurm-cluster.sh up      install slurm-wlm and munge (apt-get) if missing, write
#                                /etc/slurm/slurm.conf, start munged, slurmctld and slurmd
#                                (their pids in $IRSDE_SLURM_STATE), wait for the node
#   .ci/slurm-cluster.sh down    stop the three daemons by pid, remove the slurm.conf it wrote
#
# The cluster: one node (this machine) in two partitions, `cpu` (default) and `gpu`, as in the
# shipped profile; no accounting database (so no `sacct` history: the profile's status command
# is `squeue`, and MinJobAge keeps finished jobs visible to it for 300 s); no cgroups
# (proctrack/linuxproc, task/none); select/cons_tres on CPUs. The node declares 32 CPUs and
# 64000 MB (SlurmdParameters=config_overrides), more than a CI machine has, so that the shipped
# profile's requests of a common node (8 CPUs and 16000 MB per training) are accepted as they
# are (they then share the machine's cores; memory is not a consumable). It has no GPU, which is the
# one site edit the CI profile makes.
set -euo pipefail

STATE=${IRSDE_SLURM_STATE:-/tmp/irsde-slurm-ci}
CONF=/etc/slurm/slurm.conf
MARKER="# written by irsde-bench .ci/slurm-cluster.sh"
NODE=$(hostname -s)

log() { echo "slurm-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        return
    fi
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >"$STATE/apt.log" 2>&1 \
        || { tail -20 "$STATE/apt.log" >&2; die "apt-get install slurm-wlm munge failed (full log: $STATE/apt.log)"; }
}

write_conf() {
    if [[ -e $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by this script: this machine has a SLURM configuration of its own; not touching it"
    fi
    mkdir -p "$(dirname "$CONF")" "$STATE/ctld" "$STATE/spool"
    cat >"$CONF" <<EOF
$MARKER (state, logs and pids in $STATE)
ClusterName=irsde-ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=300
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=32 RealMemory=64000 State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
EOF
}

# start NAME COMMAND...: run a daemon in the foreground mode, in the background; record its pid.
start() {
    local name=$1
    shift
    "$@" >>"$STATE/$name.out" 2>&1 &
    echo $! >"$STATE/$name.pid.ours"
    sleep 0.5
    kill -0 "$(cat "$STATE/$name.pid.ours")" 2>/dev/null \
        || { tail -20 "$STATE/$name.out" >&2; die "$name exited at start (see $STATE/$name.out)"; }
}

# running NAME: the pid recorded for NAME is alive and is that daemon (not a reused pid).
running() {
    [[ -f $STATE/$1.pid.ours ]] && [[ $(ps -p "$(cat "$STATE/$1.pid.ours")" -o comm= 2>/dev/null) == "$1" ]]
}

up() {
    mkdir -p "$STATE"
    for daemon in munged slurmctld slurmd; do
        running "$daemon" && die "$daemon is already running (pid $(cat "$STATE/$daemon.pid.ours")): run '$0 down' first"
    done
    local started=$SECONDS
    install_packages
    write_conf
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    [[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    start munged setpriv --reuid=munge --regid=munge --init-groups munged --foreground
    start slurmctld slurmctld -D -c
    start slurmd slurmd -D
    local deadline=$((SECONDS + 60)) state=""
    until [[ $state == idle* ]]; do
        ((SECONDS < deadline)) \
            || { tail -20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2; die "node $NODE not idle after 60 s (state: ${state:-none})"; }
        sleep 1
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1 || true)
    done
    log "up in $((SECONDS - started)) s: node $NODE idle, partitions $(sinfo -h -o %P | tr '\n' ' ')(logs in $STATE)"
}

# stop NAME: SIGTERM the recorded pid, wait up to 30 s, then SIGKILL.
stop() {
    local name=$1 pidfile=$STATE/$1.pid.ours
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile")
    if running "$name"; then
        kill -TERM "$pid"
        for _ in $(seq 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) still running after 30 s: killing it"
            kill -KILL "$pid"
        fi
    fi
    rm -f "$pidfile"
}

down() {
    stop slurmd
    stop slurmctld
    stop munged
    if [[ -e $CONF ]] && grep -qF "$MARKER" "$CONF"; then
        rm -f "$CONF"
    fi
    log "down (logs kept in $STATE)"
}

case ${1:-} in
    up) up ;;
    down) down ;;
    *) die "usage: $0 up|down" ;;
esac
