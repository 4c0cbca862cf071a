/*
 * The softmax family against the float64 reference: every kind, input
 * kind, option, reduction and layout that makes sense, on fresh random
 * inputs; then the edge cases. Tolerances are in support.h.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <math.h>

static const clxent_reduction reductions[] = { CLXENT_REDUCTION_NONE,
                                               CLXENT_REDUCTION_SUM,
                                               CLXENT_REDUCTION_MEAN,
                                               CLXENT_REDUCTION_WEIGHTED_MEAN };

/* Options tried one by one on top of the plain loss. */
typedef enum option {
    PLAIN,
    SMOOTHING,
    CLASS_WEIGHTS,
    SAMPLE_WEIGHTS,
    IGNORE,
    CLASS_ALPHA,
    Z_LOSS,
    LOGIT_CAP,
    TOP_K,
    UPSTREAM,
    EVERYTHING,
    OPTION_COUNT
} option;

static int is_sparse(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

static int is_focal(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_CATEGORICAL_FOCAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

/* Applies one option; returns 0 where it does not make sense. */
static int apply(problem_spec *spec, option o)
{
    const int logits = spec->loss.from_logits;
    const int sparse = is_sparse(spec->loss.kind);
    const int none = spec->loss.reduction == CLXENT_REDUCTION_NONE;
    switch (o) {
    case PLAIN:
        return 1;
    case SMOOTHING:
        spec->loss.label_smoothing = 0.1f;
        return 1;
    case CLASS_WEIGHTS:
        spec->class_weights = 1;
        return 1;
    case SAMPLE_WEIGHTS:
        spec->sample_weights = 1;
        return 1;
    case IGNORE:
        spec->loss.use_ignore_class = 1;
        spec->loss.ignore_class = -100;
        spec->ignore_share = 0.3;
        return sparse;
    case CLASS_ALPHA:
        spec->class_alpha = 1;
        return is_focal(spec->loss.kind);
    case Z_LOSS:
        spec->loss.z_loss = 1e-2f;
        return logits;
    case LOGIT_CAP:
        spec->loss.logit_cap = 3.0f;
        return logits;
    case TOP_K:
        spec->loss.top_k = 3;
        return 1;
    case UPSTREAM:
        spec->upstream = 1;
        spec->upstream_scale = 0.5f;
        return none;
    case EVERYTHING:
        for (int other = SMOOTHING; other < EVERYTHING; other++) {
            problem_spec trial = *spec;
            if (apply(&trial, (option)other))
                *spec = trial;
        }
        return 1;
    default:
        return 0;
    }
}

/* Every option and reduction of one kind, on narrow rows, wide rows,
 * N x C x S tensors, rows of whole vector chunks and a tail, and two
 * rows of 8200. Which kernel path a shape takes depends on the device's
 * work shape: on a CPU, rows of up to 32 classes and N x C x S tensors
 * go sixteen to a work-item, one a vector lane (7 x 5 and 3 x 6 x 5 in
 * one short group, 40 x 20 and 2 x 7 x 40 in whole groups and a short
 * one), and wider contiguous rows one per work-item as vectors; with the
 * GPU shape (test setup gpushape) rows of 128 classes or more
 * go to work-groups of 256 lanes, and the two rows of 8200 are split
 * over two work-groups each (two compute units want 8 groups, and a
 * lane keeps 16 classes). */
static void check_kind(clxent_loss_kind kind)
{
    const clxent_shape shapes[] = { { 7, 5, 1 },   { 9, 70, 1 },
                                    { 3, 6, 5 },   { 40, 20, 1 },
                                    { 5, 150, 1 }, { 2, 8200, 1 },
                                    { 2, 7, 40 } };
    uint64_t seed = test_seed();
    for (int logits = 0; logits <= 1; logits++)
        for (size_t r = 0; r < 4; r++)
            for (int o = 0; o < OPTION_COUNT; o++)
                for (size_t s = 0; s < 7; s++) {
                    problem_spec spec = spec_defaults(kind);
                    spec.loss.from_logits = logits;
                    spec.loss.reduction = reductions[r];
                    spec.shape = shapes[s];
                    spec.label_dtype = (o % 2) ? CLXENT_I64 : CLXENT_I32;
                    spec.in_place = (s == 1 || s >= 3) && o % 3 == 0;
                    /* Accuracy is asked for or not (the kernels take other
                     * paths without it), always with top-k. */
                    spec.accuracy = r % 2 == 0 || o == TOP_K;
                    if (!apply(&spec, (option)o))
                        continue;
                    check_problem(&spec, seed++);
                }
}

Test(softmax, categorical)
{
    check_kind(CLXENT_LOSS_CATEGORICAL);
}

Test(softmax, categorical_one_hot)
{
    problem_spec spec = spec_defaults(CLXENT_LOSS_CATEGORICAL);
    spec.hard_targets = 1;
    spec.shape = (clxent_shape){ 40, 9, 1 };
    check_problem(&spec, test_seed());
}

Test(softmax, sparse_categorical)
{
    check_kind(CLXENT_LOSS_SPARSE_CATEGORICAL);
}

Test(softmax, categorical_focal)
{
    check_kind(CLXENT_LOSS_CATEGORICAL_FOCAL);
}

Test(softmax, sparse_categorical_focal)
{
    check_kind(CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL);
}

Test(softmax, focal_gamma_zero_is_crossentropy_times_alpha)
{
    problem_spec spec = spec_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL);
    spec.loss.gamma = 0.0f;
    check_problem(&spec, test_seed());
}

Test(softmax, extreme_logits_stay_finite)
{
    const clxent_loss_kind kinds[] = { CLXENT_LOSS_CATEGORICAL,
                                       CLXENT_LOSS_SPARSE_CATEGORICAL,
                                       CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL };
    for (size_t k = 0; k < 3; k++) {
        problem_spec spec = spec_defaults(kinds[k]);
        spec.logit_range = 1e4;
        spec.shape = (clxent_shape){ 16, 50, 1 };
        check_problem(&spec, test_seed() + k);
    }
}

Test(softmax, one_and_two_classes_one_row)
{
    const clxent_shape shapes[] = {
        { 5, 1, 1 }, { 5, 2, 1 }, { 1, 4, 1 }, { 1, 1, 1 }
    };
    for (size_t s = 0; s < 4; s++) {
        problem_spec spec = spec_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
        spec.shape = shapes[s];
        check_problem(&spec, test_seed() + s);
        spec.loss.kind = CLXENT_LOSS_CATEGORICAL;
        check_problem(&spec, test_seed() + s);
    }
}

Test(softmax, rows_not_a_multiple_of_any_group)
{
    problem_spec spec = spec_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    spec.shape = (clxent_shape){ 4099, 37, 1 };
    check_problem(&spec, test_seed());
    spec.shape = (clxent_shape){ 1031, 3, 1 };
    check_problem(&spec, test_seed() + 1);
}

Test(softmax, very_wide_rows)
{
    problem_spec spec = spec_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    spec.shape = (clxent_shape){ 3, 131072, 1 };
    spec.loss.label_smoothing = 0.1f;
    spec.loss.z_loss = 1e-4f;
    check_problem(&spec, test_seed());
    spec.loss.kind = CLXENT_LOSS_CATEGORICAL;
    spec.loss.from_logits = 0;
    spec.loss.z_loss = 0.0f;
    check_problem(&spec, test_seed() + 1);
}

Test(softmax, all_rows_ignored)
{
    problem_spec spec = spec_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    spec.loss.use_ignore_class = 1;
    spec.loss.ignore_class = 2;
    spec.ignore_share = 1.0;
    spec.shape = (clxent_shape){ 6, 3, 1 };
    check_problem(&spec, test_seed());
    spec.loss.empty_mean_is_nan = 1;
    check_problem(&spec, test_seed());
    spec.loss.reduction = CLXENT_REDUCTION_WEIGHTED_MEAN;
    spec.sample_weights = 1;
    check_problem(&spec, test_seed());
}
