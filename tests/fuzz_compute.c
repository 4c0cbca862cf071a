/*
 * libFuzzer harness for clxent_compute, judged by the float64 reference.
 *
 * The input decodes into a small problem: kind and reduction (unknown
 * values included), rows <= 8, classes <= 8, spatial <= 3, the options,
 * the optional arrays that fit the kind, and the values. A value byte
 * below 0xf0 is an ordinary value for its array (logits in [-8, 8],
 * probabilities in (0, 1], targets and weights in [0, 2] steps); the
 * bytes from 0xf0 pick special values: NaN, infinities, huge, tiny and
 * out-of-range numbers, and labels outside [0, classes).
 *
 * What is compared:
 *   - the status, always (of the errors found before any work, any one
 *     stands for another: see is_precondition; likewise the data errors,
 *     see is_data_error), and the index clxent_last_error() names when
 *     both report the same error;
 *   - with only ordinary values, and both OK: losses, gradient and the
 *     correct count under the tolerances of support.h (tolerance.h),
 *     except that the gradient's absolute floor is never below 1e-6:
 *     a float log-probability carries an error of about 6e-8 times
 *     (|x - max| + log C), which the gradient's terms (weights and
 *     upstream values up to a few) carry into an absolute error of
 *     some 1e-7 where float64 has exactly 0; from probabilities it is
 *     1e-6 of the terms the gradient cancels (probability_terms) when
 *     they are larger;
 *   - with any special float value: the status only, since float and
 *     float64 may overflow, underflow or flush at different points.
 * A disagreement prints the problem and aborts, so libFuzzer keeps it.
 *
 * One context per process, on CLXENT_DEVICE (set POCL_DEVICES too).
 */
#include <clxent.h>

#include "reference.h"
#include "tolerance.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ROWS = 8, MAX_CLASSES = 8, MAX_SPATIAL = 3 };
enum { MAX_VALUES = MAX_ROWS * MAX_CLASSES * MAX_SPATIAL };

/* The bytes of the input, read in order; zeros once they run out. */
typedef struct reader {
    const uint8_t *data;
    size_t size, at;
} reader;

static unsigned next(reader *r)
{
    return r->at < r->size ? r->data[r->at++] : 0;
}

static float pick(reader *r, const float *table, size_t count)
{
    return table[next(r) % count];
}

/* One problem in float (for the library) and float64 (reference). */
typedef struct problem {
    clxent_loss loss;
    clxent_shape shape;
    clxent_dtype label_dtype;
    size_t values, rows, loss_count;
    int special, gradient, in_place, accuracy;
    float upstream_scale;
    float predictions[MAX_VALUES], targets[MAX_VALUES];
    float class_weights[MAX_CLASSES], class_alpha[MAX_CLASSES];
    float sample_weights[MAX_VALUES], element_weights[MAX_VALUES];
    float pos_weight[MAX_CLASSES], upstream[MAX_VALUES];
    int64_t labels[MAX_VALUES];
    const float *use[6]; /* the optional arrays given, in args order */
} problem;

static int is_sigmoid(int kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

static int is_sparse(int kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

static const float specials[16] = { NAN,      INFINITY, -INFINITY, FLT_MAX,
                                    -FLT_MAX, 1e30f,    -1e30f,    1e-30f,
                                    1e-44f,   -1e-44f,  100.0f,    -100.0f,
                                    1.5f,     -0.5f,    -0.0f,     2.0f };

/* An ordinary value in [low, high] (step (high - low) / 239), or a
 * special one. */
static float value(reader *r, problem *p, float low, float high)
{
    const unsigned byte = next(r);
    if (byte >= 0xf0) {
        p->special = 1;
        return specials[byte - 0xf0];
    }
    return low + (high - low) * (float)byte / 239.0f;
}

static int64_t label(reader *r, const problem *p)
{
    const unsigned byte = next(r);
    const int64_t odd[] = { -1,
                            (int64_t)p->shape.classes,
                            -100,
                            p->loss.ignore_class,
                            INT32_MAX,
                            INT32_MIN,
                            (int64_t)1 << 40,
                            INT64_MIN };
    if (byte >= 0xf0) {
        const int64_t l = odd[(byte - 0xf0) % 8];
        /* An I32 label cannot hold a wider value. */
        return p->label_dtype == CLXENT_I32 ? (int32_t)l : l;
    }
    return p->shape.classes ? (int64_t)(byte % p->shape.classes) : byte;
}

static void decode_loss(reader *r, problem *p)
{
    static const float smoothing[] = { 0, 0, 0.1f, 1, 1.5f, NAN };
    static const float gammas[] = { 2, 0, 0.5f, 1, 3, -1 };
    static const float alphas[] = { 0.25f, 0, 1, 0.5f, 1.5f, -0.1f };
    static const float z_losses[] = { 0, 0, 1e-4f, 0.1f, -1 };
    static const float caps[] = { 0, 0, 5, 30, -1 };
    static const float epsilons[] = { 1e-7f, 1e-7f, 1e-3f, 0, 0.6f };
    static const float thresholds[] = { NAN, 0.5f, 0.1f, 0 };
    static const unsigned top_ks[] = { 1, 1, 2, 3, 9, 0 };
    static const float scales[] = { 1, 1, 0.5f, -2, 0, NAN };
    const unsigned flags = next(r);
    p->loss = clxent_loss_defaults((clxent_loss_kind)(next(r) % 7));
    p->loss.reduction = (clxent_reduction)(next(r) % 5);
    p->loss.from_logits = !(flags & 1);
    p->loss.use_ignore_class = (flags >> 1) & 1;
    p->loss.empty_mean_is_nan = (flags >> 2) & 1;
    p->loss.check_finite = (flags >> 3) & 1;
    p->loss.per_element = (flags >> 4) & 1;
    p->loss.hard_targets = (flags >> 5) & 1;
    p->loss.class_balancing = (flags >> 6) & 1;
    p->label_dtype = flags >> 7 ? CLXENT_I64 : CLXENT_I32;
    p->loss.label_smoothing = pick(r, smoothing, 6);
    p->loss.gamma = pick(r, gammas, 6);
    p->loss.alpha = pick(r, alphas, 6);
    p->loss.z_loss = pick(r, z_losses, 5);
    p->loss.logit_cap = pick(r, caps, 5);
    p->loss.epsilon = pick(r, epsilons, 5);
    p->loss.threshold = pick(r, thresholds, 4);
    p->loss.top_k = top_ks[next(r) % 6];
    p->loss.ignore_class = next(r) % 2 ? -100 : (int64_t)(next(r) % 4);
    p->upstream_scale = pick(r, scales, 6);
    /* The header says fields that do not apply are ignored; the library
     * refuses these three on the sigmoid family, the reference ignores
     * them. Left out there until that is settled. */
    if (is_sigmoid(p->loss.kind)) {
        p->loss.z_loss = p->loss.logit_cap = 0;
        p->loss.top_k = 1;
    }
    /* Likewise epsilon, which only probabilities use. */
    if (p->loss.from_logits)
        p->loss.epsilon = 1e-7f;
}

static void decode_shape(reader *r, problem *p)
{
    const int kind = p->loss.kind;
    p->shape.rows = next(r) % (MAX_ROWS + 1);
    p->shape.classes = next(r) % (MAX_CLASSES + 1);
    p->shape.spatial = next(r) % (MAX_SPATIAL + 1);
    p->values = p->shape.rows * p->shape.classes *
                (p->shape.spatial ? p->shape.spatial : 1);
    p->rows = is_sigmoid(kind) || !p->shape.classes
                  ? p->shape.rows
                  : p->values / p->shape.classes;
    if (kind < CLXENT_LOSS_KIND_COUNT &&
        p->loss.reduction < CLXENT_REDUCTION_COUNT)
        p->loss_count = ref_loss_count(&p->loss, &p->shape);
}

static void decode_values(reader *r, problem *p)
{
    const int kind = p->loss.kind;
    for (size_t i = 0; i < p->values; i++)
        p->predictions[i] = p->loss.from_logits ? value(r, p, -8, 8)
                                                : value(r, p, 1.0f / 240, 1);
    for (size_t i = 0; !is_sparse(kind) && i < p->values; i++)
        p->targets[i] = p->loss.hard_targets || next(r) % 2
                            ? (float)(next(r) % 2)
                            : value(r, p, 0, 1);
    for (size_t i = 0; is_sparse(kind) && i < p->rows; i++)
        p->labels[i] = label(r, p);
}

/* Optional arrays: each one present or not, as the kind allows. */
static void decode_weights(reader *r, problem *p)
{
    const int kind = p->loss.kind, sigmoid = is_sigmoid(kind);
    const unsigned given = next(r);
    float *arrays[6] = { p->class_weights,   p->class_alpha, p->sample_weights,
                         p->element_weights, p->pos_weight,  p->upstream };
    const size_t counts[6] = {
        p->shape.classes, p->shape.classes, p->rows,
        p->values,        p->shape.classes, p->loss_count
    };
    const int fits[6] = {
        !sigmoid, kind == CLXENT_LOSS_CATEGORICAL_FOCAL,     1, sigmoid,
        sigmoid,  p->loss.reduction == CLXENT_REDUCTION_NONE
    };
    for (int a = 0; a < 6; a++) {
        p->use[a] = NULL;
        if (!fits[a] || !((given >> a) & 1))
            continue;
        for (size_t i = 0; i < counts[a]; i++)
            arrays[a][i] = a == 1 ? value(r, p, 0, 1) : value(r, p, 0, 2);
        p->use[a] = arrays[a];
    }
    p->gradient = (given >> 6) & 1;
    p->in_place = p->gradient && next(r) % 4 == 0;
    p->accuracy = given >> 7;
}

static void decode(const uint8_t *data, size_t size, problem *p)
{
    reader r = { data, size, 0 };
    memset(p, 0, sizeof *p);
    decode_loss(&r, p);
    decode_shape(&r, p);
    decode_values(&r, p);
    decode_weights(&r, p);
}

/* The reference's answer: float64 copies of the float inputs. */
typedef struct answer {
    ref_result result;
    double loss[MAX_VALUES], gradient[MAX_VALUES];
} answer;

static const double *widen(const float *from, size_t count, double *to)
{
    if (!from)
        return NULL;
    for (size_t i = 0; i < count; i++)
        to[i] = from[i];
    return to;
}

static void solve(const problem *p, answer *a)
{
    static double w[8][MAX_VALUES];
    const int sparse = is_sparse(p->loss.kind);
    ref_problem rp = ref_problem_defaults(CLXENT_LOSS_CATEGORICAL);
    rp.loss = p->loss;
    rp.shape = p->shape;
    rp.predictions = widen(p->predictions, p->values, w[0]);
    rp.targets = sparse ? NULL : widen(p->targets, p->values, w[1]);
    rp.labels = sparse ? p->labels : NULL;
    rp.class_weights = widen(p->use[0], p->shape.classes, w[2]);
    rp.class_alpha = widen(p->use[1], p->shape.classes, w[3]);
    rp.sample_weights = widen(p->use[2], p->rows, w[4]);
    rp.element_weights = widen(p->use[3], p->values, w[5]);
    rp.pos_weight = widen(p->use[4], p->shape.classes, w[6]);
    rp.upstream = widen(p->use[5], p->loss_count, w[7]);
    rp.upstream_scale = p->upstream_scale;
    memset(a, 0, sizeof *a);
    a->result.loss = a->loss;
    a->result.gradient = p->gradient ? a->gradient : NULL;
    ref_compute(&rp, &a->result);
}

/* The library's answer on the process's one context. */
typedef struct outcome {
    clxent_status status;
    clxent_error error;
    float loss[MAX_VALUES], gradient[MAX_VALUES];
    uint64_t correct;
} outcome;

/* The library's last message, for the report of a disagreement. */
static char last_message[256];

static clxent_context *context(void)
{
    static clxent_context *ctx;
    clxent_settings settings;
    if (ctx)
        return ctx;
    clxent_default_settings(&settings);
    if (clxent_open(&ctx, &settings) != CLXENT_OK) {
        fprintf(stderr, "fuzz_compute: no context on CLXENT_DEVICE\n");
        abort();
    }
    return ctx;
}

static void run(const problem *p, outcome *o)
{
    clxent_host_args h = clxent_host_args_defaults();
    int32_t labels32[MAX_VALUES];
    for (size_t i = 0; i < p->rows && i < MAX_VALUES; i++)
        labels32[i] = (int32_t)p->labels[i];
    memset(o, 0, sizeof *o);
    h.label_dtype = p->label_dtype;
    h.predictions = p->predictions;
    h.targets = !is_sparse(p->loss.kind)       ? (const void *)p->targets
                : p->label_dtype == CLXENT_I64 ? (const void *)p->labels
                                               : (const void *)labels32;
    h.class_weights = p->use[0];
    h.class_alpha = p->use[1];
    h.sample_weights = p->use[2];
    h.element_weights = p->use[3];
    h.pos_weight = p->use[4];
    h.upstream = p->use[5];
    h.upstream_scale = p->upstream_scale;
    h.loss = o->loss;
    h.correct = p->accuracy ? &o->correct : NULL;
    if (p->in_place) {
        memcpy(o->gradient, p->predictions, sizeof o->gradient);
        h.predictions = o->gradient;
    }
    h.gradient = p->gradient ? o->gradient : NULL;
    o->status = clxent_compute(context(), &p->loss, &p->shape, &h);
    clxent_last_error(context(), &o->error);
    memcpy(last_message, o->error.message, sizeof last_message);
}

static void disagree(const problem *p, const char *what, size_t i, double got,
                     double want)
{
    fprintf(stderr,
            "fuzz_compute: %s[%zu] is %.9g, reference %.9g\n"
            "  kind %d reduction %d shape %zux%zux%zu logits %d smoothing "
            "%g gamma %g alpha %g special %d\n  library: %s\n",
            what, i, got, want, (int)p->loss.kind, (int)p->loss.reduction,
            p->shape.rows, p->shape.classes, p->shape.spatial,
            p->loss.from_logits, p->loss.label_smoothing, p->loss.gamma,
            p->loss.alpha, p->special, last_message);
    abort();
}

static double largest_of(const float *values, size_t count, double floor)
{
    for (size_t i = 0; values && i < count; i++)
        floor = fmax(floor, fabs(values[i]));
    return floor;
}

/*
 * From probabilities a row's gradient is (g_j - sum_c g_c q_c) / S with
 * g_c = -k_c / p_c (focal: k_c (modulation / p_c - slope)) and q = x / S:
 * terms up to k_c / x_c that cancel, exactly for a row of equal values,
 * where float64 gives 0 and float keeps an ulp or two of the terms. The
 * bound of those terms, with y' <= 1, the largest weights, alpha, sample
 * weight and upstream, and the focal slope's |log p| <= |log(x / C)|.
 */
static double probability_terms(const problem *p)
{
    const size_t classes = p->shape.classes;
    const int focal = p->loss.kind == CLXENT_LOSS_CATEGORICAL_FOCAL ||
                      p->loss.kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
    if (p->loss.from_logits || is_sigmoid(p->loss.kind) || !classes)
        return 0.0;
    double smallest = 1.0;
    for (size_t i = 0; i < p->values; i++)
        smallest = fmin(smallest, p->predictions[i]);
    double k = largest_of(p->use[0], classes, 1.0) *
               largest_of(p->use[2], p->rows, 1.0) *
               largest_of(p->use[5], p->loss_count, 1.0) *
               fmax(fabs(p->upstream_scale), 1.0);
    if (focal)
        k *= largest_of(p->use[1], classes, fmax(p->loss.alpha, 1.0)) *
             (1.0 + fabs(p->loss.gamma) * fabs(log(smallest / classes)));
    return smallest > 0.0 ? k / smallest : 0.0;
}

static void compare_values(const problem *p, const answer *a, const outcome *o)
{
    const double relative = relative_tolerance(&p->loss);
    double largest = probability_terms(p);
    for (size_t i = 0; i < p->loss_count; i++)
        if (!agrees(o->loss[i], a->loss[i], 1e-6, relative))
            disagree(p, "loss", i, o->loss[i], a->loss[i]);
    for (size_t i = 0; p->gradient && i < p->values; i++)
        largest = fmax(largest, fabs(a->gradient[i]));
    for (size_t i = 0; p->gradient && i < p->values; i++)
        if (!agrees(o->gradient[i], a->gradient[i], 1e-6 * fmax(largest, 1.0),
                    relative))
            disagree(p, "gradient", i, o->gradient[i], a->gradient[i]);
    if (p->accuracy && o->correct != a->result.correct)
        disagree(p, "correct", 0, (double)o->correct,
                 (double)a->result.correct);
}

/*
 * The errors found before any work, which leave every output unwritten.
 * When an input breaks several preconditions at once (a zero shape and
 * an alpha of 1.5), which one is named first is not part of the
 * contract, so any of them stands for another.
 */
static int is_precondition(clxent_status status)
{
    return status == CLXENT_ERROR_NULL_ARGUMENT ||
           status == CLXENT_ERROR_INVALID_SHAPE ||
           status == CLXENT_ERROR_INVALID_LOSS ||
           status == CLXENT_ERROR_INVALID_REDUCTION ||
           status == CLXENT_ERROR_INVALID_OPTION;
}

/*
 * The errors found in the data. The reference lets a non-finite input
 * (with check_finite) win over a bad label or target; the library may
 * name the label first. Until that order is settled, one stands for
 * another when an input has both.
 */
static int is_data_error(clxent_status status)
{
    return status == CLXENT_ERROR_INVALID_LABEL ||
           status == CLXENT_ERROR_INVALID_TARGET ||
           status == CLXENT_ERROR_NON_FINITE_INPUT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static problem p;
    static answer a;
    static outcome o;
    decode(data, size, &p);
    solve(&p, &a);
    run(&p, &o);
    if (o.status != a.result.status &&
        !(is_precondition(o.status) && is_precondition(a.result.status)) &&
        !(is_data_error(o.status) && is_data_error(a.result.status)))
        disagree(&p, "status", 0, o.status, a.result.status);
    if (o.status != CLXENT_OK && o.status == a.result.status &&
        o.error.index != a.result.bad_index)
        disagree(&p, "error index", 0, (double)o.error.index,
                 (double)a.result.bad_index);
    if (o.status == CLXENT_OK && !p.special)
        compare_values(&p, &a, &o);
    return 0;
}
