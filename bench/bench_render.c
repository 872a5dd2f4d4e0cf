/* bench_render.c - patch rendering throughput: cold (decode included) and warm (slice
 * cached), single-threaded in process, then through HTTP with concurrent clients, and
 * the mean PNG size.
 *
 * Writes 16 synthetic 512x512 CT-like slices (a noisy body ellipse with organs in air,
 * zlib level 6 like typical DeepLesion files) under a temporary directory, renders
 * 128x128 patches around 64 lesions, and prints the median of 5 runs for each figure.
 * The HTTP part ingests a DL_info.csv for the same slices, starts `lesiond serve` (found
 * beside this program's directory: BUILD/lesiond) twice - slice cache on (warm) and
 * slice_cache_mb = 0 (every request decodes: cold) - and drives it with keep-alive
 * client threads for 2 s each. Usage: bench_render [http-clients (default 8)].
 */
#include "image.h"
#include "render.h"
#include "slicecache.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <strings.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSLICES 16
#define NLESIONS 64
#define RUNS 5

static char dir[PATH_MAX / 4], root[PATH_MAX / 2];
static struct lesion les[NLESIONS];

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return v[n / 2];
}

static unsigned rnd_state = 12345;

static unsigned rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

static int make_data(void)
{
	uint16_t *v = malloc(512 * 512 * 2);
	char path[PATH_MAX], err[LSD_ERRLEN];
	int k, x, y, i;

	if (!v)
		return -1;
	for (k = 0; k < NSLICES; k++) {
		for (y = 0; y < 512; y++)
			for (x = 0; x < 512; x++) {
				double ex = (x - 256) / 220.0, ey = (y - 260) / 170.0;
				double r = ex * ex + ey * ey, hu;

				if (r > 1)
					hu = -1000 + (int)(rnd() % 20);
				else if (r > 0.85)
					hu = -100 + (int)(rnd() % 40);	/* fat */
				else if (hypot(x - 200, y - 230) < 60 + k)
					hu = 60 + (int)(rnd() % 30);	/* liver-like */
				else if (hypot(x - 330, y - 250) < 40)
					hu = 400 + (int)(rnd() % 300);	/* bone */
				else
					hu = 30 + (int)(rnd() % 40);
				v[y * 512 + x] = (uint16_t)(hu + 32768);
			}
		snprintf(path, sizeof(path), "%s/000001_01_01", root);
		mkdir_p(path, err);
		snprintf(path, sizeof(path), "%s/000001_01_01/%03d.png", root, k + 1);
		if (image_write_png16_file(path, v, 512, 512, 6, err)) {
			fprintf(stderr, "%s\n", err);
			free(v);
			return -1;
		}
	}
	free(v);
	for (i = 0; i < NLESIONS; i++) {
		struct lesion *l = &les[i];
		double x1 = 100 + rnd() % 280, y1 = 100 + rnd() % 280;
		double w = 15 + rnd() % 40, h = 12 + rnd() % 35;

		memset(l, 0, sizeof(*l));
		l->id = i + 1;
		l->patient = l->study = l->series = 1;
		l->key_slice = 1 + i % NSLICES;
		l->slice_range[0] = 1;
		l->slice_range[1] = NSLICES;
		snprintf(l->image_path, sizeof(l->image_path), "000001_01_01/%03d.png",
			 l->key_slice);
		snprintf(l->file_name, sizeof(l->file_name), "000001_01_01_%03d.png", l->key_slice);
		l->bbox[0] = x1;
		l->bbox[1] = y1;
		l->bbox[2] = x1 + w;
		l->bbox[3] = y1 + h;
		l->recist[0] = x1 + 5; l->recist[1] = y1 + 5;
		l->recist[2] = x1 + w - 5; l->recist[3] = y1 + h - 5;
		l->recist[4] = x1 + 5; l->recist[5] = y1 + h - 5;
		l->recist[6] = x1 + w - 5; l->recist[7] = y1 + 5;
		l->diam_px[0] = hypot(w - 10, h - 10);
		l->diam_px[1] = l->diam_px[0] / 2;
		l->spacing[0] = l->spacing[1] = 0.6 + (rnd() % 30) / 100.0;
		l->spacing[2] = 5;
		l->image_size[0] = l->image_size[1] = 512;
		l->window[0] = -175;
		l->window[1] = 275;
		l->type = 4;
		l->gender = 'F';
		l->age = 50;
		l->split = 1;
	}
	return 0;
}

/* One render through the cache; returns PNG bytes or 0 on error. */
static size_t one(struct slicecache *c, const struct lesion *l, const struct render_params *p)
{
	struct slicecache_handle h;
	char err[LSD_ERRLEN];
	unsigned char *png = NULL;
	size_t len = 0;

	if (slicecache_get(c, l->image_path, &h, err)) {
		fprintf(stderr, "get: %s\n", err);
		return 0;
	}
	if (render_patch_png(h.s, l, p, &png, &len, err))
		fprintf(stderr, "render: %s\n", err);
	slicecache_release(c, &h);
	free(png);
	return len;
}

static void bench_inprocess(void)
{
	struct slicecache *c = NULL;
	struct render_params p;
	char err[LSD_ERRLEN];
	double cold[RUNS], cold_cpu[RUNS], warm[RUNS], warm_cpu[RUNS], bytes[RUNS];
	double dec[RUNS], rs[RUNS], enc[RUNS];
	int r, i;

	if (slicecache_create(root, 256 << 20, &c, err)) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	render_params_init(&p, 1);
	p.lo = -175;
	p.hi = 275;
	for (r = 0; r < RUNS; r++) {
		int n = 100;
		double t0 = now_ms(), c0 = cpu_ms(), sum = 0;

		for (i = 0; i < n; i++) {
			slicecache_clear(c);
			sum += (double)one(c, &les[i % NLESIONS], &p);
		}
		cold[r] = n / ((now_ms() - t0) / 1e3);
		cold_cpu[r] = (cpu_ms() - c0) / n;
		(void)sum;
		n = 5000;
		for (i = 0; i < NSLICES; i++)
			one(c, &les[i], &p);	/* fill */
		t0 = now_ms();
		c0 = cpu_ms();
		sum = 0;
		for (i = 0; i < n; i++)
			sum += (double)one(c, &les[i % NLESIONS], &p);
		warm[r] = n / ((now_ms() - t0) / 1e3);
		warm_cpu[r] = (cpu_ms() - c0) / n;
		bytes[r] = sum / n;
	}
	/* the phases on their own */
	for (r = 0; r < RUNS; r++) {
		struct slice16 s;
		float *hu = malloc(128 * 128 * sizeof(float));
		uint8_t *px = malloc(128 * 128);
		struct render_view v;
		unsigned char *png = NULL;
		size_t len;
		char path[PATH_MAX];
		double t0;
		int n = 30;

		snprintf(path, sizeof(path), "%s/000001_01_01/001.png", root);
		t0 = cpu_ms();
		for (i = 0; i < n; i++) {
			image_read_png16(path, 0, &s, err);
			if (i < n - 1)
				slice16_free(&s);
		}
		dec[r] = (cpu_ms() - t0) / n;
		render_lesion_view(&les[0], &p, &v);
		t0 = cpu_ms();
		for (i = 0; i < 2000; i++) {
			render_resample(&s, &v, hu);
			render_window8(hu, 128 * 128, p.lo, p.hi, px);
		}
		rs[r] = (cpu_ms() - t0) / 2000;
		t0 = cpu_ms();
		for (i = 0; i < 2000; i++) {
			image_encode_png(px, 128, 128, IMAGE_GRAY8, 1, &png, &len, err);
			free(png);
		}
		enc[r] = (cpu_ms() - t0) / 2000;
		slice16_free(&s);
		free(hu);
		free(px);
	}
	printf("in-process, 1 thread, 128x128 gray8 patch, zlib level 1 (median of %d runs)\n",
	       RUNS);
	printf("  cold (decode 512x512 + render + encode): %8.0f patches/s  %.3f ms CPU each\n",
	       median(cold, RUNS), median(cold_cpu, RUNS));
	printf("  warm (slice cached):                     %8.0f patches/s  %.3f ms CPU each\n",
	       median(warm, RUNS), median(warm_cpu, RUNS));
	printf("  phases: decode 512x512 16-bit %.3f ms, resample+window %.3f ms, "
	       "encode %.3f ms\n", median(dec, RUNS), median(rs, RUNS), median(enc, RUNS));
	printf("  mean PNG bytes: %.0f\n", median(bytes, RUNS));
	slicecache_destroy(c);
}

/* ---- HTTP ---- */

struct client {
	int port, id;
	volatile int *stop;
	long done, errors;
	double bytes;
};

static int connect_to(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send one GET and read the whole reply; returns body length or -1. */
static long get(int fd, const char *path, int *status)
{
	char req[256], buf[65536];
	size_t have = 0;
	long clen = -1, body;
	char *end, *cl;
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: b\r\n\r\n", path);

	if (write(fd, req, (size_t)n) != n)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);

		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")))
			break;
		if (have >= sizeof(buf) - 1)
			return -1;
	}
	*status = (int)strtol(buf + 9, NULL, 10);
	for (cl = buf; (cl = strstr(cl, "\r\n")) && cl < end; cl += 2)
		if (!strncasecmp(cl + 2, "content-length:", 15)) {
			clen = strtol(cl + 17, NULL, 10);
			break;
		}
	if (clen < 0)
		return -1;
	body = (long)(have - (size_t)(end + 4 - buf));
	while (body < clen) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r <= 0)
			return -1;
		body += r;
	}
	return clen;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	int fd = connect_to(c->port), i = c->id * 7;
	char path[128];

	while (fd >= 0 && !*c->stop) {
		int st = 0;
		long n;

		snprintf(path, sizeof(path), "/v1/lesions/%d/patch.png", 1 + i++ % NLESIONS);
		n = get(fd, path, &st);
		if (n < 0 || st != 200) {
			c->errors++;
			close(fd);
			fd = connect_to(c->port);
			continue;
		}
		c->done++;
		c->bytes += (double)n;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static double http_run(int port, int nclients, double secs, double *mean_bytes, long *errors)
{
	pthread_t t[64];
	struct client c[64];
	volatile int stop = 0;
	double t0, el;
	long done = 0;
	int i;

	*errors = 0;
	*mean_bytes = 0;
	for (i = 0; i < nclients; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].port = port;
		c[i].id = i;
		c[i].stop = &stop;
		pthread_create(&t[i], NULL, client_main, &c[i]);
	}
	t0 = now_ms();
	usleep((useconds_t)(secs * 1e6));
	stop = 1;
	for (i = 0; i < nclients; i++) {
		pthread_join(t[i], NULL);
		done += c[i].done;
		*errors += c[i].errors;
		*mean_bytes += c[i].bytes;
	}
	el = (now_ms() - t0) / 1e3;
	*mean_bytes = done ? *mean_bytes / done : 0;
	return done / el;
}

/* CPU time (ms) the process pid has used, from /proc/pid/stat (utime + stime). */
static double proc_cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	size_t n;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* fields after the command name */
	for (i = 0; p && i < 12; i++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	ut = strtoul(p + 1, &p, 10);
	st = strtoul(p + 1, NULL, 10);
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static pid_t serve(const char *lesiond, const char *conf, int *port)
{
	char db[PATH_MAX], pf[PATH_MAX], log[PATH_MAX], buf[32];
	pid_t pid;
	int i;

	snprintf(db, sizeof(db), "%s/bench.db", dir);
	snprintf(pf, sizeof(pf), "%s/port", dir);
	snprintf(log, sizeof(log), "%s/server.log", dir);
	unlink(pf);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		if (!freopen(log, "a", stderr) || !freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(lesiond, lesiond, "serve", "--config", conf, "--db", db, "--images", root,
		      "--port", "0", "--port-file", pf, "--threads", "2", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		FILE *f = fopen(pf, "r");

		if (f) {
			if (fgets(buf, sizeof(buf), f) && (*port = (int)strtol(buf, NULL, 10)) > 0) {
				fclose(f);
				usleep(100000);
				return pid;
			}
			fclose(f);
		}
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void bench_http(const char *self, int nclients)
{
	char lesiond[PATH_MAX], csv[PATH_MAX], cmd[3 * PATH_MAX], conf[2][PATH_MAX], err[LSD_ERRLEN];
	const char *slash = strrchr(self, '/');
	FILE *f;
	int i, k;

	/* BUILD/bench/bench_render -> BUILD/lesiond */
	snprintf(lesiond, sizeof(lesiond), "%.*s/../lesiond", slash ? (int)(slash - self) : 1,
		 slash ? self : ".");
	if (access(lesiond, X_OK)) {
		printf("HTTP: %s not found, skipped\n", lesiond);
		return;
	}
	snprintf(csv, sizeof(csv), "%s/DL_info.csv", dir);
	f = fopen(csv, "w");
	if (!f)
		return;
	fprintf(f, "File_name,Patient_index,Study_index,Series_ID,Key_slice_index,"
		"Measurement_coordinates,Bounding_boxes,Lesion_diameters_Pixel_,"
		"Normalized_lesion_location,Coarse_lesion_type,Possibly_noisy,Slice_range,"
		"Spacing_mm_px_,Image_size,DICOM_windows,Patient_gender,Patient_age,"
		"Train_Val_Test\n");
	for (i = 0; i < NLESIONS; i++) {
		const struct lesion *l = &les[i];

		fprintf(f, "%s,1,1,1,%d,\"%g, %g, %g, %g, %g, %g, %g, %g\",\"%g, %g, %g, %g\","
			"\"%g, %g\",\"0.5, 0.5, 0.5\",4,0,\"%d, %d\",\"%g, %g, 5\",\"512, 512\","
			"\"-175, 275\",F,50,1\n", l->file_name, l->key_slice, l->recist[0],
			l->recist[1], l->recist[2], l->recist[3], l->recist[4], l->recist[5],
			l->recist[6], l->recist[7], l->bbox[0], l->bbox[1], l->bbox[2], l->bbox[3],
			l->diam_px[0], l->diam_px[1], l->slice_range[0], l->slice_range[1],
			l->spacing[0], l->spacing[1]);
	}
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s ingest --csv %s --db %s/bench.db > /dev/null", lesiond,
		 csv, dir);
	if (system(cmd)) {
		printf("HTTP: ingest failed, skipped\n");
		return;
	}
	for (k = 0; k < 2; k++) {
		snprintf(conf[k], sizeof(conf[k]), "%s/bench%d.conf", dir, k);
		snprintf(cmd, sizeof(cmd), "slice_cache_mb = %d\npng_level = 1\n", k ? 256 : 0);
		file_write_atomic_nosync(conf[k], cmd, strlen(cmd), err);
	}
	printf("HTTP, lesiond serve --threads 2, %d keep-alive clients, 128x128 patches "
	       "(median of 3 runs of 2 s)\n", nclients);
	for (k = 1; k >= 0; k--) {
		double rate[3], cpu[3], bytes = 0;
		long errors = 0, all_err = 0;
		int port = 0, r;
		pid_t pid = serve(lesiond, conf[k], &port);

		if (pid < 0) {
			printf("  server did not start (see %s/server.log)\n", dir);
			return;
		}
		http_run(port, nclients, 0.5, &bytes, &errors);	/* warm-up */
		for (r = 0; r < 3; r++) {
			double c0 = proc_cpu_ms(pid);

			rate[r] = http_run(port, nclients, 2.0, &bytes, &errors);
			cpu[r] = (proc_cpu_ms(pid) - c0) / (rate[r] * 2.0);
			all_err += errors;
		}
		printf("  %s: %8.0f patches/s, server CPU %.3f ms per patch, mean PNG %.0f "
		       "bytes, %ld errors\n",
		       k ? "warm (slice cache on)    " : "cold (slice_cache_mb = 0)",
		       median(rate, 3), median(cpu, 3), bytes, all_err);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[PATH_MAX];
	int nclients = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 8;

	if (nclients < 1 || nclients > 64)
		nclients = 8;
	snprintf(dir, sizeof(dir), "%s/bench_render_%d", tmp ? tmp : "/tmp", (int)getpid());
	snprintf(root, sizeof(root), "%s/Images_png", dir);
	if (make_data()) {
		fprintf(stderr, "cannot write test slices under %s\n", dir);
		return 1;
	}
	bench_inprocess();
	bench_http(argv[0], nclients);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		return 1;
	return 0;
}
