/*
 * The tolerances support.h writes down, as code that needs no test
 * framework, so that the Criterion suites and the fuzz harness judge the
 * library by the same rules.
 */
#ifndef CLXENT_TEST_TOLERANCE_H
#define CLXENT_TEST_TOLERANCE_H

#include <clxent.h>

#include <math.h>

/* The relative part: focal kinds and probabilities cost a few more ulps
 * (pow, the renormalisation). */
static inline double relative_tolerance(const clxent_loss *loss)
{
    const int focal = loss->kind == CLXENT_LOSS_CATEGORICAL_FOCAL ||
                      loss->kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL ||
                      loss->kind == CLXENT_LOSS_BINARY_FOCAL;
    return focal || !loss->from_logits ? 3e-5 : 1e-5;
}

/* Same value within tolerance; NaN and Inf only where the reference has
 * the same. */
static inline int agrees(double got, double want, double absolute,
                         double relative)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got))
        return got == want;
    return fabs(got - want) <= absolute + relative * fabs(want);
}

#endif /* CLXENT_TEST_TOLERANCE_H */
