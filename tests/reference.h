/*
 * An independent float64 reference for the losses of clxent, written from
 * the semantics table of README.md alone. The test suites and `cltool check`
 * compare the OpenCL kernels with it, so it favours plain, checkable arithmetic
 * over speed: one row at a time, long double sums, a stable log-softmax.
 */
#ifndef CLXENT_REFERENCE_H
#define CLXENT_REFERENCE_H

#include <clxent.h>

#include <stddef.h>
#include <stdint.h>

/*
 * One loss computation. The arrays use the layouts of the semantics table of
 * README.md: predictions (and dense targets) N x C x S, score of class c of row
 * n*S + s at (n*C + c)*S + s. Optional arrays are NULL when absent.
 */
typedef struct ref_problem {
    clxent_loss loss;
    clxent_shape shape;
    const double *predictions;     /* logits or probabilities */
    const double *targets;         /* dense kinds: same layout; else NULL */
    const int64_t *labels;         /* sparse kinds: one per loss row */
    const double *class_weights;   /* C; softmax family */
    const double *class_alpha;     /* C; categorical focal */
    const double *sample_weights;  /* one per loss row (sigmoid: per row n) */
    const double *element_weights; /* N x K; sigmoid family */
    const double *pos_weight;      /* K; sigmoid family */
    const double *upstream;        /* NONE only: one per loss value */
    double upstream_scale;
} ref_problem;

/*
 * What ref_compute writes. The caller allocates `loss` with
 * ref_loss_count() values and `gradient` with rows * classes * spatial
 * values (or leaves it NULL).
 */
typedef struct ref_result {
    double *loss;
    double *gradient;
    uint64_t correct; /* rows (sigmoid: elements) counted correct */
    /* CLXENT_OK or the first problem found. INVALID_LOSS,
     * INVALID_REDUCTION, INVALID_SHAPE, NULL_ARGUMENT, INVALID_OPTION:
     * nothing is written. NON_FINITE_INPUT (with check_finite; it wins
     * over the next two), INVALID_LABEL, INVALID_TARGET: every output
     * is written, and a loss value with a bad label or target is zero,
     * has zero gradient and counts for nothing. OUT_OF_MEMORY. */
    clxent_status status;
    int64_t bad_index; /* row or element the status names, else -1 */
} ref_result;

/*
 * The defaults clxent.h documents for a loss (Keras's), filled here so
 * that the reference runs without the library. ignore_class, which the
 * header leaves open, is -100 (PyTorch's); it counts only with
 * use_ignore_class.
 */
clxent_loss ref_loss_defaults(clxent_loss_kind kind);

/* ref_loss_defaults(kind), every optional array absent, upstream_scale 1. */
ref_problem ref_problem_defaults(clxent_loss_kind kind);

/* Loss values written: 1 when reduced; with NONE rows * spatial for the
 * softmax family, rows (per-sample) or rows * classes (per-element) for
 * the sigmoid family. */
size_t ref_loss_count(const clxent_loss *loss, const clxent_shape *shape);

/* rows * classes * spatial, the size of predictions and gradient. */
size_t ref_value_count(const clxent_shape *shape);

/* Loss, gradient, accuracy count and label/target validation. */
void ref_compute(const ref_problem *problem, ref_result *result);

#endif /* CLXENT_REFERENCE_H */
