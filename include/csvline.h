/* csvline.h - line and field splitting for the small unquoted CSV files lesiond reads
 * besides DL_info.csv (ground-truth tracks, linked pairs): in place, in a buffer the
 * caller owns (file_read's). Used by graphrun.c and linkpairs.c.
 */
#ifndef LSD_CSVLINE_H
#define LSD_CSVLINE_H

/* The next line of *cur (NUL-terminated in place, CR stripped), or NULL at the end. */
char *csvline_next(char **cur);
/* Split s at commas (in place, no quoting) into at most max fields; the count. */
int csvline_split(char *s, char **f, int max);

#endif
