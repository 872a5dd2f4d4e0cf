#!/bin/sh
# slurm.sh - deploy/slurm/knn.sbatch on a real Slurm: munged, one slurmctld and one
# slurmd on 127.0.0.1, all started here with their state in this test's directory and
# stopped at the end. A 4-task array (submit.sh 4: array + merge with afterok) must give
# the unsharded run's files byte for byte; then a 2 x 2 grid with a filter. When Slurm
# cannot run here (or LSD_TEST_NO_SLURM=1), the test says exactly why and runs the same knn.sbatch commands under
# GNU parallel (or xargs -P) instead.
. "$(dirname "$0")/lib.sh"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
SB="$(cd "$(dirname "$0")/../../deploy/slurm" && pwd)"
DB="$T_DIR/lesiond.db"
S="$T_DIR/slurm"
mkdir -p "$S"
"$LESIOND" ingest --csv "$LSD_SHARED_DATA/DL_info_sample.csv" --db "$DB" > /dev/null
$PY - "$T_DIR" <<'PY'
import random, struct, sys
random.seed(3)
d = sys.argv[1]
with open(d + "/v.fvecs", "wb") as f, open(d + "/ids.txt", "w") as ids:
    for i in range(1, 261):
        f.write(struct.pack("<i", 32) + struct.pack("<32f", *[random.gauss(0, 1) for _ in range(32)]))
        ids.write("%d\n" % i)
with open(d + "/q.fvecs", "wb") as f:
    for i in range(2003):
        f.write(struct.pack("<i", 32) + struct.pack("<32f", *[random.gauss(0, 1) for _ in range(32)]))
PY
check "import-vectors" "$LESIOND" import-vectors --space builtin --ids "$T_DIR/ids.txt" --vectors "$T_DIR/v.fvecs" --db "$DB"
"$LESIOND" knn --db "$DB" --queries "$T_DIR/q.fvecs" --k 10 --quiet --out "$T_DIR/ref" 2> /dev/null
"$LESIOND" knn --db "$DB" --queries "$T_DIR/q.fvecs" --k 10 --quiet --type lung,liver,bone --out "$T_DIR/reff" 2> /dev/null
check "unsharded reference written" test -s "$T_DIR/ref.ids.npy" -a -s "$T_DIR/reff.ids.npy"

PIDS=""
stop_all() {
	for p in $PIDS; do kill -TERM "$p" 2> /dev/null; done
	for p in $PIDS; do
		i=0
		while kill -0 "$p" 2> /dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		kill -KILL "$p" 2> /dev/null
	done
	PIDS=""
}
trap 'stop_all; if [ -n "$SERVER_PID" ]; then kill -9 $SERVER_PID 2>/dev/null; fi' EXIT
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
why=""
wait_for() { # seconds, description, command...
	t=$1; d=$2; shift 2; i=0
	until "$@" > /dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt $((t * 5)) ] && { why="$d"; return 1; }; sleep 0.2
	done
}

start_slurm() {
	for b in munged mungekey slurmctld slurmd sbatch squeue sinfo; do
		command -v $b > /dev/null || { why="$b is not installed (tools/deps.sh installs slurm-wlm and munge)"; return 1; }
	done
	[ "$(id -u)" = 0 ] || { why="the test must run as root to start slurmd"; return 1; }
	mkdir -p "$S/munge" "$S/ctld" "$S/spool" && chmod 700 "$S/munge"
	mungekey -c -k "$S/munge/munge.key" > /dev/null 2>&1 ||
		{ why="mungekey could not make a key"; return 1; }
	munged --foreground --force --key-file="$S/munge/munge.key" --socket="$S/munge/munge.sock" \
		--pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" \
		--seed-file="$S/munge/munged.seed" > "$S/munged.out" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 10 "munged did not start: $(tail -n 3 "$S/munged.out" "$S/munge/munged.log" 2>/dev/null | tr '\n' ' ')" test -S "$S/munge/munge.sock" || return 1
	host=$(hostname -s)
	cat > "$S/slurm.conf" <<CONF
ClusterName=lesiondtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/slurmctld.log
SlurmdLogFile=$S/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=600
NodeName=lsdnode NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=lsdnode Default=YES MaxTime=INFINITE State=UP
CONF
	export SLURM_CONF="$S/slurm.conf"
	slurmctld -D -i -f "$S/slurm.conf" > "$S/slurmctld.out" 2>&1 &
	PIDS="$PIDS $!"
	slurmd -D -N lsdnode -f "$S/slurm.conf" > "$S/slurmd.out" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 60 "the node never became idle: $(tail -n 4 "$S/slurmctld.log" "$S/slurmd.log" "$S/slurmctld.out" "$S/slurmd.out" 2>/dev/null | tr '\n' ' ')" \
		sh -c 'sinfo -h -N -o %t | grep -q idle' || return 1
}

# the same shard and merge commands as the array, without Slurm
run_fallback() { # n g out [knn args]
	n=$1; g=$2; o=$3; shift 3
	if command -v parallel > /dev/null; then runner="GNU parallel"; else runner="xargs -P"; fi
	echo "# running the array's $((n * g)) tasks under $runner instead"
	if command -v parallel > /dev/null; then
		seq 0 $((n * g - 1)) | LESIOND="$LESIOND" DB="$DB" QUERIES="$T_DIR/q.fvecs" OUT="$o" K=10 \
			GALLERY_SHARDS=$g KNN_SHARDS=$n KNN_ARGS="$*" parallel -j 4 'SLURM_ARRAY_TASK_ID={} sh '"$SB"'/knn.sbatch'
	else
		seq 0 $((n * g - 1)) | LESIOND="$LESIOND" DB="$DB" QUERIES="$T_DIR/q.fvecs" OUT="$o" K=10 \
			GALLERY_SHARDS=$g KNN_SHARDS=$n KNN_ARGS="$*" xargs -P 4 -I{} env SLURM_ARRAY_TASK_ID={} sh "$SB/knn.sbatch"
	fi
	LESIOND="$LESIOND" DB="$DB" QUERIES="$T_DIR/q.fvecs" OUT="$o" K=10 KNN_MERGE=1 sh "$SB/knn.sbatch"
}

run_slurm() { # n g out [knn args]
	n=$1; g=$2; o=$3; shift 3
	ids=$(cd "$S" && LESIOND="$LESIOND" DB="$DB" QUERIES="$T_DIR/q.fvecs" OUT="$o" K=10 GALLERY_SHARDS=$g \
		KNN_ARGS="$*" sh "$SB/submit.sh" "$n") || { echo "submit failed: $ids"; return 1; }
	echo "# submitted: $ids"
	merge=${ids##* }
	wait_for 120 "job $merge did not finish: $(squeue -h 2>&1 | head -n 5 | tr '\n' ' ')" \
		sh -c "[ -z \"\$(squeue -h -j $merge 2>/dev/null)\" ] && test -e '$o.knn.json'"
}

if [ -n "${LSD_TEST_NO_SLURM:-}" ]; then
	why="LSD_TEST_NO_SLURM is set"
	slurm_ok=0
elif start_slurm; then
	slurm_ok=1
else
	slurm_ok=0
fi
if [ $slurm_ok = 1 ]; then
	ok "Slurm started: munged, slurmctld and slurmd on 127.0.0.1 ($(sinfo -h -o '%P %D %t' | head -n 1))"
	t0=$(date +%s)
	run_slurm 4 1 "$T_DIR/out4"
	check "Slurm: 4-task array + afterok merge = unsharded, ids byte for byte ($(($(date +%s) - t0)) s)" cmp "$T_DIR/ref.ids.npy" "$T_DIR/out4.ids.npy"
	check "Slurm: distances byte for byte" cmp "$T_DIR/ref.distances.npy" "$T_DIR/out4.distances.npy"
	check "Slurm: 4 array tasks ran" test "$(ls "$S"/slurm-*_[0-9].out 2> /dev/null | wc -l)" = 4
	check "Slurm: the merge removed the shard files" test -z "$(ls "$T_DIR" | grep 'out4.shard-')"
	run_slurm 2 2 "$T_DIR/outg" --type lung,liver,bone
	check "Slurm: 2 x 2 grid (query x gallery shards) with a filter = unsharded filtered" sh -c "cmp '$T_DIR/reff.ids.npy' '$T_DIR/outg.ids.npy' && cmp '$T_DIR/reff.distances.npy' '$T_DIR/outg.distances.npy'"
	# a failing task: the merge must not run (afterok)
	ids=$(cd "$S" && LESIOND="$LESIOND" DB="$T_DIR/nope.db" QUERIES="$T_DIR/q.fvecs" OUT="$T_DIR/outbad" K=10 sh "$SB/submit.sh" 2)
	merge=${ids##* }
	wait_for 60 "x" sh -c "squeue -h -j $merge -o %r 2>/dev/null | grep -q DependencyNeverSatisfied || [ -z \"\$(squeue -h -j $merge 2>/dev/null)\" ]"
	check "Slurm: a failed task keeps the merge from running (afterok)" test ! -e "$T_DIR/outbad.ids.npy"
	scancel "$merge" 2> /dev/null
	if [ $T_FAIL != 0 ]; then
		for f in slurmctld.log slurmd.log; do echo "--- $f"; tail -n 15 "$S/$f"; done
		cat "$S"/slurm-*.out 2> /dev/null | tail -n 20
	fi
else
	echo "# SLURM UNAVAILABLE: $why"
	ok "Slurm could not run here (reason above); the GNU parallel fallback follows"
	run_fallback 4 1 "$T_DIR/out4"
	check "fallback: 4 shards + merge = unsharded, ids byte for byte" cmp "$T_DIR/ref.ids.npy" "$T_DIR/out4.ids.npy"
	check "fallback: distances byte for byte" cmp "$T_DIR/ref.distances.npy" "$T_DIR/out4.distances.npy"
	run_fallback 2 2 "$T_DIR/outg" --type lung,liver,bone
	check "fallback: 2 x 2 grid with a filter = unsharded filtered" sh -c "cmp '$T_DIR/reff.ids.npy' '$T_DIR/outg.ids.npy' && cmp '$T_DIR/reff.distances.npy' '$T_DIR/outg.distances.npy'"
fi
stop_all
finish
