/*
 * What the device suites share: one context per test process, random
 * problems, and the comparison of the library with the float64 reference
 * under the written tolerances.
 *
 * Tolerances (f32 storage, float math on the device):
 *   loss values     |got - want| <= 1e-6 + 1e-5 * |want|
 *   gradients       |got - want| <= 1e-6 * g + 1e-5 * |want|, g the
 *                   largest |want| of the gradient (so rows scaled by a
 *                   mean keep an absolute floor that scales with them)
 *   focal kinds and probabilities: the relative part is 3e-5 (pow and
 *   the renormalisation cost a few more ulps)
 *   NaN and Inf pass only where the reference has the same value.
 */
#ifndef CLXENT_TEST_SUPPORT_H
#define CLXENT_TEST_SUPPORT_H

#include <clxent.h>

#include "reference.h"

/* The context of this test process, opened on first use on the device
 * CLXENT_DEVICE names. Criterion runs each test in its own process. */
clxent_context *test_context(void);

/* The last message the library logged on the test context. */
const char *last_logged(void);

/* The seed of this run: CLXENT_TEST_SEED, else the clock. */
uint64_t test_seed(void);

/* One random problem: what to generate and which options to use. */
typedef struct problem_spec {
    clxent_loss loss;
    clxent_shape shape;
    clxent_dtype label_dtype;
    int class_weights;
    int class_alpha;
    int sample_weights;
    int element_weights;
    int pos_weight;
    int upstream; /* per-value upstream (NONE only) */
    float upstream_scale;
    int gradient;
    int in_place; /* gradient written over the predictions */
    int accuracy;
    int hard_targets;    /* one-hot / 0-1 targets instead of soft ones */
    double logit_range;  /* logits uniform in [-range, range] */
    double ignore_share; /* share of sparse rows given ignore_class */
    /* Fixed inputs instead of random ones, when given (dense targets). */
    const float *fixed_predictions;
    const float *fixed_targets;
} problem_spec;

/* A spec with the kind's defaults: from logits, 2 rows of 3, gradient
 * and accuracy on, logits in [-4, 4]. */
problem_spec spec_defaults(clxent_loss_kind kind);

/* Generates the problem from `seed`, runs the library and the reference
 * and asserts that they agree; returns the library's status. */
clxent_status check_problem(const problem_spec *spec, uint64_t seed);

/* The same comparison on any context, without Criterion's assertions (so
 * that any thread may call it): the number of disagreements, the first
 * of them as lines of text in `report`. */
size_t problem_disagreements(clxent_context *context, const problem_spec *spec,
                             uint64_t seed, char *report, size_t report_size);

#endif
