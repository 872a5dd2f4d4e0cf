/* store_debug.c - LSD_DEBUG_TX_PAUSE_MS, a test-only hook that holds a write
 * transaction open half way through its rows, so that crash tests (tests/e2e/crash.sh)
 * can kill -9 inside it and check that nothing of it survives. Off unless the variable
 * is set; when LSD_DEBUG_TX_PAUSE_FILE is set too, that file is created at the pause (the
 * test's signal that the process is inside the transaction). */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void store_debug_pause(const char *where)
{
	const char *v = getenv("LSD_DEBUG_TX_PAUSE_MS"), *f = getenv("LSD_DEBUG_TX_PAUSE_FILE");
	const char *at = getenv("LSD_DEBUG_TX_PAUSE_AT");
	long ms = v ? strtol(v, NULL, 10) : 0;
	struct timespec ts;

	if (ms <= 0 || (at && *at && strcmp(at, where)))
		return;
	if (ms > 60000)
		ms = 60000;
	fprintf(stderr, "LSD_DEBUG_TX_PAUSE_MS: pausing %ld ms inside the %s transaction\n", ms,
		where);
	if (f && *f) {
		FILE *fp = fopen(f, "w");

		if (fp) {
			fprintf(fp, "%s\n", where);
			fclose(fp);
		}
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}
