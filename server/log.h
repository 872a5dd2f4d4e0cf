/* log.h - one line per event on stderr: time, level, then the message.
 * Used by server/ only (index/ modules never log; they return messages). Thread-safe:
 * each line is written with one write(2). */
#ifndef LSD_LOG_H
#define LSD_LOG_H
#include "util.h"
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level lv);
void log_msg(enum log_level lv, const char *fmt, ...) LSD_PRINTF(2, 3);
#endif
