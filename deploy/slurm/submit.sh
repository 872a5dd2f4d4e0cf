#!/bin/sh
# submit.sh N - submit a lesiond batch kNN job to Slurm: an array of N x GALLERY_SHARDS
# tasks (knn.sbatch), then the merge, which starts only when every task succeeded
# (--dependency=afterok). Set LESIOND, DB, QUERIES, OUT, K, SPACE, GALLERY_SHARDS and
# KNN_ARGS as knn.sbatch describes; SBATCH_ARGS for site options (partition, account,
# time). Prints the two job ids.
set -eu
N=${1:?usage: submit.sh QUERY_SHARDS}
G=${GALLERY_SHARDS:-1}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array="0-$((N * G - 1))" \
	--export=ALL,KNN_SHARDS="$N" "$here/knn.sbatch")
array=${array%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency="afterok:$array" \
	--export=ALL,KNN_MERGE=1 "$here/knn.sbatch")
merge=${merge%%;*}
echo "array $array merge $merge"
