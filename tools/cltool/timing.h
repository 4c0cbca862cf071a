/* Timed runs with warm-ups and a time budget, and profiling spans. */
#ifndef CLTOOL_TIMING_H
#define CLTOOL_TIMING_H

#include "cltool.h"

/* One run: its time in *seconds; returns 0, or non-zero to stop. */
typedef int (*timed_run)(void *state, double *seconds);

typedef struct timing {
    unsigned runs; /* timed runs, after the warm-ups */
    double median; /* seconds */
    double best;
} timing;

/*
 * One or two warm-up runs, then `repeat` timed runs, or (repeat 0) as
 * many as fill `budget` seconds by the warm-up's time: at least 3, or
 * just 1 when one run takes 4 budgets or more. Returns 0 or what run
 * returned.
 */
int time_runs(timed_run run, void *state, double budget, unsigned repeat,
              timing *result);

/* Seconds from first_point of `first` to the end of `last`; an OpenCL
 * code. */
int event_span(cl_event first, cl_profiling_info first_point, cl_event last,
               double *seconds);

#endif /* CLTOOL_TIMING_H */
