/* test_config.c - the settings table: defaults, file parsing with file:line errors,
 * bounds, and config/lesiond.conf documenting every key with its real default. */
#include "config.h"
#include "unit.h"
#include "util.h"

#include <stdio.h>

static const char *tmpfile_with(const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cfg-%d.conf", getenv("LSD_TEST_TMP") ?
		 getenv("LSD_TEST_TMP") : "/tmp", rand());
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void)
{
	struct config c;

	config_defaults(&c);
	CHECK_STR(c.listen, "127.0.0.1");
	CHECK_EQ_INT(c.port, 8080);
	CHECK_EQ_INT(c.body_max_json, 1048576);
	CHECK_STR(c.index_type, "Flat");
	CHECK_EQ_INT(c.open_access, 0);
}

static void test_file(void)
{
	struct config c;
	char err[LSD_ERRLEN];

	config_defaults(&c);
	CHECK_EQ_INT(config_load(&c, tmpfile_with("# c\nport = 9001\n  threads=3  \n"
						  "images = \"/data/Images_png\"\n"), 0, err), 0);
	CHECK_EQ_INT(c.port, 9001);
	CHECK_EQ_INT(c.threads, 3);
	CHECK_STR(c.images, "/data/Images_png");
}

static void test_errors(void)
{
	struct config c;
	char err[LSD_ERRLEN];
	const char *p;

	config_defaults(&c);
	p = tmpfile_with("port = 80\nthreads = many\n");
	CHECK_EQ_INT(config_load(&c, p, 0, err), -1);
	CHECK(strstr(err, ":2: threads") != NULL);
	CHECK(strstr(err, p) == err);
	config_defaults(&c);
	CHECK_EQ_INT(config_load(&c, tmpfile_with("port = 70000\n"), 0, err), -1);
	CHECK(strstr(err, ":1: port") != NULL);
	CHECK_EQ_INT(config_load(&c, tmpfile_with("colour = blue\n"), 0, err), -1);
	CHECK(strstr(err, "unknown key 'colour'") != NULL);
	CHECK_EQ_INT(config_load(&c, tmpfile_with("just words\n"), 0, err), -1);
	CHECK(strstr(err, ":1: expected") != NULL);
	CHECK_EQ_INT(config_load(&c, "/nonexistent/x.conf", 0, err), -1);
	CHECK_EQ_INT(config_load(&c, "/nonexistent/x.conf", 1, err), 0);
	CHECK_EQ_INT(config_set(&c, "open_access", "maybe", err), -1);
	CHECK_EQ_INT(config_set(&c, "graph_threshold", "-1", err), -1);
}

/* The shipped config file sets every key to its built-in default, with a comment. */
static void test_shipped_file(void)
{
	struct config a, b;
	char err[LSD_ERRLEN], line[1024], prev[1024] = "";
	size_t i;
	FILE *f = fopen("config/lesiond.conf", "r");

	CHECK(f != NULL);
	if (!f)
		return;
	for (i = 0; i < config_nkeys; i++) {
		int found = 0;

		rewind(f);
		prev[0] = '\0';
		while (fgets(line, sizeof(line), f)) {
			size_t n = strlen(config_keys[i].name);

			if (!strncmp(line, config_keys[i].name, n) && (line[n] == ' ' || line[n] == '=')) {
				found = 1;
				if (prev[0] != '#')
					fprintf(stderr, "  key %s has no comment above it\n", config_keys[i].name);
				CHECK(prev[0] == '#');
			}
			memcpy(prev, line, sizeof(prev));
		}
		if (!found)
			fprintf(stderr, "  key %s missing from config/lesiond.conf\n", config_keys[i].name);
		CHECK(found);
	}
	fclose(f);
	config_defaults(&a);
	config_defaults(&b);
	CHECK_EQ_INT(config_load(&b, "config/lesiond.conf", 0, err), 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

int main(void)
{
	RUN(test_defaults);
	RUN(test_file);
	RUN(test_errors);
	RUN(test_shipped_file);
	return unit_done();
}
