/* cli.c - option parsing shared by the subcommands. See cli.h. */
#include "cli.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage_print(const struct cli_opt *opts, const char *usage)
{
	const struct cli_opt *o;

	printf("%s\n\nOptions:\n", usage);
	for (o = opts; o && o->name; o++) {
		char left[64];

		snprintf(left, sizeof(left), "%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		printf("  %-24s %s\n", left, o->help);
	}
	printf("  %-24s %s\n", "--config FILE", "settings file (default config/lesiond.conf if present)");
	printf("  %-24s %s\n", "--db PATH", "SQLite database (index snapshots live beside it)");
	printf("  %-24s %s\n", "--images DIR", "DeepLesion Images_png folder");
	printf("  %-24s %s\n", "--help", "this text");
}

int cli_parse(int argc, char **argv, const struct cli_opt *opts, const char *usage,
	      struct config *cfg)
{
	const char *conf = NULL, *db = NULL, *images = NULL;
	char err[LSD_ERRLEN];
	int i;

	config_defaults(cfg);
	for (i = 1; i < argc; i++) {
		const struct cli_opt *o;
		const char *a = argv[i];
		int common = 0;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage_print(opts, usage);
			return 1;
		}
		if (!strcmp(a, "--config") || !strcmp(a, "--db") || !strcmp(a, "--images")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "lesiond %s: %s needs a value\n", argv[0], a);
				return -1;
			}
			if (!strcmp(a, "--config"))
				conf = argv[++i];
			else if (!strcmp(a, "--db"))
				db = argv[++i];
			else
				images = argv[++i];
			common = 1;
		}
		if (common)
			continue;
		for (o = opts; o && o->name; o++)
			if (!strcmp(o->name, a))
				break;
		if (!o || !o->name) {
			fprintf(stderr, "lesiond %s: unknown option '%s' (see --help)\n", argv[0], a);
			return -1;
		}
		if (o->arg) {
			if (i + 1 >= argc) {
				fprintf(stderr, "lesiond %s: %s needs a value\n", argv[0], a);
				return -1;
			}
			*o->val = argv[++i];
		} else {
			*o->val = "1";
		}
	}
	if (conf) {
		if (config_load(cfg, conf, 0, err)) {
			fprintf(stderr, "lesiond %s: %s\n", argv[0], err);
			return -1;
		}
	} else if (config_load(cfg, "config/lesiond.conf", 1, err)) {
		fprintf(stderr, "lesiond %s: %s\n", argv[0], err);
		return -1;
	}
	if (config_load_env(cfg, err)) {
		fprintf(stderr, "lesiond %s: %s\n", argv[0], err);
		return -1;
	}
	if ((db && config_set(cfg, "db", db, err)) ||
	    (images && config_set(cfg, "images", images, err))) {
		fprintf(stderr, "lesiond %s: %s\n", argv[0], err);
		return -1;
	}
	return 0;
}
