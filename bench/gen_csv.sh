#!/bin/sh
# gen_csv.sh SAMPLE N - an N-row DL_info.csv in the real format, made by repeating the
# real sample rows under new patient numbers (File_name and Patient_index kept consistent).
set -eu
SAMPLE=$1
N=$2
head -n 1 "$SAMPLE"
tail -n +2 "$SAMPLE" | awk -v n="$N" '
{ rows[NR] = $0 }
END {
	k = 0
	for (rep = 0; k < n; rep++)
		for (i = 1; i <= NR && k < n; i++) {
			line = rows[i]
			split(line, a, ",")
			pid = a[2] + 50 * rep
			if (pid > 999999) pid = pid % 999999 + 1
			fn = sprintf("%06d", pid) substr(a[1], 7)
			rest = substr(line, length(a[1]) + length(a[2]) + 3)
			print fn "," pid "," rest
			k++
		}
}'
