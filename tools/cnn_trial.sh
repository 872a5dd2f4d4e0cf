#!/bin/sh
# cnn_trial.sh LESIOND SEED DIR [PATIENTS] - one seed of the lesion network's held-out trial
# (docs/cnn_preregistration.md): generate the demo (DEMO_SEED=SEED, PATIENTS patients,
# default 150) into DIR with tools/demo_db.sh, then with train+val labels (test held out)
# train the projection (--from builtin) and the CNN (--from images, the defaults), one
# thread each, and evaluate builtin, projection and CNN once on the test split
# (`lesiond eval --truth`). Prints every figure, the wall / CPU time of each training
# and the load average before and after it. Run it niced; the machine is shared.
# CNN_OPTS (optional, split on spaces) is appended to the CNN's train command, e.g.
# CNN_OPTS="--epochs 6"; the pre-registration names it when a trial uses it.
set -eu
L=$1
SEED=$2
DIR=$3
PAT=${4:-150}
TOOLS=$(cd "$(dirname "$0")" && pwd)
DB=$DIR/lesiond.db
GT=$DIR/ground_truth.csv
echo "== seed $SEED, $PAT patients, CNN options: ${CNN_OPTS:-(defaults)}, $(date -u +%H:%M:%S) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
DEMO_SEED=$SEED DEMO_PATIENTS=$PAT sh "$TOOLS/demo_db.sh" "$L" "$DIR"
echo "== eval builtin"
"$L" eval --space builtin --truth "$GT" --db "$DB"
for what in proj cnn; do
	if [ "$what" = proj ]; then
		set -- --from builtin
	else
		# shellcheck disable=SC2086 # CNN_OPTS is a list of options
		set -- --from images --images "$DIR/Images_png" ${CNN_OPTS:-}
	fi
	echo "== train $what, $(date -u +%H:%M:%S) UTC, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	/usr/bin/time -f "time $what: %e s wall, %U s user, %S s sys" \
		"$L" train "$@" --to "$what" --labels "$GT" --force --threads 1 --db "$DB"
	echo "== trained $what, $(date -u +%H:%M:%S) UTC, load after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "== eval $what"
	"$L" eval --space "$what" --truth "$GT" --db "$DB"
done
echo "== done seed $SEED, $(date -u +%H:%M:%S) UTC"
