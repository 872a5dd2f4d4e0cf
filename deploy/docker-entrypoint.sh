#!/bin/sh
# lesiond-entrypoint - the container image's command line (installed from
# deploy/docker-entrypoint.sh). Everything works on the volume at /data:
#   serve [serve flags]     (the default) serve /data/lesiond.db; images from
#                           /data/Images_png once that folder exists
#   demo [--patients N] [--seed S] [serve flags]
#                           make a small synthetic DeepLesion in /data/demo once (default
#                           20 patients), import it, embed it, build the graph, serve it
#   ingest, embed, import-vectors, knn, eval, graph, train, backup, restore, help
#                           lesiond's own subcommands (lesiond <command> --help)
#   anything else           run as a command (e.g. sh)
# /data/lesiond.conf, when present, is the settings file (unless --config is given);
# LESIOND_<KEY> variables override it. Serving on all interfaces with no API keys and no
# open access makes an admin key in /data/admin.key (mode 0600) and requires it.
set -eu
DATA=/data
cmd=${1:-serve}
[ $# -gt 0 ] && shift

with_config() { # the volume's settings file, unless the arguments name one
	for a in "$@"; do
		[ "$a" = --config ] && return 1
	done
	[ -f "$DATA/lesiond.conf" ]
}

case $cmd in
serve)
	if with_config "$@"; then set -- --config "$DATA/lesiond.conf" "$@"; fi
	exec lesiond serve --generate-admin-key "$DATA/admin.key" "$@"
	;;
demo)
	DEMO_PATIENTS=${DEMO_PATIENTS:-20}
	DEMO_SEED=${DEMO_SEED:-1}
	while [ $# -ge 2 ]; do
		case $1 in
		--patients) DEMO_PATIENTS=$2 ;;
		--seed) DEMO_SEED=$2 ;;
		*) break ;;
		esac
		shift 2
	done
	export DEMO_PATIENTS DEMO_SEED
	echo "lesiond-entrypoint: demo of $DEMO_PATIENTS patients (seed $DEMO_SEED) in $DATA/demo"
	sh /usr/local/lib/lesiond/demo_db.sh lesiond "$DATA/demo"
	if with_config "$@"; then set -- --config "$DATA/lesiond.conf" "$@"; fi
	exec lesiond serve --db "$DATA/demo/lesiond.db" --images "$DATA/demo/Images_png" \
		--generate-admin-key "$DATA/admin.key" "$@"
	;;
ingest|embed|import-vectors|knn|eval|graph|train|backup|restore)
	if with_config "$@"; then set -- --config "$DATA/lesiond.conf" "$@"; fi
	exec lesiond "$cmd" "$@"
	;;
help|--help|-h)
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exec lesiond help
	;;
*)
	exec "$cmd" "$@"
	;;
esac
