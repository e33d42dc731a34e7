#!/usr/bin/env bash
# A real one-node Slurm cluster with accounting, for the Slurm backend's tests (Debian 12, run as root).
#
#   cluster.sh install        install Debian's packages without starting their services
#   cluster.sh up SCRATCH     start munged, MariaDB, slurmdbd, slurmctld and slurmd, all under SCRATCH;
#                             prints the SLURM_CONF line to export
#   cluster.sh down SCRATCH   cancel every job, then stop the daemons by their pid files
#
# Nothing goes to /etc: each daemon gets its config, sockets, pid and log files in SCRATCH.
set -euo pipefail

install() {
  local policy=/usr/sbin/policy-rc.d added=0
  if [[ ! -e $policy ]]; then  # the packages' install scripts start their services unless told not to
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends munge slurm-client slurmctld slurmd slurmdbd mariadb-server >/dev/null
  ((added)) && rm -f "$policy"
  return 0
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until the command succeeds
  local seconds=$1 what=$2
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "cluster.sh: $what did not come up within ${seconds}s" >&2
  return 1
}

up() {
  local s host cpus memory
  s=$(realpath -m "$1")
  host=$(hostname -s)
  cpus=$(nproc)
  memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  mkdir -p "$s"/{munge,mysqlrun,log,spool,state}
  chmod 755 "$s" "$s/munge"
  chown munge:munge "$s/munge"
  chown mysql:mysql "$s/mysqlrun"

  [[ -e $s/munge/munge.key ]] || sudo_as munge mungekey -c -k "$s/munge/munge.key"
  chmod 0400 "$s/munge/munge.key"
  sudo_as munge munged --key-file="$s/munge/munge.key" --socket="$s/munge/munge.socket.2" \
    --pid-file="$s/munge/munged.pid" --log-file="$s/munge/munged.log" --seed-file="$s/munge/munged.seed"
  wait_for 10 munged test -S "$s/munge/munge.socket.2"

  if [[ ! -d $s/mysql ]]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$s/mysql" --auth-root-authentication-method=normal >"$s/log/mysql-install.log" 2>&1
  fi
  mariadbd --no-defaults --user=mysql --datadir="$s/mysql" --bind-address=127.0.0.1 --port=33306 \
    --socket="$s/mysqlrun/mysqld.sock" --pid-file="$s/mysqlrun/mysqld.pid" --log-error="$s/mysqlrun/mysqld.log" >/dev/null 2>&1 &
  wait_for 60 MariaDB mariadb --no-defaults -uroot --socket="$s/mysqlrun/mysqld.sock" -e "select 1"
  mariadb --no-defaults -uroot --socket="$s/mysqlrun/mysqld.sock" -e \
    "create user if not exists 'slurm'@'127.0.0.1'; grant all on *.* to 'slurm'@'127.0.0.1'; flush privileges;"

  cat >"$s/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$s/munge/munge.socket.2
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$s/slurmdbd.pid
LogFile=$s/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=33306
StorageUser=slurm
StorageLoc=slurm_acct
CONF
  chmod 600 "$s/slurmdbd.conf"
  cat >"$s/slurm.conf" <<CONF
ClusterName=ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$s/munge/munge.socket.2
StateSaveLocation=$s/state
SlurmdSpoolDir=$s/spool
SlurmctldPidFile=$s/slurmctld.pid
SlurmdPidFile=$s/slurmd.pid
SlurmctldLogFile=$s/log/slurmctld.log
SlurmdLogFile=$s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStoragePass=$s/munge/munge.socket.2
JobAcctGatherType=jobacct_gather/linux
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
KillWait=5
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$s/slurm.conf  # slurmdbd reads slurmdbd.conf beside it
  slurmdbd
  wait_for 30 slurmdbd sacctmgr -i list cluster
  sacctmgr -i list cluster format=cluster -n | grep -qw ci || sacctmgr -i add cluster ci >/dev/null
  slurmctld -f "$s/slurm.conf"
  wait_for 30 slurmctld scontrol ping
  slurmd -f "$s/slurm.conf" -N "$host"
  wait_for 30 "the node" node_idle
  echo "export SLURM_CONF=$s/slurm.conf"
}

node_idle() { sinfo -h -o %t | grep -qx idle; }

sudo_as() {  # sudo_as USER COMMAND...: run a command as a system user (no sudo needed as root)
  local user=$1
  shift
  setpriv --reuid="$user" --regid="$user" --init-groups "$@"
}

stop_pid() {  # stop_pid PIDFILE: SIGTERM the daemon and wait up to 20 s for it to go
  local file=$1 pid
  [[ -s $file ]] || return 0
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  echo "cluster.sh: $file ($pid) did not stop" >&2
}

down() {
  local s
  s=$(realpath -m "$1")
  export SLURM_CONF=$s/slurm.conf
  if [[ -e $SLURM_CONF ]] && scontrol ping >/dev/null 2>&1; then
    scancel --full --quiet --user=root 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [[ -z $(squeue -h 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  for file in slurmd.pid slurmctld.pid slurmdbd.pid mysqlrun/mysqld.pid munge/munged.pid; do
    stop_pid "$s/$file"
  done
}

case "${1:-}" in
  install) install ;;
  up) up "${2:?scratch folder}" ;;
  down) down "${2:?scratch folder}" ;;
  *) echo "usage: $0 install | up SCRATCH | down SCRATCH" >&2; exit 2 ;;
esac
