/* csvline.c - in-place line and comma splitting of small unquoted CSV files. See
 * csvline.h. Owns nothing. */
#include "csvline.h"

#include <stddef.h>
#include <string.h>

char *csvline_next(char **cur)
{
	char *line = *cur, *nl;

	if (!line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*cur = nl + 1;
	} else {
		*cur = NULL;
	}
	line[strcspn(line, "\r")] = '\0';
	return line;
}

int csvline_split(char *s, char **f, int max)
{
	int n = 0;

	while (n < max) {
		f[n++] = s;
		s = strchr(s, ',');
		if (!s)
			break;
		*s++ = '\0';
	}
	return n;
}
