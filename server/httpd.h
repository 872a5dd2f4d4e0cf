/* httpd.h - the HTTP daemon glue (server/http.c, the only user of libmicrohttpd):
 * start on the configured address with a thread pool, report the bound port, stop
 * accepting, drain in-flight requests and stop. */
#ifndef LSD_HTTPD_H
#define LSD_HTTPD_H
#include "app.h"

struct httpd;
int httpd_start(struct app *app, struct httpd **out /* OUT */, char *err);
int httpd_port(const struct httpd *h);
/* Stop accepting new connections, wait up to wait_ms for in-flight requests, stop. */
void httpd_stop(struct httpd *h, int wait_ms);
#endif
