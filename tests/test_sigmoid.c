/*
 * The sigmoid family against the float64 reference: binary and binary
 * focal, from logits and probabilities, every option, both reporting
 * conventions and every reduction; then the edge cases.
 */
#include "support.h"

#include <criterion/criterion.h>

typedef enum option {
    PLAIN,
    SMOOTHING,
    SAMPLE_WEIGHTS,
    ELEMENT_WEIGHTS,
    POS_WEIGHT,
    BALANCING,
    HARD_TARGETS,
    UPSTREAM,
    THRESHOLD,
    EVERYTHING,
    OPTION_COUNT
} option;

static int apply(problem_spec *spec, option o)
{
    switch (o) {
    case PLAIN:
        return 1;
    case SMOOTHING:
        spec->loss.label_smoothing = 0.2f;
        return 1;
    case SAMPLE_WEIGHTS:
        spec->sample_weights = 1;
        return 1;
    case ELEMENT_WEIGHTS:
        spec->element_weights = 1;
        return 1;
    case POS_WEIGHT:
        spec->pos_weight = 1;
        return 1;
    case BALANCING:
        spec->loss.class_balancing = 1;
        return spec->loss.kind == CLXENT_LOSS_BINARY_FOCAL;
    case HARD_TARGETS:
        spec->hard_targets = 1;
        spec->loss.hard_targets = 1;
        return 1;
    case UPSTREAM:
        spec->upstream = 1;
        spec->upstream_scale = 2.0f;
        return spec->loss.reduction == CLXENT_REDUCTION_NONE;
    case THRESHOLD:
        spec->loss.threshold = spec->loss.from_logits ? 0.5f : 0.3f;
        return 1;
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

static void check_kind(clxent_loss_kind kind)
{
    /* One output, a short row, one whole vector chunk, and rows of two
     * whole chunks and a tail. */
    const clxent_shape shapes[] = {
        { 9, 1, 1 }, { 7, 5, 1 }, { 130, 16, 1 }, { 20, 37, 1 }
    };
    uint64_t seed = test_seed();
    for (int logits = 0; logits <= 1; logits++)
        for (int per_element = 0; per_element <= 1; per_element++)
            for (int r = 0; r < CLXENT_REDUCTION_COUNT; r++)
                for (int o = 0; o < OPTION_COUNT; o++)
                    for (size_t s = 0; s < 4; s++) {
                        problem_spec spec = spec_defaults(kind);
                        spec.loss.from_logits = logits;
                        spec.loss.per_element = per_element;
                        spec.loss.reduction = (clxent_reduction)r;
                        spec.shape = shapes[s];
                        spec.in_place = s >= 2 && o % 2 == 0;
                        if (!apply(&spec, (option)o))
                            continue;
                        check_problem(&spec, seed++);
                    }
}

Test(sigmoid, binary)
{
    check_kind(CLXENT_LOSS_BINARY);
}

Test(sigmoid, binary_focal)
{
    check_kind(CLXENT_LOSS_BINARY_FOCAL);
}

Test(sigmoid, focal_gamma_zero_is_crossentropy)
{
    problem_spec spec = spec_defaults(CLXENT_LOSS_BINARY_FOCAL);
    spec.loss.gamma = 0.0f;
    spec.shape = (clxent_shape){ 33, 4, 1 };
    check_problem(&spec, test_seed());
    spec.loss.from_logits = 0;
    check_problem(&spec, test_seed() + 1);
}

Test(sigmoid, extreme_logits_stay_finite)
{
    problem_spec spec = spec_defaults(CLXENT_LOSS_BINARY);
    spec.logit_range = 1e4;
    spec.shape = (clxent_shape){ 64, 8, 1 };
    check_problem(&spec, test_seed());
    spec.loss.kind = CLXENT_LOSS_BINARY_FOCAL;
    check_problem(&spec, test_seed() + 1);
}

Test(sigmoid, many_rows_not_a_multiple_of_a_group)
{
    problem_spec spec = spec_defaults(CLXENT_LOSS_BINARY);
    spec.shape = (clxent_shape){ 10007, 3, 1 };
    check_problem(&spec, test_seed());
}

/* Probabilities of exactly 0 and 1 meet targets of 0 and 1: the clip
 * keeps every loss finite, and the gradient is zero where it bites. */
Test(sigmoid, probabilities_of_exactly_zero_and_one)
{
    const float predictions[8] = { 0.0f, 1.0f, 0.0f, 1.0f,
                                   0.5f, 1.0f, 0.0f, 0.25f };
    const float targets[8] = { 0.0f, 0.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.0f };
    const clxent_loss_kind kinds[] = { CLXENT_LOSS_BINARY,
                                       CLXENT_LOSS_BINARY_FOCAL };
    for (size_t k = 0; k < 2; k++)
        for (int r = 0; r < CLXENT_REDUCTION_COUNT; r++) {
            problem_spec spec = spec_defaults(kinds[k]);
            spec.loss.from_logits = 0;
            spec.loss.reduction = (clxent_reduction)r;
            spec.shape = (clxent_shape){ 2, 4, 1 };
            spec.fixed_predictions = predictions;
            spec.fixed_targets = targets;
            check_problem(&spec, test_seed());
        }
}

/* Rows whose targets are all 0 or all 1, the corners of multi-label. */
Test(sigmoid, all_zero_and_all_one_targets)
{
    const float targets[2 * 6] = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1 };
    for (int logits = 0; logits <= 1; logits++) {
        problem_spec spec = spec_defaults(CLXENT_LOSS_BINARY);
        spec.loss.from_logits = logits;
        spec.shape = (clxent_shape){ 2, 6, 1 };
        spec.fixed_targets = targets;
        spec.pos_weight = 1;
        check_problem(&spec, test_seed());
        spec.loss.kind = CLXENT_LOSS_BINARY_FOCAL;
        spec.loss.class_balancing = 1;
        check_problem(&spec, test_seed() + 1);
    }
}
