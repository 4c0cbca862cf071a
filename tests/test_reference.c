/*
 * Checks the float64 reference on its own, before anything is compared
 * with it: its analytic gradient against central differences of its own
 * loss, over every combination of kind, input, option, reduction and
 * layout that makes sense, and its values against small cases worked out
 * by hand in the comments.
 *
 * Random inputs come from REF_TEST_SEED (a fixed default otherwise);
 * every failure message names the seed and the case.
 */
#include "reference.h"
#include "rng.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_CLASSES 8
#define MAX_VALUES  256

/* Relative-and-absolute closeness; NaN never passes. */
#define assert_close(actual, expected, tolerance)                              \
    do {                                                                       \
        const double actual_ = (actual), expected_ = (expected);               \
        cr_assert(fabs(actual_ - expected_) <=                                 \
                      (tolerance) * (1 + fabs(expected_)),                     \
                  "%s = %.17g, expected %.17g", #actual, actual_, expected_);  \
    } while (0)

#define TIGHT 1e-12

/* A problem together with the arrays it points into. */
typedef struct case_data {
    ref_problem problem;
    double predictions[MAX_VALUES];
    double targets[MAX_VALUES];
    double element_weights[MAX_VALUES];
    double upstream[MAX_VALUES];
    double sample_weights[MAX_VALUES];
    int64_t labels[MAX_VALUES];
    double class_weights[MAX_CLASSES];
    double class_alpha[MAX_CLASSES];
    double pos_weight[MAX_CLASSES];
    char name[200];
} case_data;

enum case_option {
    OPT_SMOOTHING = 1 << 0,
    OPT_SAMPLE_WEIGHTS = 1 << 1,
    OPT_UPSTREAM = 1 << 2,
    OPT_CLASS_WEIGHTS = 1 << 3,
    OPT_IGNORE_CLASS = 1 << 4,
    OPT_Z_LOSS = 1 << 5,
    OPT_LOGIT_CAP = 1 << 6,
    OPT_CLASS_ALPHA = 1 << 7,
    OPT_ELEMENT_WEIGHTS = 1 << 8,
    OPT_POS_WEIGHT = 1 << 9,
    OPT_CLASS_BALANCING = 1 << 10,
    OPT_HARD_TARGETS = 1 << 11,
    OPT_ALL = (1 << 12) - 1
};

typedef struct case_config {
    clxent_loss_kind kind;
    int from_logits;
    clxent_reduction reduction;
    size_t spatial;  /* softmax family */
    int per_element; /* sigmoid family */
    unsigned options;
} case_config;

static ref_result compute(const ref_problem *problem, double *loss,
                          double *gradient)
{
    ref_result result = { 0 };

    result.loss = loss;
    result.gradient = gradient;
    ref_compute(problem, &result);
    return result;
}

static uint64_t base_seed(void)
{
    const char *text = getenv("REF_TEST_SEED");

    return text ? strtoull(text, NULL, 0) : 20240611u;
}

static int is_sigmoid_kind(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

static int is_sparse_kind(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

/* The options that mean something for a configuration. */
static unsigned applicable_options(const case_config *config)
{
    const clxent_loss_kind kind = config->kind;
    unsigned options = OPT_SMOOTHING | OPT_SAMPLE_WEIGHTS;

    if (config->reduction == CLXENT_REDUCTION_NONE)
        options |= OPT_UPSTREAM;
    if (is_sigmoid_kind(kind)) {
        options |= OPT_ELEMENT_WEIGHTS | OPT_POS_WEIGHT | OPT_HARD_TARGETS;
        if (kind == CLXENT_LOSS_BINARY_FOCAL)
            options |= OPT_CLASS_BALANCING;
        return options;
    }
    options |= OPT_CLASS_WEIGHTS;
    if (is_sparse_kind(kind))
        options |= OPT_IGNORE_CLASS;
    if (config->from_logits)
        options |= OPT_Z_LOSS | OPT_LOGIT_CAP;
    if (kind == CLXENT_LOSS_CATEGORICAL_FOCAL ||
        kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL)
        options |= OPT_CLASS_ALPHA;
    return options;
}

/* The scalar whose gradient ref_compute reports. */
static double objective(const ref_problem *problem)
{
    const size_t count = ref_loss_count(&problem->loss, &problem->shape);
    const int none = problem->loss.reduction == CLXENT_REDUCTION_NONE;
    double loss[MAX_VALUES];
    long double sum = 0;
    ref_result result = compute(problem, loss, NULL);

    cr_assert_eq(result.status, CLXENT_OK, "status %d", result.status);
    for (size_t i = 0; i < count; i++)
        sum +=
            loss[i] * (none && problem->upstream ? problem->upstream[i] : 1.0);
    return (double)sum * problem->upstream_scale;
}

/* Distance, in input units, to the nearest point where a clip bites. */
static double clip_margin(const case_data *data, size_t at)
{
    const ref_problem *problem = &data->problem;
    const double eps = problem->loss.epsilon;
    const double x = data->predictions[at];
    const size_t classes = problem->shape.classes;
    const size_t spatial =
        problem->shape.spatial > 1 ? problem->shape.spatial : 1;
    const size_t first =
        at / (classes * spatial) * classes * spatial + at % spatial;
    double total = 0;

    if (problem->loss.from_logits)
        return INFINITY;
    if (is_sigmoid_kind(problem->loss.kind)) /* focal: also 0 and 1 */
        return fmin(fmin(fabs(x - eps), fabs(x - (1 - eps))),
                    fmin(fabs(x), fabs(1 - x)));
    for (size_t c = 0; c < classes; c++)
        total += data->predictions[first + c * spatial];
    return fmin(fabs(x / total - eps), fabs(x / total - (1 - eps))) * total;
}

typedef struct gradient_mismatch {
    size_t at;
    double analytic;
    double numeric;
    double tolerance;
} gradient_mismatch;

/*
 * Compares `analytic` with central differences of objective(), entry by
 * entry. Steps stay inside the region where no clip changes, and the
 * tolerance adds the rounding error of a difference quotient.
 */
static int gradient_matches(case_data *data, const double *analytic,
                            gradient_mismatch *mismatch)
{
    const size_t count = ref_value_count(&data->problem.shape);

    for (size_t at = 0; at < count; at++) {
        const double x = data->predictions[at];
        const double step =
            fmin(1e-6 * fmax(1.0, fabs(x)), clip_margin(data, at) / 8);
        double up, down, numeric, tolerance;

        data->predictions[at] = x + step;
        up = objective(&data->problem);
        data->predictions[at] = x - step;
        down = objective(&data->problem);
        data->predictions[at] = x;

        numeric = (up - down) / ((x + step) - (x - step));
        tolerance = 1e-6 * (1 + fabs(analytic[at])) +
                    1e-15 * (1 + fabs(up) + fabs(down)) / step;
        if (!(fabs(numeric - analytic[at]) <= tolerance)) {
            *mismatch =
                (gradient_mismatch){ at, analytic[at], numeric, tolerance };
            return 0;
        }
    }
    return 1;
}

static void assert_gradient_matches(case_data *data)
{
    double loss[MAX_VALUES], gradient[MAX_VALUES];
    ref_result result = compute(&data->problem, loss, gradient);
    gradient_mismatch mismatch;

    cr_assert_eq(result.status, CLXENT_OK, "%s: status %d", data->name,
                 result.status);
    cr_assert(gradient_matches(data, gradient, &mismatch),
              "%s: gradient[%zu] = %.12g, differences give %.12g "
              "(tolerance %.3g)",
              data->name, mismatch.at, mismatch.analytic, mismatch.numeric,
              mismatch.tolerance);
}

static void point_problem(case_data *data, const case_config *config)
{
    ref_problem *problem = &data->problem;

    *problem = ref_problem_defaults(config->kind);
    problem->predictions = data->predictions;
    if (is_sparse_kind(config->kind))
        problem->labels = data->labels;
    else
        problem->targets = data->targets;
    problem->loss.from_logits = config->from_logits;
    problem->loss.reduction = config->reduction;
    problem->loss.per_element = config->per_element;
}

/* Options and weights shared by both families. */
static void random_common(case_data *data, const case_config *config,
                          size_t loss_rows, rng *generator)
{
    ref_problem *problem = &data->problem;
    const double scales[3] = { 1.0, -0.5, 2.5 };
    const double gammas[5] = { 0.0, 0.5, 1.0, 2.0, 3.5 };

    problem->upstream_scale = scales[rng_below(generator, 3)];
    problem->loss.gamma = (float)gammas[rng_below(generator, 5)];
    problem->loss.alpha = (float)rng_range(generator, 0.1, 0.9);
    if (config->options & OPT_SMOOTHING)
        problem->loss.label_smoothing = (float)rng_range(generator, 0.05, 0.3);
    if (config->options & OPT_SAMPLE_WEIGHTS) {
        for (size_t r = 0; r < loss_rows; r++)
            data->sample_weights[r] = rng_below(generator, 5) == 0
                                          ? 0.0
                                          : rng_range(generator, 0.1, 2.0);
        problem->sample_weights = data->sample_weights;
    }
    if (config->options & OPT_UPSTREAM) {
        for (size_t i = 0; i < MAX_VALUES; i++)
            data->upstream[i] = rng_range(generator, -1.0, 2.0);
        problem->upstream = data->upstream;
    }
}

static void random_softmax_targets(case_data *data, rng *generator)
{
    const clxent_shape *shape = &data->problem.shape;
    const size_t classes = shape->classes, spatial = shape->spatial;

    for (size_t r = 0; r < shape->rows * spatial; r++) {
        const size_t first = r / spatial * classes * spatial + r % spatial;
        const size_t hot = (size_t)rng_below(generator, classes);
        const int one_hot = rng_below(generator, 2) == 0;
        double total = 0;

        for (size_t c = 0; c < classes; c++) {
            double *target = &data->targets[first + c * spatial];

            *target = one_hot ? (c == hot) : rng_range(generator, 0.05, 1.0);
            total += *target;
        }
        for (size_t c = 0; c < classes; c++)
            data->targets[first + c * spatial] /= total;
    }
}

static void random_labels(case_data *data, const case_config *config,
                          rng *generator)
{
    ref_problem *problem = &data->problem;
    const size_t classes = problem->shape.classes;
    const size_t rows = problem->shape.rows * problem->shape.spatial;

    if (config->options & OPT_IGNORE_CLASS) {
        problem->loss.use_ignore_class = 1;
        problem->loss.ignore_class =
            rng_below(generator, 2) == 0
                ? -100
                : (int64_t)rng_below(generator, classes);
    }
    for (size_t r = 0; r < rows; r++) {
        data->labels[r] = (int64_t)rng_below(generator, classes);
        if (problem->loss.use_ignore_class && rng_below(generator, 3) == 0)
            data->labels[r] = problem->loss.ignore_class;
    }
}

static void random_softmax_case(case_data *data, const case_config *config,
                                rng *generator)
{
    ref_problem *problem = &data->problem;
    const size_t classes = 2 + (size_t)rng_below(generator, 4);
    size_t values;

    point_problem(data, config);
    problem->shape = (clxent_shape){ 1 + (size_t)rng_below(generator, 4),
                                     classes, config->spatial };
    values = ref_value_count(&problem->shape);
    for (size_t at = 0; at < values; at++)
        data->predictions[at] = config->from_logits
                                    ? rng_range(generator, -4.0, 4.0)
                                    : rng_range(generator, 0.05, 1.0);
    if (is_sparse_kind(config->kind))
        random_labels(data, config, generator);
    else
        random_softmax_targets(data, generator);

    random_common(data, config, problem->shape.rows * config->spatial,
                  generator);
    for (size_t c = 0; c < classes; c++) {
        data->class_weights[c] = rng_range(generator, 0.2, 2.0);
        data->class_alpha[c] = rng_range(generator, 0.1, 0.9);
    }
    if (config->options & OPT_CLASS_WEIGHTS)
        problem->class_weights = data->class_weights;
    if (config->options & OPT_CLASS_ALPHA)
        problem->class_alpha = data->class_alpha;
    if (config->options & OPT_Z_LOSS)
        problem->loss.z_loss = (float)rng_range(generator, 1e-3, 0.1);
    if (config->options & OPT_LOGIT_CAP)
        problem->loss.logit_cap = (float)rng_range(generator, 1.5, 5.0);
}

static void random_sigmoid_case(case_data *data, const case_config *config,
                                rng *generator)
{
    ref_problem *problem = &data->problem;
    const int hard = (config->options & OPT_HARD_TARGETS) != 0;
    size_t values;

    point_problem(data, config);
    problem->shape = (clxent_shape){ 1 + (size_t)rng_below(generator, 4),
                                     1 + (size_t)rng_below(generator, 4), 1 };
    problem->loss.hard_targets = hard;
    values = ref_value_count(&problem->shape);
    for (size_t at = 0; at < values; at++) {
        data->predictions[at] = config->from_logits
                                    ? rng_range(generator, -4.0, 4.0)
                                    : rng_range(generator, 0.02, 0.98);
        data->targets[at] =
            hard ? (double)rng_below(generator, 2) : rng_uniform(generator);
        data->element_weights[at] = rng_range(generator, 0.0, 2.0);
    }

    random_common(data, config, problem->shape.rows, generator);
    for (size_t k = 0; k < problem->shape.classes; k++)
        data->pos_weight[k] = rng_range(generator, 0.3, 3.0);
    if (config->options & OPT_ELEMENT_WEIGHTS)
        problem->element_weights = data->element_weights;
    if (config->options & OPT_POS_WEIGHT)
        problem->pos_weight = data->pos_weight;
    problem->loss.class_balancing =
        (config->options & OPT_CLASS_BALANCING) != 0;
}

static void random_case(case_data *data, const case_config *config,
                        uint64_t seed)
{
    rng generator = rng_seeded(seed);

    if (is_sigmoid_kind(config->kind))
        random_sigmoid_case(data, config, &generator);
    else
        random_softmax_case(data, config, &generator);
    snprintf(data->name, sizeof data->name,
             "seed %llu (REF_TEST_SEED=%llu): kind %d from_logits %d "
             "reduction %d spatial %zu per_element %d options 0x%03x "
             "gamma %g rows %zu classes %zu",
             (unsigned long long)seed, (unsigned long long)base_seed(),
             (int)config->kind, config->from_logits, (int)config->reduction,
             config->spatial, config->per_element, config->options,
             (double)data->problem.loss.gamma, data->problem.shape.rows,
             data->problem.shape.classes);
}

/* Every subset of the applicable options, each on two random inputs. */
static size_t check_all_options(case_config *config, uint64_t *seed)
{
    const unsigned applicable = applicable_options(config);
    size_t checked = 0;

    for (unsigned options = 0; options <= OPT_ALL; options++) {
        if (options & ~applicable)
            continue;
        config->options = options;
        for (int trial = 0; trial < 2; trial++) {
            case_data data;

            random_case(&data, config, (*seed)++);
            assert_gradient_matches(&data);
            checked++;
        }
    }
    return checked;
}

Test(gradient, softmax_family_every_combination)
{
    uint64_t seed = base_seed();
    size_t checked = 0;

    for (int kind = 0; kind < 4; kind++)
        for (int logits = 0; logits < 2; logits++)
            for (int reduction = 0; reduction < CLXENT_REDUCTION_COUNT;
                 reduction++)
                for (size_t spatial = 1; spatial <= 3; spatial += 2) {
                    case_config config = { (clxent_loss_kind)kind,
                                           logits,
                                           (clxent_reduction)reduction,
                                           spatial,
                                           0,
                                           0 };

                    checked += check_all_options(&config, &seed);
                }
    cr_log_info("softmax family: %zu gradients checked", checked);
    cr_assert_gt(checked, 1000);
}

Test(gradient, sigmoid_family_every_combination)
{
    uint64_t seed = base_seed() + 1000000;
    size_t checked = 0;

    for (int kind = CLXENT_LOSS_BINARY; kind <= CLXENT_LOSS_BINARY_FOCAL;
         kind++)
        for (int logits = 0; logits < 2; logits++)
            for (int reduction = 0; reduction < CLXENT_REDUCTION_COUNT;
                 reduction++)
                for (int per_element = 0; per_element < 2; per_element++) {
                    case_config config = { (clxent_loss_kind)kind,
                                           logits,
                                           (clxent_reduction)reduction,
                                           1,
                                           per_element,
                                           0 };

                    checked += check_all_options(&config, &seed);
                }
    cr_log_info("sigmoid family: %zu gradients checked", checked);
    cr_assert_gt(checked, 500);
}

/*
 * Probabilities where the clip bites: rows with components far below eps
 * (their own log p is constant, but they still move the others through
 * the renormalisation) and a row clipped at both ends, whose loss is
 * constant and whose gradient must be exactly zero.
 */
Test(gradient, softmax_probabilities_where_the_clip_bites)
{
    const double rows[3][3] = { { 0.7, 1e-9, 0.4 },
                                { 1e-10, 0.2, 2e-9 },
                                { 1.0, 1e-9, 1e-9 } };
    const clxent_loss_kind kinds[2] = { CLXENT_LOSS_CATEGORICAL,
                                        CLXENT_LOSS_CATEGORICAL_FOCAL };

    for (int k = 0; k < 2; k++) {
        for (int reduction = 0; reduction < 4; reduction++) {
            const case_config config = {
                kinds[k], 0, (clxent_reduction)reduction, 1, 0, 0
            };
            case_data data;
            double loss[3], gradient[9];

            point_problem(&data, &config);
            data.problem.shape = (clxent_shape){ 3, 3, 1 };
            for (size_t at = 0; at < 9; at++) {
                data.predictions[at] = rows[at / 3][at % 3];
                data.targets[at] = (at % 3 == 1) ? 0.6 : 0.2;
            }
            snprintf(data.name, sizeof data.name, "kind %d reduction %d",
                     (int)kinds[k], reduction);
            assert_gradient_matches(&data);

            compute(&data.problem, loss, gradient);
            for (size_t at = 6; at < 9; at++)
                cr_assert_eq(gradient[at], 0.0, "%s: entry %zu", data.name, at);
        }
    }
}

/*
 * Binary probabilities at and beyond the clip: plain binary has zero
 * gradient there, binary focal keeps the gradient of its factor, which
 * uses the unclipped probability.
 */
Test(gradient, binary_probabilities_where_the_clip_bites)
{
    const double x[6] = { 1e-9, 1 - 1e-8, 0.3, 1e-9, 1 - 1e-8, 0.8 };
    const double y[6] = { 1, 0, 1, 0, 1, 0.25 };

    for (int kind = CLXENT_LOSS_BINARY; kind <= CLXENT_LOSS_BINARY_FOCAL;
         kind++) {
        const case_config config = {
            (clxent_loss_kind)kind, 0, CLXENT_REDUCTION_SUM, 1, 1, 0
        };
        case_data data;
        double loss, gradient[6];

        point_problem(&data, &config);
        data.problem.shape = (clxent_shape){ 2, 3, 1 };
        for (size_t at = 0; at < 6; at++) {
            data.predictions[at] = x[at];
            data.targets[at] = y[at];
        }
        snprintf(data.name, sizeof data.name, "kind %d", kind);
        assert_gradient_matches(&data);

        compute(&data.problem, &loss, gradient);
        if (kind == CLXENT_LOSS_BINARY)
            cr_assert(gradient[0] == 0 && gradient[1] == 0);
        else
            cr_assert(gradient[0] < -1 && gradient[1] > 1,
                      "focal factor gradient lost: %g %g", gradient[0],
                      gradient[1]);
    }
}

/* The checker itself must reject a gradient that is slightly off. */
Test(gradient, checker_rejects_a_wrong_gradient)
{
    const case_config config = {
        CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL, 1, CLXENT_REDUCTION_MEAN, 3, 0,
        OPT_LOGIT_CAP | OPT_SMOOTHING
    };
    case_data data;
    double loss, gradient[MAX_VALUES];
    gradient_mismatch mismatch;
    size_t count;

    random_case(&data, &config, base_seed());
    count = ref_value_count(&data.problem.shape);
    compute(&data.problem, &loss, gradient);
    cr_assert(gradient_matches(&data, gradient, &mismatch), "%s", data.name);
    for (size_t at = 0; at < count; at += 5) {
        const double saved = gradient[at];

        gradient[at] += 1e-4 * (1 + fabs(saved));
        cr_assert_not(gradient_matches(&data, gradient, &mismatch),
                      "%s: entry %zu off by 1e-4 passed", data.name, at);
        gradient[at] = saved;
    }
}

/*
 * Four equal logits: p_c = 1/4, each row loses -log(1/4) = log 4 whatever
 * its label, so the mean over 2 rows is log 4, and d(mean)/dx of row r is
 * (p - onehot(label_r)) / 2: 0.125 off the label, -0.375 on it.
 */
Test(values, uniform_logits_give_log_classes)
{
    const double logits[8] = { 0 };
    const int64_t labels[2] = { 1, 3 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss, gradient[8];
    ref_result result;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 2, 4, 1 };
    problem.predictions = logits;
    problem.labels = labels;
    result = compute(&problem, &loss, gradient);

    cr_assert_eq(result.status, CLXENT_OK);
    assert_close(loss, log(4.0), TIGHT);
    for (size_t at = 0; at < 8; at++) {
        const int hot = (int64_t)(at % 4) == labels[at / 4];

        assert_close(gradient[at], hot ? -0.375 : 0.125, TIGHT);
    }
}

/*
 * Logit 0 is p = 1/2: -(y log 1/2 + (1-y) log 1/2) = log 2 for any y, and
 * de/dx = sigmoid(0) - y = 0.5 - y. Per-sample mean over K = 2 outputs
 * and one row: loss log 2, gradient (0.5 - y) / 2.
 */
Test(values, binary_logit_zero_gives_log_two)
{
    const double logits[2] = { 0, 0 }, targets[2] = { 1, 0.3 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY);
    double loss, gradient[2];

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 1, 2, 1 };
    problem.predictions = logits;
    problem.targets = targets;
    cr_assert_eq(compute(&problem, &loss, gradient).status, CLXENT_OK);

    assert_close(loss, log(2.0), TIGHT);
    assert_close(gradient[0], -0.25, TIGHT);
    assert_close(gradient[1], 0.1, TIGHT);
}

/*
 * Two equal logits, label 0: p_0 = 1/2, crossentropy log 2. Focal with
 * alpha 0.25: gamma 0 gives 0.25 log 2; gamma 2 gives
 * 0.25 * (1 - 1/2)^2 * log 2 = 0.0625 log 2.
 */
Test(values, categorical_focal_by_hand)
{
    const double logits[2] = { 0, 0 };
    const int64_t label = 0;
    ref_problem problem =
        ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL);
    double loss;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 1, 2, 1 };
    problem.predictions = logits;
    problem.labels = &label;
    compute(&problem, &loss, NULL);
    assert_close(loss, 0.0625 * log(2.0), TIGHT);

    problem.loss.gamma = 0;
    compute(&problem, &loss, NULL);
    assert_close(loss, 0.25 * log(2.0), TIGHT);
}

/*
 * Logits {0, log 3}: p = {1/4, 3/4}. Label 1 with smoothing 0.2 gives
 * y' = {0.2/2, 0.8 + 0.1} = {0.1, 0.9}, so the loss is
 * -(0.1 log 0.25 + 0.9 log 0.75) = 0.1386294 + 0.2589139 = 0.3975433,
 * and the gradient p - y' = {0.15, -0.15}.
 */
Test(values, label_smoothing_by_hand)
{
    const double logits[2] = { 0, log(3.0) };
    const int64_t label = 1;
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss, gradient[2];

    problem.loss.from_logits = 1;
    problem.loss.label_smoothing = 0.2f;
    problem.shape = (clxent_shape){ 1, 2, 1 };
    problem.predictions = logits;
    problem.labels = &label;
    compute(&problem, &loss, gradient);

    /* The option is a float: 0.2f is not 0.2. */
    {
        const double ls = 0.2f, y0 = ls / 2, y1 = 1 - ls + ls / 2;

        assert_close(loss, -(y0 * log(0.25) + y1 * log(0.75)), TIGHT);
        assert_close(loss, 0.3975433, 1e-6);
        assert_close(gradient[0], 0.25 - y0, TIGHT);
        assert_close(gradient[1], 0.75 - y1, TIGHT);
    }
}

/*
 * Three classes, logits {0, 0, log 2}: p = {1/4, 1/4, 1/2}. Label 2 with
 * smoothing 0.3 spreads 0.3 / 3 = 0.1 over every class: y' = {0.1, 0.1,
 * 0.8}. Loss -(0.2 log 0.25 + 0.8 log 0.5) = 0.2772589 + 0.5545177
 * = 0.8317766; gradient p - y' = {0.15, 0.15, -0.3}.
 */
Test(values, label_smoothing_spreads_over_all_classes)
{
    const double logits[3] = { 0, 0, log(2.0) };
    const int64_t label = 2;
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss, gradient[3];

    problem.loss.from_logits = 1;
    problem.loss.label_smoothing = 0.3f;
    problem.shape = (clxent_shape){ 1, 3, 1 };
    problem.predictions = logits;
    problem.labels = &label;
    compute(&problem, &loss, gradient);
    assert_close(loss, 0.8317766, 1e-6);
    assert_close(gradient[0], 0.15, 1e-6);
    assert_close(gradient[2], -0.3, 1e-6);
}

/*
 * Binary, logit 2, target 1, smoothing 0.2: y' = 0.9, so
 * e = 0.9 softplus(-2) + 0.1 softplus(2)
 *   = 0.9 * 0.1269280 + 0.1 * 2.1269280 = 0.3269280.
 */
Test(values, binary_label_smoothing_by_hand)
{
    const double logit = 2, target = 1;
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY);
    double loss;

    problem.loss.from_logits = 1;
    problem.loss.label_smoothing = 0.2f;
    problem.shape = (clxent_shape){ 1, 1, 1 };
    problem.predictions = &logit;
    problem.targets = &target;
    compute(&problem, &loss, NULL);
    assert_close(loss, 0.3269280, 1e-6);
}

/*
 * Rows: uniform over 3 classes (loss log 3), ignored, and logits
 * {0, 0, log 2} with label 2 (p_2 = 2/4, loss log 2). The mean is over
 * the 2 rows not ignored: (log 3 + log 2) / 2 = log(6) / 2; the ignored
 * row has zero gradient and zero loss with NONE, and is left out of the
 * accuracy count: row 0's label 0 wins the three-way tie (lower index),
 * row 2's label 2 is the maximum, so 2 rows are correct.
 */
Test(values, ignore_class_rows_count_for_nothing)
{
    const double logits[9] = { 0, 0, 0, 5, -1, 2, 0, 0, log(2.0) };
    const int64_t labels[3] = { 0, -1, 2 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss[3], gradient[9];
    ref_result result;

    problem.loss.from_logits = 1;
    problem.loss.use_ignore_class = 1;
    problem.loss.ignore_class = -1;
    problem.shape = (clxent_shape){ 3, 3, 1 };
    problem.predictions = logits;
    problem.labels = labels;
    result = compute(&problem, loss, gradient);

    cr_assert_eq(result.status, CLXENT_OK);
    cr_assert_eq(result.correct, 2);
    assert_close(loss[0], log(6.0) / 2, TIGHT);
    for (size_t at = 3; at < 6; at++)
        cr_assert_eq(gradient[at], 0.0);

    problem.loss.reduction = CLXENT_REDUCTION_NONE;
    compute(&problem, loss, gradient);
    assert_close(loss[0], log(3.0), TIGHT);
    cr_assert_eq(loss[1], 0.0);
    assert_close(loss[2], log(2.0), TIGHT);
}

/* Every row ignored: a mean over nothing is 0, or NaN on request, and a
 * sum is 0. The gradient is zero either way. */
Test(values, empty_mean_is_zero_or_nan)
{
    const double logits[4] = { 1, 2, 3, 4 };
    const int64_t labels[2] = { 7, 7 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss, gradient[4];

    problem.loss.from_logits = 1;
    problem.loss.use_ignore_class = 1;
    problem.loss.ignore_class = 7;
    problem.shape = (clxent_shape){ 2, 2, 1 };
    problem.predictions = logits;
    problem.labels = labels;

    for (int reduction = 1; reduction < 4; reduction++) {
        problem.loss.reduction = (clxent_reduction)reduction;
        problem.loss.empty_mean_is_nan = 0;
        cr_assert_eq(compute(&problem, &loss, gradient).status, CLXENT_OK);
        cr_assert_eq(loss, 0.0, "reduction %d", reduction);
        for (size_t at = 0; at < 4; at++)
            cr_assert_eq(gradient[at], 0.0);

        problem.loss.empty_mean_is_nan = 1;
        compute(&problem, &loss, gradient);
        if (reduction == CLXENT_REDUCTION_SUM)
            cr_assert_eq(loss, 0.0);
        else
            cr_assert(isnan(loss), "reduction %d gave %g", reduction, loss);
    }
}

/* Sample weights of zero empty a weighted mean of the sigmoid family. */
Test(values, empty_weighted_mean_of_binary)
{
    const double logits[2] = { 1, -1 }, targets[2] = { 1, 0 };
    const double sample_weights[2] = { 0, 0 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY);
    double loss, gradient[2];

    problem.loss.from_logits = 1;
    problem.loss.reduction = CLXENT_REDUCTION_WEIGHTED_MEAN;
    problem.shape = (clxent_shape){ 2, 1, 1 };
    problem.predictions = logits;
    problem.targets = targets;
    problem.sample_weights = sample_weights;
    compute(&problem, &loss, gradient);
    cr_assert_eq(loss, 0.0);

    problem.loss.empty_mean_is_nan = 1;
    compute(&problem, &loss, gradient);
    cr_assert(isnan(loss));
    cr_assert(gradient[0] == 0 && gradient[1] == 0);
}

/*
 * Labels {0, 5, -3, 1} over 3 classes: row 1 is the first bad one; row 2
 * is bad too. Bad rows get zero loss and gradient; the others are
 * computed (uniform logits: log 3).
 */
Test(values, invalid_label_names_first_bad_row)
{
    const double logits[12] = { 0 };
    const int64_t labels[4] = { 0, 5, -3, 1 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss[4], gradient[12];
    ref_result result;

    problem.loss.from_logits = 1;
    problem.loss.reduction = CLXENT_REDUCTION_NONE;
    problem.shape = (clxent_shape){ 4, 3, 1 };
    problem.predictions = logits;
    problem.labels = labels;
    result = compute(&problem, loss, gradient);

    cr_assert_eq(result.status, CLXENT_ERROR_INVALID_LABEL);
    cr_assert_eq(result.bad_index, 1);
    assert_close(loss[0], log(3.0), TIGHT);
    cr_assert(loss[1] == 0 && loss[2] == 0);
    for (size_t at = 3; at < 9; at++)
        cr_assert_eq(gradient[at], 0.0);

    /* With -3 ignored, row 1 is still the first bad one. */
    problem.loss.use_ignore_class = 1;
    problem.loss.ignore_class = -3;
    cr_assert_eq(compute(&problem, loss, gradient).bad_index, 1);
}

/* Channels-first: the row index is n * S + s. Labels of 2 samples x 2
 * positions; the one at sample 1, position 0 is row 2. */
Test(values, invalid_label_row_counts_positions)
{
    const double logits[12] = { 0 };
    const int64_t labels[4] = { 0, 1, 3, 2 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss;
    ref_result result;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 2, 3, 2 };
    problem.predictions = logits;
    problem.labels = labels;
    result = compute(&problem, &loss, NULL);
    cr_assert_eq(result.status, CLXENT_ERROR_INVALID_LABEL);
    cr_assert_eq(result.bad_index, 2);
}

/* Elements are counted n * K + k. */
Test(values, invalid_binary_target_names_first_bad_element)
{
    const double logits[4] = { 0 };
    double targets[4] = { 0, 0.5, 1.2, -0.1 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY);
    double loss;
    ref_result result;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 2, 2, 1 };
    problem.predictions = logits;
    problem.targets = targets;
    result = compute(&problem, &loss, NULL);
    cr_assert_eq(result.status, CLXENT_ERROR_INVALID_TARGET);
    cr_assert_eq(result.bad_index, 2);

    targets[1] = NAN;
    cr_assert_eq(compute(&problem, &loss, NULL).bad_index, 1);

    /* Soft targets are fine until hard targets are asked for. */
    targets[1] = 0.5;
    targets[2] = 1;
    targets[3] = 0;
    cr_assert_eq(compute(&problem, &loss, NULL).status, CLXENT_OK);
    problem.loss.hard_targets = 1;
    result = compute(&problem, &loss, NULL);
    cr_assert_eq(result.status, CLXENT_ERROR_INVALID_TARGET);
    cr_assert_eq(result.bad_index, 1);
}

/*
 * A bad target zeroes the loss value it belongs to and leaves it out of
 * the mean: per sample that is its whole row, per element only itself.
 * Logits 0 make every valid element lose log 2, and predict 0, which is
 * right for target 0. Targets {0, 0, 0, 2}: per sample, row 0 alone
 * counts (mean log 2, 2 correct, row 1's value 0); per element, elements
 * 0..2 count (mean log 2, 3 correct, element 3's value 0).
 */
Test(values, bad_target_leaves_its_value_out)
{
    const double logits[4] = { 0 }, targets[4] = { 0, 0, 0, 2 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY);
    double loss[4], gradient[4];
    ref_result result;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 2, 2, 1 };
    problem.predictions = logits;
    problem.targets = targets;
    for (int per_element = 0; per_element < 2; per_element++) {
        problem.loss.per_element = per_element;
        problem.loss.reduction = CLXENT_REDUCTION_MEAN;
        result = compute(&problem, loss, gradient);
        cr_assert_eq(result.status, CLXENT_ERROR_INVALID_TARGET);
        cr_assert_eq(result.bad_index, 3);
        cr_assert_eq(result.correct, per_element ? 3 : 2);
        assert_close(loss[0], log(2.0), TIGHT);
        cr_assert_eq(gradient[3], 0.0);
        cr_assert_eq(gradient[2] == 0.0, !per_element);

        problem.loss.reduction = CLXENT_REDUCTION_NONE;
        compute(&problem, loss, gradient);
        cr_assert_eq(loss[per_element ? 3 : 1], 0.0);
    }
}

/*
 * Class weights {1, 3}, two rows of equal logits (log 2 each), labels
 * 0 and 1: values {log 2, 3 log 2}. SUM 4 log 2, MEAN 2 log 2, WEIGHTED
 * MEAN 4 log 2 / (1 + 3) = log 2. Sample weights {2, 0.5} give values
 * {2 log 2, 1.5 log 2} over applied weights {2, 1.5}: log 2 again.
 */
Test(values, weighted_mean_divides_by_applied_weights)
{
    const double logits[4] = { 0 }, class_weights[2] = { 1, 3 };
    const double sample_weights[2] = { 2, 0.5 };
    const int64_t labels[2] = { 0, 1 };
    const double expected[4] = { 0, 4, 2, 1 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 2, 2, 1 };
    problem.predictions = logits;
    problem.labels = labels;
    problem.class_weights = class_weights;
    for (int reduction = 1; reduction < 4; reduction++) {
        problem.loss.reduction = (clxent_reduction)reduction;
        compute(&problem, &loss, NULL);
        assert_close(loss, expected[reduction] * log(2.0), TIGHT);
    }

    problem.sample_weights = sample_weights;
    compute(&problem, &loss, NULL);
    assert_close(loss, log(2.0), TIGHT);
}

/*
 * Dense soft target {0.5, 0.5}, class weights {1, 3}, equal logits:
 * loss -(0.5 log 0.5 + 1.5 log 0.5) = 2 log 2, applied weight
 * 1 * 0.5 + 3 * 0.5 = 2, so the weighted mean is log 2.
 */
Test(values, dense_applied_weight_uses_raw_targets)
{
    const double logits[2] = { 0, 0 }, targets[2] = { 0.5, 0.5 };
    const double class_weights[2] = { 1, 3 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_CATEGORICAL);
    double loss;

    problem.loss.from_logits = 1;
    problem.loss.reduction = CLXENT_REDUCTION_WEIGHTED_MEAN;
    problem.loss.label_smoothing = 0.5f; /* no effect: y' stays 1/2 */
    problem.shape = (clxent_shape){ 1, 2, 1 };
    problem.predictions = logits;
    problem.targets = targets;
    problem.class_weights = class_weights;
    compute(&problem, &loss, NULL);
    assert_close(loss, log(2.0), TIGHT);
}

/*
 * Probabilities {1, 3} renormalise to {1/4, 3/4}; label 1 loses
 * -log(3/4). As L = log(x0 + x1) - log x1: dL/dx0 = 1/4,
 * dL/dx1 = 1/4 - 1/3 = -1/12. Probabilities {0, 2} clip at both ends:
 * label 0 loses -log(eps) and the gradient is zero.
 */
Test(values, probabilities_are_renormalised_and_clipped)
{
    double inputs[2] = { 1, 3 };
    const int64_t label = 1, first = 0;
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss, gradient[2];

    problem.shape = (clxent_shape){ 1, 2, 1 };
    problem.predictions = inputs;
    problem.labels = &label;
    compute(&problem, &loss, gradient);
    assert_close(loss, -log(0.75), TIGHT);
    assert_close(gradient[0], 0.25, TIGHT);
    assert_close(gradient[1], -1.0 / 12, TIGHT);

    inputs[0] = 0;
    inputs[1] = 2;
    problem.labels = &first;
    compute(&problem, &loss, gradient);
    assert_close(loss, -log((double)1e-7f), TIGHT);
    cr_assert(gradient[0] == 0 && gradient[1] == 0);
}

/*
 * Binary probabilities: x = 0, y = 1 clips to eps: loss -log eps, no
 * gradient. x = 1/4, y = 1: log 4, gradient -1/x = -4; pos_weight 3
 * triples both.
 */
Test(values, binary_probabilities_and_pos_weight)
{
    double input = 0;
    const double target = 1, pos_weight = 3;
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY);
    double loss, gradient;

    problem.shape = (clxent_shape){ 1, 1, 1 };
    problem.predictions = &input;
    problem.targets = &target;
    compute(&problem, &loss, &gradient);
    assert_close(loss, -log((double)1e-7f), TIGHT);
    cr_assert_eq(gradient, 0.0);

    input = 0.25;
    compute(&problem, &loss, &gradient);
    assert_close(loss, log(4.0), TIGHT);
    assert_close(gradient, -4.0, TIGHT);

    problem.pos_weight = &pos_weight;
    compute(&problem, &loss, &gradient);
    assert_close(loss, 3 * log(4.0), TIGHT);
    assert_close(gradient, -12.0, TIGHT);
}

/*
 * Logits {0, 0}, targets {1, 0}: both elements lose log 2. pos_weight
 * {3, 3} makes the positive one 3 log 2. Per sample (Keras) that is one
 * value (3 + 1) / 2 log 2 = 2 log 2; per element (PyTorch) two values
 * {3 log 2, log 2}. With element weights {1, 3}, the weighted mean per
 * element is (3 log 2 + 3 log 2) / (1 + 3) = 1.5 log 2.
 */
Test(values, per_element_and_per_sample)
{
    const double logits[2] = { 0, 0 }, targets[2] = { 1, 0 };
    const double pos_weight[2] = { 3, 3 }, element_weights[2] = { 1, 3 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY);
    double loss[2];

    problem.loss.from_logits = 1;
    problem.loss.reduction = CLXENT_REDUCTION_NONE;
    problem.shape = (clxent_shape){ 1, 2, 1 };
    problem.predictions = logits;
    problem.targets = targets;
    problem.pos_weight = pos_weight;
    cr_assert_eq(ref_loss_count(&problem.loss, &problem.shape), 1);
    compute(&problem, loss, NULL);
    assert_close(loss[0], 2 * log(2.0), TIGHT);

    problem.loss.per_element = 1;
    cr_assert_eq(ref_loss_count(&problem.loss, &problem.shape), 2);
    compute(&problem, loss, NULL);
    assert_close(loss[0], 3 * log(2.0), TIGHT);
    assert_close(loss[1], log(2.0), TIGHT);

    problem.loss.reduction = CLXENT_REDUCTION_WEIGHTED_MEAN;
    problem.element_weights = element_weights;
    compute(&problem, loss, NULL);
    assert_close(loss[0], 1.5 * log(2.0), TIGHT);
}

/*
 * Binary focal, logit 0, target 1: p_t = 1/2, e = log 2, gamma 2 gives
 * (1/2)^2 log 2 = 0.25 log 2; class balancing with alpha 0.25 weights the
 * positive by 0.25: 0.0625 log 2. A negative target is weighted by 0.75.
 */
Test(values, binary_focal_by_hand)
{
    const double logit = 0;
    double target = 1;
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY_FOCAL);
    double loss;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 1, 1, 1 };
    problem.predictions = &logit;
    problem.targets = &target;
    compute(&problem, &loss, NULL);
    assert_close(loss, 0.25 * log(2.0), TIGHT);

    problem.loss.class_balancing = 1;
    compute(&problem, &loss, NULL);
    assert_close(loss, 0.0625 * log(2.0), TIGHT);

    target = 0;
    compute(&problem, &loss, NULL);
    assert_close(loss, 0.1875 * log(2.0), TIGHT);
}

/*
 * Binary focal from probabilities takes p_t from the unclipped input.
 * x = 1e-9, y = 1: e = -log eps (clipped), factor (1 - 1e-9)^2, where a
 * clipped p would give (1 - eps)^2; d/dx of (1 - x)^2 e = -2 (1 - x) e.
 * x = 1, y = 1: p_t = 1, so the loss is exactly 0.
 */
Test(values, binary_focal_uses_unclipped_probability)
{
    double input = 1e-9;
    const double target = 1, e = -log((double)1e-7f);
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY_FOCAL);
    double loss, gradient;

    problem.shape = (clxent_shape){ 1, 1, 1 };
    problem.predictions = &input;
    problem.targets = &target;
    compute(&problem, &loss, &gradient);
    assert_close(loss, (1 - 1e-9) * (1 - 1e-9) * e, TIGHT);
    assert_close(gradient, -2 * (1 - 1e-9) * e, TIGHT);

    input = 1;
    compute(&problem, &loss, &gradient);
    cr_assert_eq(loss, 0.0);
}

/*
 * z-loss on 4 equal logits: lse = log 4, the loss adds z (log 4)^2 and the
 * gradient adds 2 z lse p_j = 2 z log 4 / 4 to every class.
 */
Test(values, z_loss_by_hand)
{
    const double logits[4] = { 0 };
    const int64_t label = 0;
    const double z = 0.01f;
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss, gradient[4];

    problem.loss.from_logits = 1;
    problem.loss.z_loss = 0.01f;
    problem.shape = (clxent_shape){ 1, 4, 1 };
    problem.predictions = logits;
    problem.labels = &label;
    compute(&problem, &loss, gradient);
    assert_close(loss, log(4.0) + z * log(4.0) * log(4.0), TIGHT);
    assert_close(gradient[0], -0.75 + z * log(4.0) / 2, TIGHT);
    assert_close(gradient[3], 0.25 + z * log(4.0) / 2, TIGHT);
}

/*
 * Cap 1: logits {100, 0} become {tanh 100, 0} = {1, 0}; label 1 loses
 * log(e + 1). The capped logit 0 passes the gradient unchanged:
 * p_1 - 1 = 1/(e+1) - 1; the saturated one passes (almost) nothing.
 */
Test(values, logit_cap_by_hand)
{
    const double logits[2] = { 100, 0 };
    const int64_t label = 1;
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss, gradient[2];

    problem.loss.from_logits = 1;
    problem.loss.logit_cap = 1;
    problem.shape = (clxent_shape){ 1, 2, 1 };
    problem.predictions = logits;
    problem.labels = &label;
    compute(&problem, &loss, gradient);
    assert_close(loss, log(exp(1.0) + 1), TIGHT);
    assert_close(gradient[1], 1 / (exp(1.0) + 1) - 1, TIGHT);
    cr_assert(fabs(gradient[0]) < 1e-80, "gradient[0] = %g", gradient[0]);
}

/*
 * Logits {1, 3, 3, 2} in 4 rows with labels 0..3. Ranks (greater, or
 * equal with a lower index): label 0 -> 3, label 1 -> 0, label 2 -> 1
 * (the tie with class 1), label 3 -> 2. So top_k = 1..4 counts 1..4.
 */
Test(values, top_k_accuracy_breaks_ties_to_lower_index)
{
    const double row[4] = { 1, 3, 3, 2 };
    const int64_t labels[4] = { 0, 1, 2, 3 };
    double logits[16];
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss;

    for (size_t at = 0; at < 16; at++)
        logits[at] = row[at % 4];
    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 4, 4, 1 };
    problem.predictions = logits;
    problem.labels = labels;
    for (unsigned k = 1; k <= 4; k++) {
        problem.loss.top_k = k;
        cr_assert_eq(compute(&problem, &loss, NULL).correct, k, "top_k %u", k);
    }
}

/* Dense targets {0.2, 0.4, 0.4, 0}: the true class is the first maximum,
 * 1, which is the top logit of {1, 3, 3, 2}. */
Test(values, dense_accuracy_uses_first_target_maximum)
{
    const double logits[4] = { 1, 3, 3, 2 }, targets[4] = { 0.2, 0.4, 0.4, 0 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_CATEGORICAL);
    double loss;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 1, 4, 1 };
    problem.predictions = logits;
    problem.targets = targets;
    cr_assert_eq(compute(&problem, &loss, NULL).correct, 1);
}

/*
 * Logits {0.1, -0.2, 0} against targets {1, 0, 1} with the automatic
 * threshold 0: right, right, wrong (0 > 0 is false) -> 2.
 * Probabilities {0.6, 0.5, 0.2} against {1, 1, 0.4}: automatic 0.5 gives
 * right, wrong, right -> 2; threshold 0.45 gets all three.
 */
Test(values, binary_accuracy_threshold)
{
    double inputs[3] = { 0.1, -0.2, 0 }, targets[3] = { 1, 0, 1 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_BINARY);
    double loss;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 1, 3, 1 };
    problem.predictions = inputs;
    problem.targets = targets;
    cr_assert_eq(compute(&problem, &loss, NULL).correct, 2);

    problem.loss.from_logits = 0;
    inputs[0] = 0.6;
    inputs[1] = 0.5;
    inputs[2] = 0.2;
    targets[1] = 1;
    targets[2] = 0.4;
    cr_assert_eq(compute(&problem, &loss, NULL).correct, 2);
    problem.loss.threshold = 0.45f;
    cr_assert_eq(compute(&problem, &loss, NULL).correct, 3);
}

/*
 * One sample, 2 classes, 2 positions, channels-first:
 * {c0s0, c0s1, c1s0, c1s1} = {0, 5, 0, -5}. Position 0 sees (0, 0):
 * log 2 for label 1, gradient {0.5, -0.5} at entries 0 and 2. Position 1
 * sees (5, -5) with label 0: softplus(-10), gradient
 * {-sigmoid(-10), sigmoid(-10)} at entries 1 and 3.
 */
Test(values, channels_first_layout_by_hand)
{
    const double logits[4] = { 0, 5, 0, -5 };
    const int64_t labels[2] = { 1, 0 };
    const double s = 1 / (1 + exp(10.0));
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss[2], gradient[4];

    problem.loss.from_logits = 1;
    problem.loss.reduction = CLXENT_REDUCTION_NONE;
    problem.shape = (clxent_shape){ 1, 2, 2 };
    problem.predictions = logits;
    problem.labels = labels;
    cr_assert_eq(ref_loss_count(&problem.loss, &problem.shape), 2);
    compute(&problem, loss, gradient);

    assert_close(loss[0], log(2.0), TIGHT);
    assert_close(loss[1], log1p(exp(-10.0)), TIGHT);
    assert_close(gradient[0], 0.5, TIGHT);
    assert_close(gradient[2], -0.5, TIGHT);
    assert_close(gradient[1], -s, TIGHT);
    assert_close(gradient[3], s, TIGHT);
}

/*
 * Logits {1e4, -1e4}: label 0 loses 0 (exp(-2e4) underflows), label 1
 * loses 2e4 with gradient {1, -1}. Binary logit -1e4 with target 1 loses
 * 1e4. Nothing overflows.
 */
Test(values, extreme_logits_stay_finite)
{
    const double logits[4] = { 1e4, -1e4, 1e4, -1e4 };
    const int64_t labels[2] = { 0, 1 };
    const double binary_logit = -1e4, target = 1;
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss[2], gradient[4];

    problem.loss.from_logits = 1;
    problem.loss.reduction = CLXENT_REDUCTION_NONE;
    problem.shape = (clxent_shape){ 2, 2, 1 };
    problem.predictions = logits;
    problem.labels = labels;
    compute(&problem, loss, gradient);
    cr_assert_eq(loss[0], 0.0);
    assert_close(loss[1], 2e4, TIGHT);
    assert_close(gradient[2], 1.0, TIGHT);
    assert_close(gradient[3], -1.0, TIGHT);
    cr_assert(gradient[0] == 0 && gradient[1] == 0);

    problem = ref_problem_defaults(CLXENT_LOSS_BINARY_FOCAL);
    problem.loss.from_logits = 1;
    problem.loss.gamma = 0;
    problem.loss.alpha = 1;
    problem.loss.class_balancing = 1;
    problem.shape = (clxent_shape){ 1, 1, 1 };
    problem.predictions = &binary_logit;
    problem.targets = &target;
    compute(&problem, loss, gradient);
    assert_close(loss[0], 1e4, TIGHT);
    assert_close(gradient[0], -1.0, TIGHT);
}

/*
 * NONE with upstream {2, -1} and scale 0.5: each row's gradient (uniform
 * logits over 2 classes, label 0: {-0.5, 0.5}) is multiplied by 1 and
 * -0.5 respectively; the loss values are not scaled.
 */
Test(values, upstream_scales_each_row)
{
    const double logits[4] = { 0 }, upstream[2] = { 2, -1 };
    const int64_t labels[2] = { 0, 0 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss[2], gradient[4];

    problem.loss.from_logits = 1;
    problem.loss.reduction = CLXENT_REDUCTION_NONE;
    problem.shape = (clxent_shape){ 2, 2, 1 };
    problem.predictions = logits;
    problem.labels = labels;
    problem.upstream = upstream;
    problem.upstream_scale = 0.5;
    compute(&problem, loss, gradient);
    assert_close(loss[1], log(2.0), TIGHT);
    assert_close(gradient[0], -0.5, TIGHT);
    assert_close(gradient[1], 0.5, TIGHT);
    assert_close(gradient[2], 0.25, TIGHT);
    assert_close(gradient[3], -0.25, TIGHT);
}

Test(values, bad_options_and_shapes_are_rejected)
{
    const double inputs[4] = { 0.5, 0.5, 0.5, 0.5 };
    const int64_t labels[2] = { 0, 1 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    ref_problem changed;
    double loss = 42;

    problem.shape = (clxent_shape){ 2, 2, 1 };
    problem.predictions = inputs;
    problem.labels = labels;
    cr_assert_eq(compute(&problem, &loss, NULL).status, CLXENT_OK);

#define EXPECT_STATUS(field, value, expected)                                  \
    do {                                                                       \
        changed = problem;                                                     \
        changed.field = value;                                                 \
        loss = 42;                                                             \
        cr_assert_eq(compute(&changed, &loss, NULL).status, expected, #field); \
        cr_assert_eq(loss, 42.0, "written on " #field);                        \
    } while (0)

    EXPECT_STATUS(loss.z_loss, 0.1f, CLXENT_ERROR_INVALID_OPTION);
    EXPECT_STATUS(loss.logit_cap, 5.0f, CLXENT_ERROR_INVALID_OPTION);
    EXPECT_STATUS(loss.top_k, 0, CLXENT_ERROR_INVALID_OPTION);
    EXPECT_STATUS(loss.label_smoothing, 1.5f, CLXENT_ERROR_INVALID_OPTION);
    EXPECT_STATUS(loss.label_smoothing, (float)NAN,
                  CLXENT_ERROR_INVALID_OPTION);
    EXPECT_STATUS(loss.kind, CLXENT_LOSS_KIND_COUNT, CLXENT_ERROR_INVALID_LOSS);
    EXPECT_STATUS(loss.reduction, CLXENT_REDUCTION_COUNT,
                  CLXENT_ERROR_INVALID_REDUCTION);
    EXPECT_STATUS(shape.rows, 0, CLXENT_ERROR_INVALID_SHAPE);
    EXPECT_STATUS(shape.classes, 0, CLXENT_ERROR_INVALID_SHAPE);
    EXPECT_STATUS(labels, NULL, CLXENT_ERROR_NULL_ARGUMENT);

    problem.loss.kind = CLXENT_LOSS_CATEGORICAL_FOCAL;
    problem.targets = inputs;
    EXPECT_STATUS(loss.gamma, -1.0f, CLXENT_ERROR_INVALID_OPTION);
    EXPECT_STATUS(loss.alpha, 1.5f, CLXENT_ERROR_INVALID_OPTION);

    problem.loss.kind = CLXENT_LOSS_BINARY;
    EXPECT_STATUS(shape.spatial, 2, CLXENT_ERROR_INVALID_SHAPE);
#undef EXPECT_STATUS
}

/* check_finite names the first non-finite prediction; without it the
 * loss is simply NaN and the status is OK. */
Test(values, check_finite_names_first_non_finite_input)
{
    const double logits[4] = { 0, INFINITY, NAN, 0 };
    const int64_t labels[2] = { 0, 1 };
    ref_problem problem = ref_problem_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    double loss;
    ref_result result;

    problem.loss.from_logits = 1;
    problem.shape = (clxent_shape){ 2, 2, 1 };
    problem.predictions = logits;
    problem.labels = labels;
    result = compute(&problem, &loss, NULL);
    cr_assert_eq(result.status, CLXENT_OK);
    cr_assert(isnan(loss));

    problem.loss.check_finite = 1;
    result = compute(&problem, &loss, NULL);
    cr_assert_eq(result.status, CLXENT_ERROR_NON_FINITE_INPUT);
    cr_assert_eq(result.bad_index, 1);
}

Test(values, defaults_are_the_documented_ones)
{
    const clxent_loss loss = ref_loss_defaults(CLXENT_LOSS_BINARY_FOCAL);

    cr_assert_eq(loss.reduction, CLXENT_REDUCTION_MEAN);
    cr_assert_eq(loss.from_logits, 0);
    cr_assert_eq(loss.epsilon, 1e-7f);
    cr_assert_eq(loss.gamma, 2.0f);
    cr_assert_eq(loss.alpha, 0.25f);
    cr_assert_eq(loss.top_k, 1);
    cr_assert(isnan(loss.threshold));
}

/* Runs `problem` and copies the loss values and gradient out. */
static void run_case(const ref_problem *problem, double *loss, double *gradient)
{
    const ref_result result = compute(problem, loss, gradient);

    cr_assert_eq(result.status, CLXENT_OK, "status %d", result.status);
}

static void assert_same_outputs(const ref_problem *a, const double *loss_a,
                                const double *gradient_a, const double *loss_b,
                                const double *gradient_b, const char *name)
{
    const size_t losses = ref_loss_count(&a->loss, &a->shape);
    const size_t values = ref_value_count(&a->shape);

    for (size_t i = 0; i < losses; i++)
        cr_assert(fabs(loss_a[i] - loss_b[i]) <= 1e-12 * (1 + fabs(loss_a[i])),
                  "%s: loss[%zu] %.17g vs %.17g", name, i, loss_a[i],
                  loss_b[i]);
    for (size_t at = 0; at < values; at++)
        cr_assert(fabs(gradient_a[at] - gradient_b[at]) <=
                      1e-12 * (1 + fabs(gradient_a[at])),
                  "%s: gradient[%zu] %.17g vs %.17g", name, at, gradient_a[at],
                  gradient_b[at]);
}

/* Focal with gamma 0 and a per-class alpha is alpha-weighted
 * crossentropy: the same as class weights equal to alpha. */
Test(properties, focal_gamma_zero_is_alpha_weighted_crossentropy)
{
    uint64_t seed = base_seed() + 2000000;

    for (int trial = 0; trial < 64; trial++) {
        const case_config config = { CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL,
                                     trial % 2,
                                     (clxent_reduction)(trial / 2 % 4),
                                     1 + (size_t)(trial / 8 % 2) * 2,
                                     0,
                                     OPT_CLASS_ALPHA | OPT_SMOOTHING |
                                         OPT_SAMPLE_WEIGHTS };
        case_data data;
        ref_problem plain;
        double loss_a[MAX_VALUES], loss_b[MAX_VALUES];
        double gradient_a[MAX_VALUES], gradient_b[MAX_VALUES];

        random_case(&data, &config, seed++);
        data.problem.loss.gamma = 0;
        plain = data.problem;
        plain.loss.kind = CLXENT_LOSS_SPARSE_CATEGORICAL;
        plain.class_weights = data.class_alpha;
        plain.class_alpha = NULL;
        if (config.reduction == CLXENT_REDUCTION_WEIGHTED_MEAN)
            continue; /* class weights change the applied weights */
        run_case(&data.problem, loss_a, gradient_a);
        run_case(&plain, loss_b, gradient_b);
        assert_same_outputs(&plain, loss_a, gradient_a, loss_b, gradient_b,
                            data.name);
    }
}

/* Sparse labels and their one-hot dense targets agree, options included
 * (the applied weight of a one-hot row is the label's class weight). */
Test(properties, sparse_matches_one_hot_dense)
{
    uint64_t seed = base_seed() + 3000000;

    for (int trial = 0; trial < 64; trial++) {
        const case_config config = { trial % 4 < 2
                                         ? CLXENT_LOSS_SPARSE_CATEGORICAL
                                         : CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL,
                                     trial % 2,
                                     (clxent_reduction)(trial / 4 % 4),
                                     1 + (size_t)(trial / 16 % 2) * 2,
                                     0,
                                     OPT_CLASS_WEIGHTS | OPT_SMOOTHING |
                                         OPT_SAMPLE_WEIGHTS };
        case_data data;
        ref_problem dense;
        size_t classes, spatial;
        double loss_a[MAX_VALUES], loss_b[MAX_VALUES];
        double gradient_a[MAX_VALUES], gradient_b[MAX_VALUES];

        random_case(&data, &config, seed++);
        classes = data.problem.shape.classes;
        spatial = data.problem.shape.spatial;
        for (size_t at = 0; at < ref_value_count(&data.problem.shape); at++) {
            const size_t row =
                at / (classes * spatial) * spatial + at % spatial;

            data.targets[at] =
                (int64_t)(at / spatial % classes) == data.labels[row];
        }
        dense = data.problem;
        dense.loss.kind = config.kind == CLXENT_LOSS_SPARSE_CATEGORICAL
                              ? CLXENT_LOSS_CATEGORICAL
                              : CLXENT_LOSS_CATEGORICAL_FOCAL;
        dense.labels = NULL;
        dense.targets = data.targets;
        run_case(&data.problem, loss_a, gradient_a);
        run_case(&dense, loss_b, gradient_b);
        assert_same_outputs(&dense, loss_a, gradient_a, loss_b, gradient_b,
                            data.name);
    }
}

/* N x C x S channels-first equals the same data as N*S channels-last
 * rows: the layout moves values, it changes no number. */
Test(properties, channels_first_matches_channels_last)
{
    uint64_t seed = base_seed() + 4000000;

    for (int trial = 0; trial < 32; trial++) {
        const case_config config = { (clxent_loss_kind)(trial % 4),
                                     trial / 4 % 2,
                                     (clxent_reduction)(trial / 8 % 4),
                                     3,
                                     0,
                                     OPT_SMOOTHING | OPT_SAMPLE_WEIGHTS };
        case_data first, last;
        size_t classes, rows;
        double loss_a[MAX_VALUES], loss_b[MAX_VALUES];
        double gradient_a[MAX_VALUES], gradient_b[MAX_VALUES];
        double transposed[MAX_VALUES];

        random_case(&first, &config, seed++);
        classes = first.problem.shape.classes;
        rows = first.problem.shape.rows * 3;
        /* Labels and sample weights are per loss row in both layouts. */
        last = first;
        last.problem.predictions = last.predictions;
        last.problem.targets = first.problem.targets ? last.targets : NULL;
        last.problem.labels = first.problem.labels ? last.labels : NULL;
        last.problem.sample_weights = last.sample_weights;
        last.problem.shape = (clxent_shape){ rows, classes, 1 };
        for (size_t at = 0; at < rows * classes; at++) {
            const size_t r = at / classes, c = at % classes;
            const size_t from = (r / 3 * classes + c) * 3 + r % 3;

            last.predictions[at] = first.predictions[from];
            if (first.problem.targets)
                last.targets[at] = first.targets[from];
        }
        run_case(&first.problem, loss_a, gradient_a);
        run_case(&last.problem, loss_b, transposed);
        for (size_t at = 0; at < rows * classes; at++) {
            const size_t r = at / classes, c = at % classes;

            gradient_b[(r / 3 * classes + c) * 3 + r % 3] = transposed[at];
        }
        assert_same_outputs(&first.problem, loss_a, gradient_a, loss_b,
                            gradient_b, first.name);
    }
}

/* Without element weights, the mean of per-element losses equals the
 * mean of per-sample losses (each is the mean over outputs). */
Test(properties, per_element_mean_matches_per_sample_mean)
{
    uint64_t seed = base_seed() + 5000000;

    for (int trial = 0; trial < 32; trial++) {
        const case_config config = { trial % 2 ? CLXENT_LOSS_BINARY_FOCAL
                                               : CLXENT_LOSS_BINARY,
                                     trial / 2 % 2,
                                     CLXENT_REDUCTION_MEAN,
                                     1,
                                     0,
                                     OPT_SMOOTHING | OPT_POS_WEIGHT };
        case_data data;
        ref_problem per_element;
        double loss_a, loss_b;
        double gradient_a[MAX_VALUES], gradient_b[MAX_VALUES];

        random_case(&data, &config, seed++);
        per_element = data.problem;
        per_element.loss.per_element = 1;
        run_case(&data.problem, &loss_a, gradient_a);
        run_case(&per_element, &loss_b, gradient_b);
        assert_same_outputs(&data.problem, &loss_a, gradient_a, &loss_b,
                            gradient_b, data.name);
    }
}
