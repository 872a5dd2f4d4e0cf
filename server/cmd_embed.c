/* cmd_embed.c - `lesiond embed`: the built-in descriptor for every lesion with images
 * (index/embed.c), both cores, progress on a terminal, resumable. */
#include "cli.h"
#include "embed.h"
#include "learn_cnn.h"
#include "offline.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: lesiond embed [--space builtin] [--threads 2] --images DIR [--db PATH]\n\n"
	"Compute the built-in lesion descriptor (appearance, location, size; README) for every\n"
	"lesion with images. Raw descriptors go to space <space>.raw as they are computed, so\n"
	"an interrupted run resumes; statistics over all stored lesions standardise them into\n"
	"space <space>. Lesions whose images are missing get no vector and are reported.";

static void progress(void *cls, size_t done, size_t total)
{
	(void)cls;
	if (isatty(2))
		fprintf(stderr, "\rembed: %zu/%zu lesions", done, total);
	if (isatty(2) && done == total)
		fprintf(stderr, "\n");
}

static void note(void *cls, const char *line)
{
	(void)cls;
	fprintf(stderr, "embed: %s\n", line);
}

int cmd_embed(int argc, char **argv)
{
	const char *space = "builtin", *threads = "2";
	const struct cli_opt opts[] = {
		{ "--space", "NAME", &space, "space name (default builtin)" },
		{ "--threads", "N", &threads, "worker threads (default 2)" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct offline o;
	struct embed_opts eo;
	struct embed_report rep;
	char err[LSD_ERRLEN];
	int64_t nt;
	int r, rc = 1;

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if (parse_i64(threads, 1, 64, &nt)) {
		fprintf(stderr, "lesiond embed: --threads: 1..64\n");
		return 2;
	}
	if (!cfg.images[0]) {
		fprintf(stderr, "lesiond embed: --images DIR (or images in the config) is required\n");
		return 2;
	}
	if (offline_open(&cfg, "embed", &o))
		return 1;
	if (strcmp(space, "builtin") && learn_cnn_is(o.st, space, err) == 1) {
		size_t stored, missing;
		double t0 = now_ms();

		if (learn_cnn_embed_all(o.st, o.sp, space, cfg.images, (int)nt, &stored, &missing,
					err)) {
			fprintf(stderr, "lesiond embed: %s\n", err);
			goto out;
		}
		printf("embed: %zu vectors in space %s (network trained from images), %zu lesions "
		       "without images, in %.1f s\n", stored, space, missing,
		       (now_ms() - t0) / 1000.0);
		rc = 0;
		goto out;
	}
	memset(&eo, 0, sizeof(eo));
	eo.space = space;
	eo.images = cfg.images;
	eo.weights[DESC_BLOCK_APPEARANCE] = (float)cfg.desc_w_appearance;
	eo.weights[DESC_BLOCK_LOCATION] = (float)cfg.desc_w_location;
	eo.weights[DESC_BLOCK_SIZE] = (float)cfg.desc_w_size;
	eo.threads = (int)nt;
	eo.progress = progress;
	eo.note = note;
	if (embed_all(o.st, o.sp, &eo, &rep, err)) {
		fprintf(stderr, "lesiond embed: %s\n", err);
		goto out;
	}
	printf("embed: %zu lesions: %zu descriptors computed, %zu reused, %zu without images, "
	       "%zu failed; %zu vectors in space %s (dim %d) in %.1f s (%.0f descriptors/s)\n",
	       rep.lesions, rep.computed, rep.reused, rep.missing, rep.failed, rep.stored, space,
	       DESC_DIM, rep.seconds, rep.computed / (rep.seconds + 1e-9));
	rc = 0;
out:
	offline_close(&o);
	return rc;
}
