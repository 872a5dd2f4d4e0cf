/* log.c - timestamped log lines on stderr, one write(2) each so threads don't interleave. */
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level lv)
{
	min_level = lv;
}

void log_msg(enum log_level lv, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	static _Thread_local time_t sec_at = -1;
	static _Thread_local char sec_txt[32];
	static _Thread_local int sec_len;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	long ms;
	int n;

	if (lv < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* the date and time to the second, formatted once a second per thread; the rest
	 * without printf (an access line per request; see str_copy in util.h) */
	if (ts.tv_sec != sec_at) {
		gmtime_r(&ts.tv_sec, &tm);
		sec_len = (int)strftime(sec_txt, sizeof(sec_txt), "%Y-%m-%dT%H:%M:%S", &tm);
		sec_at = ts.tv_sec;
	}
	memcpy(line, sec_txt, (size_t)sec_len);
	n = sec_len;
	ms = ts.tv_nsec / 1000000L;
	line[n++] = '.';
	line[n++] = (char)('0' + ms / 100);
	line[n++] = (char)('0' + ms / 10 % 10);
	line[n++] = (char)('0' + ms % 10);
	line[n++] = 'Z';
	line[n++] = ' ';
	n += (int)str_copy(line + n, 8, names[lv]);
	line[n++] = ' ';
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(2, line, (size_t)n) < 0) {
		/* nowhere left to report a failed log write */
	}
}
