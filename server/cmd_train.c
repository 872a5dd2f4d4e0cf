/* cmd_train.c - `lesiond train`: a learned, L2-normalised space trained from an existing
 * one with Deep Lesion Graphs' sequential sampling (index/learn.c, index/train.c); one
 * line per epoch with the loss on stderr, a summary on stdout. */
#include "cli.h"
#include "descriptor.h"
#include "eval.h"
#include "learn.h"
#include "learn_cnn.h"
#include "offline.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --append-weight's defaults: the source's location and size blocks appended at 1.6 to
 * a projection; at 1.0 to a network's embedding, which sees the location through its
 * code, and the appended location at 1.6 outweighed it (README: measured, stop 31) */
#define APPEND_W_SPACE 1.6
#define APPEND_W_IMAGES 1.0
#define STR_(x) #x
#define STR(x) STR_(x)
#include <unistd.h>

static const char usage[] =
	"usage: lesiond train --from SPACE --to NAME [--dim 64] [--hidden 0] [--epochs 30]\n"
	"       [--seed 1] [--lr 0.005] [--margin 0.2] [--labels FILE] [--eval-split test]\n"
	"       [--force] [--threads 2] [--batch 64] [--near-q 0.25] [--similar-q 0.25]\n"
	"       [--pseudo-every 5] [--db PATH]\n"
	"       lesiond train --from images --to NAME --images DIR [--epochs 12] [--dim 64]\n"
	"       [--width 16] [--side 48] [--mm-px 1.5] [--append-weight " STR(APPEND_W_IMAGES) "]\n"
	"       (and the above)\n\n"
	"Learn a projection (linear, or one hidden layer with --hidden N) from space SPACE to a\n"
	"new L2-normalised space NAME with a sequence-triplet loss and Deep Lesion Graphs'\n"
	"sequential sampling. Training sees the coarse types of the catalog (DeepLesion: the\n"
	"val split) or, with --labels, of a ground_truth.csv (lesion_id,...,true_type,...);\n"
	"other lesions get pseudo-types from their nearest labelled neighbours. The evaluation\n"
	"split (--eval-split, default test; 'none' holds nothing out) is never trained on: a\n"
	"labels file with types for it is refused unless --force, and its rows stay unused.\n"
	"Every lesion of SPACE is projected; lesions added to a server later are projected\n"
	"automatically. The weights, parameters and loss curve are stored in the database.\n"
	"--from images trains a convolutional network on the lesions' CT patches instead (the\n"
	"key slice and its neighbours 2 mm away, side x side pixels at mm-px mm/pixel), with\n"
	"the same labels, sampling and loss; lesions without images are reported and skipped.\n"
	"By default the built-in descriptor's appearance block (space builtin: run lesiond embed\n"
	"first) is fused into the network's last layer; --fuse-builtin 0 for pixels only. A\n"
	"code of the lesion's location is fused too (--location-code 0: without it).";

struct prog {
	int tty;
	double t0;
};

static int on_epoch(void *ctx, const struct train_progress *p)
{
	struct prog *g = ctx;
	double el = (now_ms() - g->t0) / 1000.0;
	double eta = p->epoch ? el / p->epoch * (p->epochs - p->epoch) : 0;

	fprintf(stderr, "train: epoch %*d/%d  loss %.5f  active %4.1f%%  anchors %d  seeds %d  "
		"pseudo %d  %.0f ms%s", p->epochs >= 100 ? 3 : 2, p->epoch, p->epochs, p->loss,
		100.0 * p->active, p->anchors, p->n_seeds, p->n_pseudo, p->ms, g->tty ? "" : "\n");
	if (g->tty)
		fprintf(stderr, "  (%.0f s left)\n", eta);
	return 0;
}

static int on_cnn_epoch(void *ctx, const struct cnn_progress *p)
{
	struct prog *g = ctx;

	fprintf(stderr, "train: epoch %*d/%d  loss %.5f  active %4.1f%%  anchors %d  seeds %d  "
		"pseudo %d  val 5-NN %s%.3f  %.0f ms\n", p->epochs >= 100 ? 3 : 2, p->epoch,
		p->epochs, p->loss, 100.0 * p->active, p->anchors, p->n_seeds, p->n_pseudo,
		p->val_acc < 0 ? "n/a " : "", p->val_acc < 0 ? 0 : p->val_acc, p->ms);
	(void)g;
	return 0;
}

static void on_note(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "train: no image: %s\n", line);
}

static int parse_int(const char *name, const char *s, int64_t lo, int64_t hi, int *out)
{
	int64_t v;

	if (parse_i64(s, lo, hi, &v)) {
		fprintf(stderr, "lesiond train: %s: '%s' is not an integer in %lld..%lld\n", name, s,
			(long long)lo, (long long)hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int parse_real(const char *name, const char *s, double *out)
{
	if (parse_f64(s, out)) {
		fprintf(stderr, "lesiond train: %s: '%s' is not a number\n", name, s);
		return -1;
	}
	return 0;
}

int cmd_train(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *dim = NULL, *hidden = NULL, *epochs = NULL;
	const char *seed = NULL, *lr = NULL, *margin = NULL, *labels = NULL, *threads = NULL;
	const char *eval_split = "test", *force = NULL, *near_q = NULL, *similar_q = NULL;
	const char *batch = NULL, *pseudo_every = NULL, *keep = NULL, *scale = NULL;
	const char *append = NULL, *append_w = NULL, *width = NULL, *side = NULL, *mm_px = NULL;
	const char *type_head = NULL, *lr_end = NULL, *centre = NULL, *wd = NULL, *dihedral = NULL;
	const char *dropout = NULL, *fuse = NULL, *tta_orient = NULL, *tta_shift = NULL;
	const char *loc_code = NULL;
	const struct cli_opt opts[] = {
		{ "--from", "SPACE", &from, "source space (e.g. builtin)" },
		{ "--to", "NAME", &to, "the new space" },
		{ "--dim", "N", &dim, "output dimension (default 64)" },
		{ "--hidden", "N", &hidden, "hidden units; 0 = linear (default 0)" },
		{ "--epochs", "N", &epochs, "training epochs (default 30)" },
		{ "--seed", "S", &seed, "random seed (default 1)" },
		{ "--lr", "X", &lr, "Adam learning rate (default 0.005)" },
		{ "--margin", "X", &margin, "triplet margin on squared distances (default 0.2)" },
		{ "--labels", "FILE", &labels, "ground_truth.csv with the types to train on" },
		{ "--eval-split", "S", &eval_split, "split held out for evaluation (default test)" },
		{ "--force", NULL, &force, "go on when --labels covers the evaluation split" },
		{ "--threads", "N", &threads, "worker threads (default 2)" },
		{ "--keep-source", "W", &keep, "append the source vector with weight W in [0, 1)" },
		{ "--append-dims", "A:B", &append, "append source dimensions [A, B) to the learned "
		  "vector (default for --from builtin: its location and size blocks; none: off)" },
		{ "--append-weight", "W", &append_w, "weight of the appended dimensions (default "
		  STR(APPEND_W_SPACE) "; " STR(APPEND_W_IMAGES) " with --from images)" },
		{ "--scale", "S", &scale, "input scaling: global (default; keeps the source space's "
		  "balance between dimensions) or per-dim (standardise each dimension)" },
		{ "--batch", "N", &batch, "anchors per Adam step (default 64)" },
		{ "--near-q", "Q", &near_q, "\"near location\" quantile (default 0.25)" },
		{ "--similar-q", "Q", &similar_q, "\"similar size\" quantile (default 0.25)" },
		{ "--pseudo-every", "N", &pseudo_every, "pseudo-label refresh in epochs, 0 = none (5)" },
		{ "--width", "N", &width, "--from images: channels of the first block (default 16)" },
		{ "--side", "N", &side, "--from images: input side in pixels (default 48)" },
		{ "--mm-px", "X", &mm_px, "--from images: mm per pixel (default 1.5)" },
		{ "--type-head", "W", &type_head, "--from images: weight of the auxiliary type "
		  "classifier (default 1; 0 = triplet loss only)" },
		{ "--centre-pool", "0|1", &centre, "--from images: 1 = also pool each block over the "
		  "patch's central half (default 1)" },
		{ "--lr-end", "F", &lr_end, "--from images: the learning rate decays (cosine) to "
		  "lr x F (default 0.05; 1 = constant)" },
		{ "--weight-decay", "W", &wd, "--from images: decoupled weight decay (AdamW: weights "
		  "x (1 - lr W) a step; default 0)" },
		{ "--dihedral", "0|1", &dihedral, "--from images: 1 = augmentation also flips and turns "
		  "the patch by 90 degrees (default 0)" },
		{ "--dropout", "P", &dropout, "--from images: dropout on the FC layer's input "
		  "(default 0)" },
		{ "--fuse-builtin", "0|1", &fuse, "--from images: 1 = the built-in descriptor's "
		  "appearance block is also an input of the network's FC layer (default 1; needs "
		  "lesiond embed first)" },
		{ "--location-code", "0|1", &loc_code, "--from images: 1 = a radial-basis code of "
		  "the lesion's normalised location is also an input of the FC layer (default 1)" },
		{ "--tta-orient", "1|2|4", &tta_orient, "--from images: test-time views: the patch "
		  "(1), + mirrored in x (2), + in y and both (4); every embedding of the space "
		  "averages them (default 1)" },
		{ "--tta-shift", "MM", &tta_shift, "--from images: test-time views also shifted by "
		  "+-MM in x and y (x5; default 0 = none)" },
		{ NULL, NULL, NULL, NULL },
	};
	struct config cfg;
	struct offline o;
	struct learn_opts lo;
	struct learn_report rep;
	struct prog g;
	int8_t *types = NULL;
	int64_t *tracks = NULL, sd;
	char err[LSD_ERRLEN];
	int r, rc = 1;

	r = cli_parse(argc, argv, opts, usage, &cfg);
	if (r)
		return r > 0 ? 0 : 2;
	if (!from || !to) {
		fprintf(stderr, "lesiond train: --from SPACE and --to NAME are required\n");
		return 2;
	}
	memset(&lo, 0, sizeof(lo));
	train_params_default(&lo.tp);
	if (!strcmp(from, "images")) {
		struct cnn_params cp;

		cnn_params_default(&cp);
		lo.tp = cp.tp;
	}
	lo.tp.global_scale = !(scale && !strcmp(scale, "per-dim"));
	/* The built-in descriptor's location and size blocks travel along by default: the
	 * triplet loss ranks them after type, and without them the learned space loses
	 * size information (README: measured). */
	lo.append_w = !strcmp(from, "images") ? APPEND_W_IMAGES : APPEND_W_SPACE;
	if (append && !strcmp(append, "none")) {
		lo.append_lo = lo.append_hi = 0;
	} else if (append) {
		int used = 0;

		if (sscanf(append, "%d:%d%n", &lo.append_lo, &lo.append_hi, &used) != 2 ||
		    append[used] || lo.append_lo < 0 || lo.append_hi <= lo.append_lo) {
			fprintf(stderr, "lesiond train: --append-dims: A:B with 0 <= A < B, or none\n");
			return 2;
		}
	} else if (!strcmp(from, "builtin") || !strcmp(from, "images")) {
		lo.append_lo = DESC_LOC_OFF;
		lo.append_hi = DESC_RAW_DIM;
	}
	if (append_w && parse_real("--append-weight", append_w, &lo.append_w))
		return 2;
	lo.from = from;
	lo.to = to;
	lo.force = force != NULL;
	if ((dim && parse_int("--dim", dim, 1, 4096, &lo.tp.dim_out)) ||
	    (hidden && parse_int("--hidden", hidden, 0, 16384, &lo.tp.hidden)) ||
	    (epochs && parse_int("--epochs", epochs, 1, 100000, &lo.tp.epochs)) ||
	    (threads && parse_int("--threads", threads, 1, 64, &lo.tp.threads)) ||
	    (lr && parse_real("--lr", lr, &lo.tp.lr)) ||
	    (batch && parse_int("--batch", batch, 1, 1 << 20, &lo.tp.batch)) ||
	    (pseudo_every && parse_int("--pseudo-every", pseudo_every, 0, 100000,
				       &lo.tp.pseudo_every)) ||
	    (near_q && parse_real("--near-q", near_q, &lo.tp.near_q)) ||
	    (similar_q && parse_real("--similar-q", similar_q, &lo.tp.similar_q)) ||
	    (keep && parse_real("--keep-source", keep, &lo.keep_source)) ||
	    (scale && strcmp(scale, "global") && strcmp(scale, "per-dim")) ||
	    (margin && parse_real("--margin", margin, &lo.tp.margin)))
		return 2;
	if (seed) {
		if (parse_i64(seed, 0, INT64_MAX, &sd)) {
			fprintf(stderr, "lesiond train: --seed: '%s' is not a non-negative integer\n",
				seed);
			return 2;
		}
		lo.tp.seed = (uint64_t)sd;
	}
	if (!strcmp(eval_split, "none")) {
		lo.eval_split = 0;
	} else if ((lo.eval_split = lesion_split_parse(eval_split)) < 0) {
		fprintf(stderr, "lesiond train: --eval-split: '%s' is not train, val, test or none\n",
			eval_split);
		return 2;
	}
	if (train_params_check(&lo.tp, err)) {
		fprintf(stderr, "lesiond train: %s\n", err);
		return 2;
	}
	if (labels) {
		if (eval_read_truth(labels, &types, &tracks, &lo.labels_n, err)) {
			fprintf(stderr, "lesiond train: %s\n", err);
			return 1;
		}
		lo.labels = types;
		lo.labels_name = labels;
	}
	if (offline_open(&cfg, "train", &o))
		goto out_free;
	if (!strcmp(from, "images")) {
		struct learn_cnn_opts co;
		struct learn_cnn_report cr;

		memset(&co, 0, sizeof(co));
		cnn_params_default(&co.cp);
		co.cp.tp = lo.tp;
		co.cp.arch.dim = lo.tp.dim_out;
		co.append_w = append && !strcmp(append, "none") ? 0 : lo.append_w;
		co.fuse = 1;		/* fused by default (README: measured) */
		co.loc_code = 1;	/* idem */
		co.tta.orient = 1;
		co.tta.shift_mm = 0;
		if ((width && parse_int("--width", width, 4, 64, &co.cp.arch.width)) ||
		    (side && parse_int("--side", side, 16, 128, &co.cp.arch.side)) ||
		    (mm_px && parse_real("--mm-px", mm_px, &co.cp.arch.mm_px)) ||
		    (centre && parse_int("--centre-pool", centre, 0, 1, &co.cp.arch.centre)) ||
		    (type_head && parse_real("--type-head", type_head, &co.cp.cls_w)) ||
		    (lr_end && parse_real("--lr-end", lr_end, &co.cp.lr_end)) ||
		    (wd && parse_real("--weight-decay", wd, &co.cp.wd)) ||
		    (dihedral && parse_int("--dihedral", dihedral, 0, 1, &co.cp.dihedral)) ||
		    (dropout && parse_real("--dropout", dropout, &co.cp.drop)) ||
		    (fuse && parse_int("--fuse-builtin", fuse, 0, 1, &co.fuse)) ||
		    (loc_code && parse_int("--location-code", loc_code, 0, 1, &co.loc_code)) ||
		    (tta_orient && parse_int("--tta-orient", tta_orient, 1, 4, &co.tta.orient)) ||
		    (tta_shift && parse_real("--tta-shift", tta_shift, &co.tta.shift_mm))) {
			rc = 2;
			goto out;
		}
		if (co.tta.orient == 3 || !(co.tta.shift_mm >= 0 && co.tta.shift_mm <= 20)) {
			fprintf(stderr, "lesiond train: --tta-orient is 1, 2 or 4 and --tta-shift "
				"0..20 mm\n");
			rc = 2;
			goto out;
		}
		if (cnn_arch_check(&co.cp.arch, err)) {
			fprintf(stderr, "lesiond train: %s\n", err);
			rc = 2;
			goto out;
		}
		co.to = to;
		co.images = cfg.images;
		co.labels = lo.labels;
		co.labels_n = lo.labels_n;
		co.labels_name = labels;
		co.eval_split = lo.eval_split;
		co.force = lo.force;
		co.progress = on_cnn_epoch;
		co.note = on_note;
		g.tty = 0;
		g.t0 = now_ms();
		co.ctx = &g;
		r = learn_cnn_train(o.st, o.sp, o.cat, &co, &cr, err);
		if (r) {
			fprintf(stderr, "lesiond train: %s\n", err);
			rc = r == LEARN_REFUSED ? 2 : 1;
			goto out;
		}
		printf("train: space %s (CNN %d px at %g mm/px, width %d, dim %d%s) from images: %zu "
		       "lesions, %zu without images (%zu unreadable), %zu labelled (%s), %zu held out "
		       "(%s split), %d pseudo-labelled\n", to, co.cp.arch.side, co.cp.arch.mm_px,
		       co.cp.arch.width, co.cp.arch.dim, co.append_w > 0 ? " + location, size" : "",
		       cr.lesions, cr.missing, cr.failed, cr.labelled, labels ? labels : "catalog types",
		       cr.held_out, lo.eval_split ? lesion_split_name(lo.eval_split) : "no",
		       cr.n_pseudo);
		if (cr.eval_labels)
			printf("train: ignored the types of %zu %s-split lesions in %s (--force)\n",
			       cr.eval_labels, lesion_split_name(lo.eval_split), labels);
		printf("train: patches in %.1f s; %d epochs in %.1f s, final loss %.5f, val 5-NN %.3f; "
		       "%zu vectors written in %.1f s total; model stored in the database\n",
		       cr.patch_seconds, co.cp.tp.epochs, cr.train_seconds, cr.final_loss,
		       cr.final_val, cr.stored, cr.seconds);
		rc = 0;
		goto out;
	}
	if (!offline_space(&o, "train", from))
		goto out;
	g.tty = isatty(2);
	g.t0 = now_ms();
	lo.progress = on_epoch;
	lo.ctx = &g;
	r = learn_train(o.st, o.sp, o.cat, &lo, &rep, err);
	if (r) {
		fprintf(stderr, "lesiond train: %s\n", err);
		rc = r == LEARN_REFUSED ? 2 : 1;
		goto out;
	}
	printf("train: space %s (dim %d, %s) from %s: %zu lesions, %zu labelled (%s), %zu held "
	       "out (%s split), %d pseudo-labelled\n", to, lo.tp.dim_out,
	       lo.tp.hidden ? "one hidden layer" : "linear", from, rep.samples, rep.labelled,
	       labels ? labels : "catalog types", rep.held_out,
	       lo.eval_split ? lesion_split_name(lo.eval_split) : "no", rep.n_pseudo);
	if (rep.eval_labels)
		printf("train: ignored the types of %zu %s-split lesions in %s (--force)\n",
		       rep.eval_labels, lesion_split_name(lo.eval_split), labels);
	printf("train: %d epochs in %.2f s (%.1f ms/epoch), final loss %.5f; %zu vectors written "
	       "(%zu failed) in %.2f s total; model stored in the database\n", lo.tp.epochs,
	       rep.train_seconds, 1000.0 * rep.train_seconds / lo.tp.epochs, rep.final_loss,
	       rep.projected, rep.failed, rep.seconds);
	rc = 0;
out:
	offline_close(&o);
out_free:
	free(types);
	free(tracks);
	return rc;
}
