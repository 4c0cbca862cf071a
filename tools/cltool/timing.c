/* Timed runs: warm-ups, then as many runs as fill a time budget. */
#include "timing.h"

#include <stdlib.h>

#define MIN_RUNS 3
#define MAX_RUNS 100000

/* Seconds between two profiling points of (possibly) two events. */
int event_span(cl_event first, cl_profiling_info first_point, cl_event last,
               double *seconds)
{
    cl_ulong begin = 0, end = 0;
    cl_int code =
        clGetEventProfilingInfo(first, first_point, sizeof begin, &begin, NULL);
    if (code == CL_SUCCESS)
        code = clGetEventProfilingInfo(last, CL_PROFILING_COMMAND_END,
                                       sizeof end, &end, NULL);
    if (code != CL_SUCCESS)
        return code;
    *seconds = end >= begin ? 1e-9 * (double)(end - begin) : 0.0;
    return CL_SUCCESS;
}

/* A run this many budgets long is timed once: a slow kernel must not
 * stall the bench, and the runs column tells the reader. */
#define LONG_RUN_BUDGETS 4

/* The last warm-up tells how long one run takes. */
static unsigned planned_runs(double one_run, double budget, unsigned repeat)
{
    if (repeat)
        return repeat;
    if (one_run >= LONG_RUN_BUDGETS * budget)
        return 1;
    if (one_run <= 0)
        return MAX_RUNS;
    const double runs = budget / one_run;
    if (runs < MIN_RUNS)
        return MIN_RUNS;
    return runs > MAX_RUNS ? MAX_RUNS : (unsigned)runs;
}

/* The first warm-up pays for program builds and first touches of the
 * buffers; a second one gives a steady-state time, unless the first was
 * so long that a build cannot have mattered. */
static int warm_up(timed_run run, void *state, double budget, double *seconds)
{
    int status = run(state, seconds);
    if (status == 0 && *seconds < LONG_RUN_BUDGETS * budget)
        status = run(state, seconds);
    return status;
}

int time_runs(timed_run run, void *state, double budget, unsigned repeat,
              timing *result)
{
    double seconds = 0;
    int status = warm_up(run, state, budget, &seconds);
    if (status)
        return status;

    const unsigned runs = planned_runs(seconds, budget, repeat);
    double *times = malloc(runs * sizeof *times);
    if (!times)
        return -1;
    for (unsigned i = 0; i < runs && status == 0; i++)
        status = run(state, &times[i]);
    if (status == 0) {
        result->runs = runs;
        result->best = min_of(times, runs);
        result->median = median_of(times, runs);
    }
    free(times);
    return status;
}
