/* graph_mk.h - the lesion the graph unit tests (test_graph.c, test_graph_fit.c) build
 * their hand cases from: only what the matcher reads (patient, study, series, the
 * normalised location, the long diameter with a short one 0.6 of it, the coarse type). */
#ifndef LSD_GRAPH_MK_H
#define LSD_GRAPH_MK_H
#include <stdint.h>
#include <string.h>

#include "lesion.h"

static inline struct lesion unit_lesion(int64_t id, int patient, int study, int series,
					double x, double y, double z, double long_mm, int type)
{
	struct lesion l;

	memset(&l, 0, sizeof(l));
	l.id = id;
	l.patient = patient;
	l.study = study;
	l.series = series;
	l.loc[0] = x;
	l.loc[1] = y;
	l.loc[2] = z;
	l.diam_mm[0] = long_mm;
	l.diam_mm[1] = long_mm * 0.6;
	l.type = type;
	return l;
}
#endif
