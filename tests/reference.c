/*
 * The float64 reference, derived from the formulas of the semantics table of
 * README.md.
 *
 * Every loss value (a softmax row, a sigmoid sample or element) is
 * computed on its own together with its gradient d(value)/d(input); the
 * reduction then scales each value's gradient by the factor it enters the
 * reduced loss with. Sums run in long double, in index order.
 */
#include "reference.h"

#include <math.h>
#include <stdlib.h>

/* The per-value outcome that the reduction needs. */
typedef struct value_terms {
    double loss;
    double count;  /* 1, or 0 for ignored and bad rows */
    double weight; /* applied weight, for WEIGHTED_MEAN */
} value_terms;

/* Scratch for one softmax row, C values each. */
typedef struct row_work {
    double *scores;  /* x_c as given */
    double *targets; /* y_c, raw: dense target or one-hot label */
    double *capped;  /* xt_c (logits) or q_c (probabilities) */
    double *log_p;
    double *p;
    double *one_minus_p; /* 1 - p_c, kept apart for accuracy near p = 1 */
    double *dlog_p;      /* d(row loss) / d(log p_c) */
} row_work;

static int is_sigmoid(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

static int is_sparse(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

static int is_categorical_focal(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_CATEGORICAL_FOCAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

static size_t spatial_of(const clxent_shape *shape)
{
    return shape->spatial > 1 ? shape->spatial : 1;
}

clxent_loss ref_loss_defaults(clxent_loss_kind kind)
{
    clxent_loss loss = { 0 };

    loss.kind = kind;
    loss.reduction = CLXENT_REDUCTION_MEAN;
    loss.from_logits = 0;
    loss.epsilon = 1e-7f;
    loss.label_smoothing = 0.0f;
    loss.use_ignore_class = 0;
    loss.ignore_class = -100;
    loss.gamma = 2.0f;
    loss.alpha = 0.25f;
    loss.top_k = 1;
    loss.threshold = (float)NAN;
    return loss;
}

ref_problem ref_problem_defaults(clxent_loss_kind kind)
{
    ref_problem problem = { 0 };

    problem.loss = ref_loss_defaults(kind);
    problem.upstream_scale = 1.0;
    return problem;
}

size_t ref_value_count(const clxent_shape *shape)
{
    return shape->rows * shape->classes * spatial_of(shape);
}

/* Loss values before the reduction. */
static size_t unreduced_count(const clxent_loss *loss,
                              const clxent_shape *shape)
{
    if (!is_sigmoid(loss->kind))
        return shape->rows * spatial_of(shape);
    return loss->per_element ? shape->rows * shape->classes : shape->rows;
}

size_t ref_loss_count(const clxent_loss *loss, const clxent_shape *shape)
{
    if (loss->reduction != CLXENT_REDUCTION_NONE)
        return 1;
    return unreduced_count(loss, shape);
}

/* A float option in [low, high]; NaN fails. */
static int in_range(float value, double low, double high)
{
    return value >= low && value <= high;
}

static clxent_status check_options(const clxent_loss *loss)
{
    const int focal = is_categorical_focal(loss->kind) ||
                      loss->kind == CLXENT_LOSS_BINARY_FOCAL;

    /* eps in (0, 0.5): 0 would let log(0) through, 0.5 leave no range. */
    if (!(loss->epsilon > 0.0f && loss->epsilon < 0.5f) ||
        !in_range(loss->label_smoothing, 0.0, 1.0))
        return CLXENT_ERROR_INVALID_OPTION;
    if (focal && (!in_range(loss->gamma, 0.0, INFINITY) ||
                  !in_range(loss->alpha, 0.0, 1.0)))
        return CLXENT_ERROR_INVALID_OPTION;
    if (is_sigmoid(loss->kind))
        return CLXENT_OK;

    if (!in_range(loss->z_loss, 0.0, INFINITY) ||
        !in_range(loss->logit_cap, 0.0, INFINITY))
        return CLXENT_ERROR_INVALID_OPTION;
    if (!loss->from_logits && (loss->z_loss > 0 || loss->logit_cap > 0))
        return CLXENT_ERROR_INVALID_OPTION;
    if (loss->top_k < 1)
        return CLXENT_ERROR_INVALID_OPTION;
    return CLXENT_OK;
}

static clxent_status check_problem(const ref_problem *problem)
{
    const clxent_loss *loss = &problem->loss;
    const clxent_shape *shape = &problem->shape;

    if ((unsigned)loss->kind >= CLXENT_LOSS_KIND_COUNT)
        return CLXENT_ERROR_INVALID_LOSS;
    if ((unsigned)loss->reduction >= CLXENT_REDUCTION_COUNT)
        return CLXENT_ERROR_INVALID_REDUCTION;
    if (shape->rows == 0 || shape->classes == 0)
        return CLXENT_ERROR_INVALID_SHAPE;
    if (is_sigmoid(loss->kind) && shape->spatial > 1)
        return CLXENT_ERROR_INVALID_SHAPE;
    if (!problem->predictions)
        return CLXENT_ERROR_NULL_ARGUMENT;
    if (is_sparse(loss->kind) ? !problem->labels : !problem->targets)
        return CLXENT_ERROR_NULL_ARGUMENT;
    /* The gradient's scale is an option too (clxent.h's upstream_scale). */
    if (!isfinite(problem->upstream_scale))
        return CLXENT_ERROR_INVALID_OPTION;
    return check_options(loss);
}

static double sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    return exp(x) / (1.0 + exp(x));
}

static double softplus(double v)
{
    return fmax(v, 0.0) + log1p(exp(-fabs(v)));
}

/*
 * The focal factor (1 - p)^gamma and its derivative with respect to p.
 * For gamma < 1 the derivative is unbounded at p = 1; every caller
 * multiplies it by a term that vanishes there (log p, or a loss that is
 * zero), so 0 is the limit wherever the product has one.
 */
static double focal_factor(double one_minus_p, double gamma, double *slope)
{
    if (gamma == 0 || (one_minus_p <= 0 && gamma < 1))
        *slope = 0;
    else
        *slope = -gamma * pow(one_minus_p, gamma - 1);
    return pow(one_minus_p, gamma);
}

/* Row r's label status: 0 valid, 1 ignored, -1 out of range. */
static int label_state(const ref_problem *problem, size_t r)
{
    const int64_t label = problem->labels[r];

    if (problem->loss.use_ignore_class && label == problem->loss.ignore_class)
        return 1;
    if (label < 0 || (uint64_t)label >= problem->shape.classes)
        return -1;
    return 0;
}

static void gather_row(const ref_problem *problem, size_t r, row_work *work)
{
    const size_t classes = problem->shape.classes;
    const size_t spatial = spatial_of(&problem->shape);
    const size_t n = r / spatial, s = r % spatial;

    for (size_t c = 0; c < classes; c++) {
        const size_t at = (n * classes + c) * spatial + s;

        work->scores[c] = problem->predictions[at];
        if (is_sparse(problem->loss.kind))
            work->targets[c] = (int64_t)c == problem->labels[r];
        else
            work->targets[c] = problem->targets[at];
    }
}

/* Stable log-softmax of capped logits; returns logsumexp. */
static double log_softmax(const double *logits, size_t classes, row_work *work)
{
    size_t top = 0;
    long double rest = 0;

    for (size_t c = 1; c < classes; c++)
        if (logits[c] > logits[top])
            top = c;
    for (size_t c = 0; c < classes; c++)
        if (c != top)
            rest += exp(logits[c] - logits[top]);

    for (size_t c = 0; c < classes; c++) {
        work->log_p[c] = (logits[c] - logits[top]) - log1p((double)rest);
        work->p[c] = exp(work->log_p[c]);
        work->one_minus_p[c] = -expm1(work->log_p[c]);
    }
    return logits[top] + log1p((double)rest);
}

/* Fills log p from logits (soft-capped when asked); returns logsumexp. */
static double probabilities_from_logits(const clxent_loss *loss, size_t classes,
                                        row_work *work)
{
    const double cap = loss->logit_cap;

    for (size_t c = 0; c < classes; c++)
        work->capped[c] =
            cap > 0 ? cap * tanh(work->scores[c] / cap) : work->scores[c];
    return log_softmax(work->capped, classes, work);
}

/* Keras: renormalise, then clip. Returns the row total. */
static double clip_probabilities(const clxent_loss *loss, size_t classes,
                                 row_work *work)
{
    const double eps = loss->epsilon;
    long double total = 0;

    for (size_t c = 0; c < classes; c++)
        total += work->scores[c];
    for (size_t c = 0; c < classes; c++) {
        const double q = work->scores[c] / (double)total;

        work->capped[c] = q;
        work->p[c] = fmin(fmax(q, eps), 1 - eps);
        work->log_p[c] = log(work->p[c]);
        work->one_minus_p[c] = 1 - work->p[c];
    }
    return (double)total;
}

/* -sum_c a_c w_c (1-p_c)^gamma y'_c log p_c and its d/d(log p_c). */
static double crossentropy_terms(const ref_problem *problem, row_work *work)
{
    const clxent_loss *loss = &problem->loss;
    const size_t classes = problem->shape.classes;
    const double smoothing = loss->label_smoothing;
    const int focal = is_categorical_focal(loss->kind);
    long double sum = 0;

    for (size_t c = 0; c < classes; c++) {
        const double y =
            work->targets[c] * (1 - smoothing) + smoothing / (double)classes;
        double coef = y, factor = 1, slope = 0;

        work->dlog_p[c] = 0;
        if (y == 0)
            continue; /* no 0 * log 0 */
        if (problem->class_weights)
            coef *= problem->class_weights[c];
        if (focal) {
            coef *=
                problem->class_alpha ? problem->class_alpha[c] : loss->alpha;
            factor = focal_factor(work->one_minus_p[c], loss->gamma, &slope);
        }
        sum -= coef * factor * work->log_p[c];
        /* d(factor)/d(log p) = p * d(factor)/dp */
        work->dlog_p[c] =
            -coef * (factor + work->p[c] * slope * work->log_p[c]);
    }
    return (double)sum;
}

/* d(row loss)/dx through softmax, z-loss and the soft cap. */
static void logits_gradient(const clxent_loss *loss, size_t classes, double lse,
                            const row_work *work, double *grad)
{
    const double cap = loss->logit_cap;
    long double total = 0;

    for (size_t c = 0; c < classes; c++)
        total += work->dlog_p[c];
    for (size_t j = 0; j < classes; j++) {
        double g = work->dlog_p[j] - work->p[j] * (double)total;

        g += 2.0 * loss->z_loss * lse * work->p[j];
        if (cap > 0) {
            const double cosh_u = cosh(work->scores[j] / cap);

            g /= cosh_u * cosh_u; /* tanh' = sech^2, 0 once cosh overflows */
        }
        grad[j] = g;
    }
}

/* d(row loss)/dx through clip (zero where it bites) and renormalisation. */
static void probabilities_gradient(const clxent_loss *loss, size_t classes,
                                   double total, row_work *work, double *grad)
{
    const double eps = loss->epsilon;
    long double mixed = 0;

    /* Reuses dlog_p for d(loss)/dq. */
    for (size_t c = 0; c < classes; c++) {
        const double q = work->capped[c];
        const int clipped = q < eps || q > 1 - eps;

        work->dlog_p[c] = clipped ? 0 : work->dlog_p[c] / work->p[c];
        mixed += work->dlog_p[c] * q;
    }
    for (size_t j = 0; j < classes; j++)
        grad[j] = (work->dlog_p[j] - (double)mixed) / total;
}

/* Rank of class `truth` among the scores, ties towards the lower index. */
static int in_top_k(const double *scores, size_t classes, size_t truth,
                    unsigned top_k)
{
    size_t rank = 0;

    for (size_t j = 0; j < classes; j++)
        if (scores[j] > scores[truth] ||
            (scores[j] == scores[truth] && j < truth))
            rank++;
    return rank < top_k;
}

static size_t true_class(const ref_problem *problem, size_t r,
                         const row_work *work)
{
    size_t best = 0;

    if (is_sparse(problem->loss.kind))
        return (size_t)problem->labels[r];
    for (size_t c = 1; c < problem->shape.classes; c++)
        if (work->targets[c] > work->targets[best])
            best = c;
    return best;
}

static double applied_weight(const ref_problem *problem, size_t r,
                             const row_work *work)
{
    const double *class_weights = problem->class_weights;
    long double weight = 0;

    if (is_sparse(problem->loss.kind))
        return class_weights ? class_weights[problem->labels[r]] : 1;
    for (size_t c = 0; c < problem->shape.classes; c++)
        weight += (class_weights ? class_weights[c] : 1) * work->targets[c];
    return (double)weight;
}

/* One valid softmax row: its loss value, gradient and accuracy. */
static value_terms softmax_row(const ref_problem *problem, size_t r,
                               row_work *work, double *grad, int *correct)
{
    const clxent_loss *loss = &problem->loss;
    const size_t classes = problem->shape.classes;
    const double sample =
        problem->sample_weights ? problem->sample_weights[r] : 1;
    value_terms terms = { 0, 1, 0 };
    double row_loss;

    gather_row(problem, r, work);
    if (loss->from_logits) {
        const double lse = probabilities_from_logits(loss, classes, work);

        row_loss = crossentropy_terms(problem, work);
        row_loss += loss->z_loss * lse * lse;
        logits_gradient(loss, classes, lse, work, grad);
    } else {
        const double total = clip_probabilities(loss, classes, work);

        row_loss = crossentropy_terms(problem, work);
        probabilities_gradient(loss, classes, total, work, grad);
    }

    for (size_t c = 0; c < classes; c++)
        grad[c] *= sample;
    terms.loss = sample * row_loss;
    terms.weight = sample * applied_weight(problem, r, work);
    *correct = in_top_k(work->scores, classes, true_class(problem, r, work),
                        loss->top_k);
    return terms;
}

/* Writes a row's gradient into the N x C x S layout (zeros for NULL). */
static void scatter_row(const ref_problem *problem, size_t r, const double *row,
                        double *gradient)
{
    const size_t classes = problem->shape.classes;
    const size_t spatial = spatial_of(&problem->shape);
    const size_t n = r / spatial, s = r % spatial;

    for (size_t c = 0; c < classes; c++)
        gradient[(n * classes + c) * spatial + s] = row ? row[c] : 0;
}

static int first_non_finite_in_row(const ref_problem *problem, size_t r,
                                   int64_t *index);

static void softmax_family(const ref_problem *problem, double *scratch,
                           value_terms *values, double *gradient,
                           ref_result *result)
{
    const size_t classes = problem->shape.classes;
    const size_t rows = problem->shape.rows * spatial_of(&problem->shape);
    double *row_gradient = scratch + 7 * classes;
    row_work work;

    work.scores = scratch;
    work.targets = scratch + classes;
    work.capped = scratch + 2 * classes;
    work.log_p = scratch + 3 * classes;
    work.p = scratch + 4 * classes;
    work.one_minus_p = scratch + 5 * classes;
    work.dlog_p = scratch + 6 * classes;

    for (size_t r = 0; r < rows; r++) {
        int state = is_sparse(problem->loss.kind) ? label_state(problem, r) : 0;
        int correct = 0;

        int64_t non_finite = -1;

        if (state < 0 && result->status == CLXENT_OK) {
            result->status = CLXENT_ERROR_INVALID_LABEL;
            result->bad_index = (int64_t)r;
        }
        /* A checked non-finite prediction spoils its row like a bad
         * label (check_finite has named it). */
        if (state == 0 && problem->loss.check_finite &&
            first_non_finite_in_row(problem, r, &non_finite) > 0)
            state = 1;
        if (state != 0) {
            values[r] = (value_terms){ 0, 0, 0 };
            scatter_row(problem, r, NULL, gradient);
            continue;
        }
        values[r] = softmax_row(problem, r, &work, row_gradient, &correct);
        result->correct += (uint64_t)correct;
        scatter_row(problem, r, row_gradient, gradient);
    }
}

static int target_is_bad(const clxent_loss *loss, double y)
{
    if (isnan(y) || y < 0 || y > 1)
        return 1;
    return loss->hard_targets && y != 0 && y != 1;
}

/* The elementwise binary loss e (pos_weight included) and de/dx. */
static double binary_element(const clxent_loss *loss, double x, double y,
                             double pos_weight, double *grad)
{
    const double eps = loss->epsilon;
    double p;

    if (loss->from_logits) {
        *grad = -pos_weight * y * sigmoid(-x) + (1 - y) * sigmoid(x);
        return pos_weight * y * softplus(-x) + (1 - y) * softplus(x);
    }

    p = fmin(fmax(x, eps), 1 - eps);
    *grad = 0;
    if (p == x) /* zero where the clip bites */
        *grad = -(pos_weight * y / p - (1 - y) / (1 - p));
    /* Terms with a zero coefficient are skipped: no 0 * log 0. */
    return -((y != 0 ? pos_weight * y * log(p) : 0) +
             (y != 1 ? (1 - y) * log1p(-p) : 0));
}

/*
 * Keras binary focal: e * b * (1 - p_t)^gamma with p the sigmoid of the
 * logit or the unclipped probability, so the factor keeps a gradient
 * where the clip of e bites.
 */
static double binary_focal(const clxent_loss *loss, double x, double y,
                           double e, double *grad)
{
    double p, one_minus_p, dp_dx, slope, factor, balance = 1;

    if (loss->from_logits) {
        p = sigmoid(x);
        one_minus_p = sigmoid(-x);
        dp_dx = p * one_minus_p;
    } else {
        p = x;
        one_minus_p = 1 - x;
        dp_dx = 1;
    }
    if (loss->class_balancing)
        balance = loss->alpha * y + (1 - loss->alpha) * (1 - y);

    /* 1 - p_t = y (1-p) + (1-y) p, so d(1 - p_t)/dp = 1 - 2y. */
    factor = focal_factor(y * one_minus_p + (1 - y) * p, loss->gamma, &slope);
    *grad = balance * (factor * *grad - slope * (1 - 2 * y) * dp_dx * e);
    return balance * factor * e;
}

/* Element (n, k): writes its weighted value and gradient. */
static double sigmoid_element(const ref_problem *problem, size_t at,
                              double *grad)
{
    const clxent_loss *loss = &problem->loss;
    const size_t k = at % problem->shape.classes;
    const double smoothing = loss->label_smoothing;
    const double x = problem->predictions[at];
    const double y = problem->targets[at] * (1 - smoothing) + smoothing / 2;
    const double pos_weight = problem->pos_weight ? problem->pos_weight[k] : 1;
    const double weight =
        problem->element_weights ? problem->element_weights[at] : 1;
    double e = binary_element(loss, x, y, pos_weight, grad);

    if (loss->kind == CLXENT_LOSS_BINARY_FOCAL)
        e = binary_focal(loss, x, y, e, grad);
    *grad *= weight;
    return weight * e;
}

static int binary_correct(const clxent_loss *loss, double x, double y)
{
    double threshold = loss->threshold;

    if (isnan(threshold))
        threshold = loss->from_logits ? 0.0 : 0.5;
    return (x > threshold) == (y >= 0.5);
}

/* First bad target of row n as an element index, or -1. */
static int64_t first_bad_target(const ref_problem *problem, size_t n)
{
    const size_t outputs = problem->shape.classes;

    for (size_t k = 0; k < outputs; k++)
        if (target_is_bad(&problem->loss, problem->targets[n * outputs + k]))
            return (int64_t)(n * outputs + k);
    return -1;
}

/* A bad target, or a non-finite prediction when they are checked. */
static int element_is_bad(const ref_problem *problem, size_t at)
{
    return target_is_bad(&problem->loss, problem->targets[at]) ||
           (problem->loss.check_finite && !isfinite(problem->predictions[at]));
}

static int row_has_bad_element(const ref_problem *problem, size_t n)
{
    const size_t outputs = problem->shape.classes;

    for (size_t k = 0; k < outputs; k++)
        if (element_is_bad(problem, n * outputs + k))
            return 1;
    return 0;
}

/*
 * Sample n. A bad target (or a checked non-finite prediction) zeroes the
 * loss value it belongs to: the element when per_element, else the whole
 * sample.
 */
static void sigmoid_row(const ref_problem *problem, size_t n,
                        value_terms *values, double *grad, ref_result *result)
{
    const clxent_loss *loss = &problem->loss;
    const size_t outputs = problem->shape.classes;
    const double sample =
        problem->sample_weights ? problem->sample_weights[n] : 1;
    const int64_t bad = first_bad_target(problem, n);
    const int spoiled = row_has_bad_element(problem, n);
    long double row_sum = 0;

    if (bad >= 0 && result->status == CLXENT_OK) {
        result->status = CLXENT_ERROR_INVALID_TARGET;
        result->bad_index = bad;
    }
    for (size_t k = 0; k < outputs; k++) {
        const size_t at = n * outputs + k;
        const double y = problem->targets[at];
        double e = 0, g = 0;

        grad[k] = 0;
        if (element_is_bad(problem, at) || (spoiled && !loss->per_element))
            continue;
        e = sigmoid_element(problem, at, &g);
        result->correct +=
            (uint64_t)binary_correct(loss, problem->predictions[at], y);
        if (loss->per_element) {
            const double ew =
                problem->element_weights ? problem->element_weights[at] : 1;

            values[at] = (value_terms){ sample * e, 1, sample * ew };
            grad[k] = sample * g;
        } else {
            row_sum += e;
            grad[k] = sample * g / (double)outputs;
        }
    }
    if (!loss->per_element) {
        values[n] = (value_terms){ sample * (double)row_sum / (double)outputs,
                                   1, sample };
        if (spoiled)
            values[n] = (value_terms){ 0, 0, 0 };
    }
}

static void sigmoid_family(const ref_problem *problem, value_terms *values,
                           double *gradient, ref_result *result)
{
    const size_t outputs = problem->shape.classes;

    for (size_t n = 0; n < problem->shape.rows; n++) {
        if (problem->loss.per_element)
            for (size_t k = 0; k < outputs; k++)
                values[n * outputs + k] = (value_terms){ 0, 0, 0 };
        sigmoid_row(problem, n, values, gradient + n * outputs, result);
    }
}

/* The loss value that gradient entry `at` belongs to. */
static size_t value_of_entry(const ref_problem *problem, size_t at)
{
    const clxent_shape *shape = &problem->shape;
    const size_t spatial = spatial_of(shape);

    if (!is_sigmoid(problem->loss.kind))
        return at / (shape->classes * spatial) * spatial + at % spatial;
    return problem->loss.per_element ? at : at / shape->classes;
}

/* The denominator of the reduction: 1, rows counted or weight applied. */
static double denominator_of(clxent_reduction reduction, long double count,
                             long double weight)
{
    if (reduction == CLXENT_REDUCTION_MEAN)
        return (double)count;
    if (reduction == CLXENT_REDUCTION_WEIGHTED_MEAN)
        return (double)weight;
    return 1.0;
}

/* Reduces the values into result->loss and scales the gradient. */
static void reduce(const ref_problem *problem, const value_terms *values,
                   size_t value_count, const double *gradient,
                   ref_result *result)
{
    const clxent_loss *loss = &problem->loss;
    const int none = loss->reduction == CLXENT_REDUCTION_NONE;
    long double sum = 0, count = 0, weight = 0;
    double denominator, scale = problem->upstream_scale;

    for (size_t i = 0; i < value_count; i++) {
        sum += values[i].loss;
        count += values[i].count;
        weight += values[i].weight;
        if (none)
            result->loss[i] = values[i].loss;
    }
    denominator = denominator_of(loss->reduction, count, weight);
    if (denominator == 0) {
        /* The loss is a constant then, so its gradient is zero. */
        result->loss[0] = loss->empty_mean_is_nan ? NAN : 0.0;
        scale = 0;
    } else {
        if (!none)
            result->loss[0] = (double)(sum / denominator);
        scale /= denominator;
    }

    if (!result->gradient)
        return;
    for (size_t at = 0; at < ref_value_count(&problem->shape); at++) {
        const double upstream =
            none && problem->upstream
                ? problem->upstream[value_of_entry(problem, at)]
                : 1.0;

        result->gradient[at] = gradient[at] * scale * upstream;
    }
}

/*
 * With check_finite, the first bad row is reported, in row order: a row
 * with a bad label (or, binary, a bad target before the value) is left to
 * the label and target checks; an ignored row is not looked at. A row's
 * first non-finite prediction is named by its flat index.
 */
static int first_non_finite_in_row(const ref_problem *problem, size_t r,
                                   int64_t *index)
{
    const clxent_shape *shape = &problem->shape;
    const size_t spatial = spatial_of(shape), classes = shape->classes;
    const int sigmoid = is_sigmoid(problem->loss.kind);

    if (!sigmoid && is_sparse(problem->loss.kind) && label_state(problem, r))
        return label_state(problem, r) < 0 ? -1 : 0;
    for (size_t c = 0; c < classes; c++) {
        const size_t at =
            sigmoid ? r * classes + c
                    : ((r / spatial) * classes + c) * spatial + r % spatial;
        if (sigmoid && target_is_bad(&problem->loss, problem->targets[at]))
            return -1;
        if (!isfinite(problem->predictions[at])) {
            *index = (int64_t)at;
            return 1;
        }
    }
    return 0;
}

static void check_finite(const ref_problem *problem, ref_result *result)
{
    const clxent_shape *shape = &problem->shape;
    const int sigmoid = is_sigmoid(problem->loss.kind);
    const size_t spatial = sigmoid ? 1 : spatial_of(shape);
    const size_t rows = shape->rows * spatial;

    for (size_t r = 0; r < rows; r++) {
        int64_t index = -1;
        const int found = first_non_finite_in_row(problem, r, &index);
        if (found < 0)
            return;
        if (found == 0)
            continue;
        /* A later position of the same sample can hold a lower class,
         * which comes first in memory: the first element is named. */
        for (size_t q = r + 1; q < (r / spatial + 1) * spatial; q++) {
            int64_t later = -1;
            if (first_non_finite_in_row(problem, q, &later) > 0 &&
                later < index)
                index = later;
        }
        result->status = CLXENT_ERROR_NON_FINITE_INPUT;
        result->bad_index = index;
        return;
    }
}

void ref_compute(const ref_problem *problem, ref_result *result)
{
    const clxent_loss *loss = &problem->loss;
    size_t value_count;
    value_terms *values;
    double *gradient, *scratch;

    result->correct = 0;
    result->bad_index = -1;
    result->status = check_problem(problem);
    if (result->status != CLXENT_OK)
        return;
    if (loss->check_finite)
        check_finite(problem, result);

    /* The gradient is computed even when the caller wants none: the
     * sigmoid family works in it, the softmax family scatters into it. */
    value_count = unreduced_count(loss, &problem->shape);
    values = malloc(value_count * sizeof *values);
    gradient = malloc(ref_value_count(&problem->shape) * sizeof *gradient);
    scratch = malloc(8 * problem->shape.classes * sizeof *scratch);
    if (!values || !gradient || !scratch) {
        result->status = CLXENT_ERROR_OUT_OF_MEMORY;
    } else {
        if (is_sigmoid(loss->kind))
            sigmoid_family(problem, values, gradient, result);
        else
            softmax_family(problem, scratch, values, gradient, result);
        reduce(problem, values, value_count, gradient, result);
    }
    free(values);
    free(gradient);
    free(scratch);
}
