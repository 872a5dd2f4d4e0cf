/* test_config_env.c - LESIOND_<KEY> environment settings (over the file, under the
 * flags; errors name the variable; other LESIOND_* ignored) and the generated admin key
 * file (keygen.h: format, mode 0600, never replaced). */
#include "cli.h"
#include "config.h"
#include "keygen.h"
#include "unit.h"
#include "util.h"

#include <sys/stat.h>
#include <unistd.h>

static char dir[512];

static void unset_all(void)
{
	unsetenv("LESIOND_PORT");
	unsetenv("LESIOND_ADMIN_KEYS");
	unsetenv("LESIOND_OPEN_ACCESS");
	unsetenv("LESIOND_IMAGES");
	unsetenv("LESIOND_NO_BROWSER");
}

static void test_env_sets_keys(void)
{
	struct config c;
	char err[LSD_ERRLEN];

	unset_all();
	config_defaults(&c);
	setenv("LESIOND_PORT", "9123", 1);
	setenv("LESIOND_ADMIN_KEYS", "k1,k2", 1);
	setenv("LESIOND_OPEN_ACCESS", "1", 1);
	setenv("LESIOND_NO_BROWSER", "1", 1);	/* not a setting: ignored */
	CHECK_EQ_INT(config_load_env(&c, err), 0);
	CHECK_EQ_INT(c.port, 9123);
	CHECK_STR(c.admin_keys, "k1,k2");
	CHECK_EQ_INT(c.open_access, 1);
	CHECK_STR(c.listen, "127.0.0.1");	/* unset variables leave the value alone */
	unset_all();
}

static void test_env_errors(void)
{
	struct config c;
	char err[LSD_ERRLEN];

	unset_all();
	config_defaults(&c);
	setenv("LESIOND_PORT", "70000", 1);
	CHECK_EQ_INT(config_load_env(&c, err), -1);
	CHECK(strstr(err, "environment LESIOND_PORT: port") == err);
	setenv("LESIOND_PORT", "80", 1);
	setenv("LESIOND_OPEN_ACCESS", "maybe", 1);
	CHECK_EQ_INT(config_load_env(&c, err), -1);
	CHECK(strstr(err, "LESIOND_OPEN_ACCESS") != NULL);
	unset_all();
}

/* defaults < file < environment < flags, through the parser every subcommand uses */
static void test_precedence(void)
{
	struct config c;
	char conf[600], a0[] = "test", a1[] = "--config", a3[] = "--images",
	     a4[] = "/from/flag", *argv[6];
	FILE *f;

	unset_all();
	snprintf(conf, sizeof(conf), "%s/prec.conf", dir);
	f = fopen(conf, "w");
	fputs("port = 9001\nimages = /from/file\nthreads = 3\n", f);
	fclose(f);
	setenv("LESIOND_PORT", "9002", 1);
	setenv("LESIOND_IMAGES", "/from/env", 1);
	argv[0] = a0;
	argv[1] = a1;
	argv[2] = conf;
	argv[3] = a3;
	argv[4] = a4;
	argv[5] = NULL;
	CHECK_EQ_INT(cli_parse(5, argv, NULL, "", &c), 0);
	CHECK_EQ_INT(c.threads, 3);		/* file */
	CHECK_EQ_INT(c.port, 9002);		/* environment over file */
	CHECK_STR(c.images, "/from/flag");	/* flag over environment */
	setenv("LESIOND_THREADS", "9999", 1);	/* out of range: the parse fails */
	CHECK(cli_parse(3, argv, NULL, "", &c) != 0);
	unsetenv("LESIOND_THREADS");
	unset_all();
}

static void test_keygen(void)
{
	char path[600], err[LSD_ERRLEN], *a, *b;
	struct stat sb;
	size_t la, lb, i;
	int created = -1;

	snprintf(path, sizeof(path), "%s/admin.key", dir);
	unlink(path);
	CHECK_EQ_INT(keygen_admin_file(path, &created, err), 0);
	CHECK_EQ_INT(created, 1);
	CHECK_EQ_INT(stat(path, &sb), 0);
	CHECK_EQ_INT(sb.st_mode & 0777, 0600);
	a = file_read(path, 4096, &la, err);
	CHECK(a != NULL);
	if (!a)
		return;
	CHECK_EQ_INT(la, 6 + 64 + 1);
	CHECK(!strncmp(a, "admin ", 6) && a[la - 1] == '\n');
	for (i = 6; i < 70 && i < la; i++)
		CHECK(strchr("0123456789abcdef", a[i]) != NULL);
	/* an existing file is kept as it is */
	CHECK_EQ_INT(keygen_admin_file(path, &created, err), 0);
	CHECK_EQ_INT(created, 0);
	b = file_read(path, 4096, &lb, err);
	CHECK(b && lb == la && !memcmp(a, b, la));
	free(b);
	/* a new file gets a different key */
	unlink(path);
	CHECK_EQ_INT(keygen_admin_file(path, &created, err), 0);
	b = file_read(path, 4096, &lb, err);
	CHECK(b && lb == la && memcmp(a, b, la));
	free(a);
	free(b);
	/* no temporary file left behind; a missing directory is an error */
	snprintf(path, sizeof(path), "%s/no/such/dir/admin.key", dir);
	CHECK_EQ_INT(keygen_admin_file(path, &created, err), -1);
	CHECK(strstr(err, "no/such/dir") != NULL);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "%s/config_env-%d", getenv("LSD_TEST_TMP") ?
		 getenv("LSD_TEST_TMP") : "/tmp", (int)getpid());
	mkdir(dir, 0700);
	RUN(test_env_sets_keys);
	RUN(test_env_errors);
	RUN(test_precedence);
	RUN(test_keygen);
	return unit_done();
}
