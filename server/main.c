/* main.c - lesiond's entry point: picks the binary variant and BLAS kernel for this CPU,
 * then dispatches to a subcommand (cli.h).
 *
 * Two start-up decisions need a re-exec, because they are read before main() runs:
 *  - the AVX2 binary re-executes lesiond-generic (beside it) on a CPU without AVX2,
 *    so FAISS's AVX2 distance kernels never meet a CPU that lacks them;
 *  - OpenBLAS 0.3.21 misdetects recent CPUs and falls back to slow generic kernels;
 *    when OPENBLAS_CORETYPE is unset we choose SkylakeX or Haswell from the CPU flags
 *    and re-execute once with it set (LSD_REEXEC guards against loops);
 *  - FAISS parallelises with OpenMP and calls OpenBLAS, which has its own thread pool:
 *    on 2 cores the two pools spin against each other (measured: 217 batched queries/s
 *    instead of 3,200). Unless the user set them, OMP_WAIT_POLICY=PASSIVE and
 *    OPENBLAS_NUM_THREADS=1 are set for the re-executed process.
 */
#include "cli.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "serve", cmd_serve, "run the HTTP daemon" },
	{ "ingest", cmd_ingest, "import DeepLesion metadata (DL_info.csv)" },
	{ "demo", cmd_demo, "write a synthetic dataset in DeepLesion's format" },
	{ "realism", cmd_realism, "real DeepLesion follow-ups vs the demo, as a markdown table" },
	{ "embed", cmd_embed, "compute the built-in descriptor for every lesion with images" },
	{ "import-vectors", cmd_import_vectors, "bulk-load embeddings (.npy or .fvecs)" },
	{ "knn", cmd_knn, "batch nearest-neighbour search without a server" },
	{ "knn-merge", cmd_knn_merge, "merge sharded knn outputs into the unsharded answer" },
	{ "eval", cmd_eval, "the Deep Lesion Graphs retrieval protocol (--graph: matching)" },
	{ "graph", cmd_graph, "(re)build the intra-patient lesion graph" },
	{ "train", cmd_train, "learn a projection with DLG's sequential triplet sampling" },
	{ "backup", cmd_backup, "online backup of the database and index snapshots" },
	{ "restore", cmd_restore, "restore a backup made by 'lesiond backup'" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: lesiond <command> [options]   (lesiond <command> --help)\n\n"
		   "lesiond: a lesion retrieval server for DeepLesion-format CT data.\n\n"
		   "Commands:\n");
	for (i = 0; i < LSD_ARRAY_LEN(commands); i++)
		fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
}

static void reexec(char **argv, const char *path)
{
	setenv("LSD_REEXEC", "1", 1);
	execv(path, argv);
	/* fall through: keep running in this process if exec failed */
}

static void choose_cpu_path(char **argv)
{
	char self[PATH_MAX];
	const char *set_core = NULL;
	int changed = 0;
	ssize_t n;

	if (getenv("LSD_REEXEC"))
		return;
	__builtin_cpu_init();
	n = readlink("/proc/self/exe", self, sizeof(self) - 32);
	if (n <= 0)
		return;
	self[n] = '\0';
	if (!getenv("OPENBLAS_CORETYPE")) {
		if (__builtin_cpu_supports("avx512f"))
			set_core = "SkylakeX";
		else if (__builtin_cpu_supports("avx2"))
			set_core = "Haswell";
		if (set_core)
			setenv("OPENBLAS_CORETYPE", set_core, 1);
	}
	if (lsd_variant_avx2 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
		char *slash = strrchr(self, '/');

		if (slash) {
			memcpy(slash + 1, "lesiond-generic", 16);	/* fits: 32 bytes kept spare */
			reexec(argv, self);
		}
		return;
	}
	if (!getenv("OMP_WAIT_POLICY")) {
		setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
		changed = 1;
	}
	if (!getenv("OPENBLAS_NUM_THREADS")) {
		setenv("OPENBLAS_NUM_THREADS", "1", 1);
		changed = 1;
	}
	if (set_core || changed)
		reexec(argv, self);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < LSD_ARRAY_LEN(commands); i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			choose_cpu_path(argv);
			return commands[i].fn(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "lesiond: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
