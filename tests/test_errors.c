/*
 * Bad input, one case at a time. Each returns its own status with a
 * message through the logger, changes none of the caller's inputs (nor,
 * for host calls, the outputs), and leaves the context able to compute
 * the next valid call as the reference does.
 *
 *   bad input                                      status (CLXENT_ERROR_)
 *   NULL context                                   NULL_ARGUMENT, no log
 *   NULL loss, shape, args, predictions, targets   NULL_ARGUMENT
 *   no output; wait count without a wait list      NULL_ARGUMENT
 *   zero rows or classes; sigmoid with spatial > 1 INVALID_SHAPE
 *   rows x classes x spatial x 8 beyond size_t     SIZE_OVERFLOW
 *   buffer shorter than the shape, offset past end BUFFER_TOO_SMALL
 *   class_weights shorter than classes             BUFFER_TOO_SMALL
 *   cl_mem of another cl_context                   INVALID_BUFFER
 *   pos_weight on softmax, class_weights on
 *   sigmoid, upstream without reduction NONE       INVALID_OPTION
 *   unknown kind / reduction                       INVALID_LOSS / _REDUCTION
 *   label_smoothing 1.5 or NaN, epsilon 0, gamma
 *   < 0, alpha > 1, z_loss or logit_cap on
 *   probabilities, top_k 0, upstream_scale NaN     INVALID_OPTION
 *   storage F16, BF16; sparse labels F32           UNSUPPORTED_DTYPE
 *   storage F64                                    NO_DOUBLE_SUPPORT without
 *                                                  cl_khr_fp64, else
 *                                                  UNSUPPORTED_DTYPE
 *   label outside [0, C), not ignored              INVALID_LABEL, first row
 *   binary target NaN, < 0, > 1 (or not 0/1 with
 *   hard_targets)                                  INVALID_TARGET, n*K + k
 *   NaN or Inf input with check_finite             NON_FINITE_INPUT, flat
 *                                                  index (n*C + c)*S + s
 *   NaN input without check_finite                 OK, NaN loss
 *
 * Label, target and finiteness errors come from clxent_compute at once
 * (no output written) and from the clxent_finish after clxent_enqueue.
 */
#include "support.h"

#include "rng.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* A context that counts what it logs                                  */

static int errors_logged;
static char last_message[512];

static void count_errors(void *user_data, clxent_log_level level,
                         const char *message)
{
    (void)user_data;
    errors_logged += level == CLXENT_LOG_ERROR;
    snprintf(last_message, sizeof last_message, "%s", message);
}

static clxent_context *context(void)
{
    static clxent_context *ctx;
    clxent_settings settings;
    if (ctx)
        return ctx;
    clxent_default_settings(&settings);
    settings.logger = count_errors;
    cr_assert_eq(clxent_open(&ctx, &settings), CLXENT_OK);
    return ctx;
}

/* ------------------------------------------------------------------ */
/* One problem: inputs, host outputs and device copies                 */

typedef struct problem {
    clxent_loss loss;
    clxent_shape shape;
    clxent_dtype label_dtype;
    size_t values, rows, loss_values;
    float *predictions;
    float *targets; /* dense kinds */
    void *labels;   /* sparse kinds, label_dtype */
    float *class_weights;
    /* Host outputs. */
    float *loss_out, *gradient_out;
    uint64_t correct_out;
} problem;

static int is_sparse(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

static int is_sigmoid(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

static void set_label(problem *p, size_t row, int64_t label)
{
    if (p->label_dtype == CLXENT_I64)
        ((int64_t *)p->labels)[row] = label;
    else
        ((int32_t *)p->labels)[row] = (int32_t)label;
}

static int64_t get_label(const problem *p, size_t row)
{
    if (p->label_dtype == CLXENT_I64)
        return ((const int64_t *)p->labels)[row];
    return ((const int32_t *)p->labels)[row];
}

/* Random logits, soft targets or labels, class weights; reduction NONE
 * so that each row's output can be seen. */
static problem problem_new(clxent_loss_kind kind, clxent_shape shape,
                           clxent_dtype label_dtype)
{
    problem p;
    rng g = rng_seeded(test_seed());
    memset(&p, 0, sizeof p);
    p.loss = clxent_loss_defaults(kind);
    p.loss.from_logits = 1;
    p.loss.reduction = CLXENT_REDUCTION_NONE;
    p.shape = shape;
    p.label_dtype = label_dtype;
    p.values = ref_value_count(&shape);
    p.rows = is_sigmoid(kind) ? shape.rows : p.values / shape.classes;
    p.loss_values = ref_loss_count(&p.loss, &shape);
    p.predictions = malloc(p.values * sizeof(float));
    for (size_t i = 0; i < p.values; i++)
        p.predictions[i] = (float)rng_range(&g, -3.0, 3.0);
    if (is_sparse(kind)) {
        p.labels = malloc(p.rows * sizeof(int64_t));
        for (size_t r = 0; r < p.rows; r++)
            set_label(&p, r, (int64_t)rng_below(&g, shape.classes));
    } else {
        p.targets = malloc(p.values * sizeof(float));
        for (size_t i = 0; i < p.values; i++)
            p.targets[i] = (float)rng_uniform(&g);
    }
    p.class_weights = malloc(shape.classes * sizeof(float));
    for (size_t c = 0; c < shape.classes; c++)
        p.class_weights[c] = (float)rng_range(&g, 0.5, 2.0);
    p.loss_out = malloc(p.loss_values * sizeof(float));
    p.gradient_out = malloc(p.values * sizeof(float));
    return p;
}

static void problem_free(problem *p)
{
    free(p->predictions);
    free(p->targets);
    free(p->labels);
    free(p->class_weights);
    free(p->loss_out);
    free(p->gradient_out);
}

static clxent_host_args host_args(problem *p)
{
    clxent_host_args h = clxent_host_args_defaults();
    h.label_dtype = p->label_dtype;
    h.predictions = p->predictions;
    h.targets = p->labels ? p->labels : (void *)p->targets;
    h.loss = p->loss_out;
    h.gradient = p->gradient_out;
    h.correct = &p->correct_out;
    return h;
}

/* A copy of the inputs to compare with after a call. */
typedef struct snapshot {
    unsigned char *bytes;
    size_t size;
} snapshot;

static void append(snapshot *s, const void *data, size_t size)
{
    if (!data)
        return;
    s->bytes = realloc(s->bytes, s->size + size);
    memcpy(s->bytes + s->size, data, size);
    s->size += size;
}

static snapshot take_inputs(const problem *p)
{
    snapshot s = { NULL, 0 };
    append(&s, p->predictions, p->values * sizeof(float));
    append(&s, p->targets, p->values * sizeof(float));
    append(&s, p->labels, p->rows * sizeof(int64_t));
    append(&s, p->class_weights, p->shape.classes * sizeof(float));
    return s;
}

static snapshot take_outputs(const problem *p)
{
    snapshot s = { NULL, 0 };
    append(&s, p->loss_out, p->loss_values * sizeof(float));
    append(&s, p->gradient_out, p->values * sizeof(float));
    append(&s, &p->correct_out, sizeof p->correct_out);
    return s;
}

static int same_snapshot(snapshot a, snapshot b)
{
    const int same = a.size == b.size && !memcmp(a.bytes, b.bytes, a.size);
    free(a.bytes);
    free(b.bytes);
    return same;
}

/* Outputs filled with a pattern no computation writes. */
static void poison_outputs(problem *p)
{
    memset(p->loss_out, 0x5a, p->loss_values * sizeof(float));
    memset(p->gradient_out, 0x5a, p->values * sizeof(float));
    memset(&p->correct_out, 0x5a, sizeof p->correct_out);
}

/* ------------------------------------------------------------------ */
/* The reference                                                       */

typedef struct answer {
    ref_result result;
    double *loss, *gradient;
} answer;

static double *widen(const float *values, size_t count)
{
    double *wide = values ? malloc(count * sizeof *wide) : NULL;
    for (size_t i = 0; values && i < count; i++)
        wide[i] = values[i];
    return wide;
}

static answer solve(const problem *p, int class_weights)
{
    answer a;
    ref_problem rp = ref_problem_defaults(p->loss.kind);
    int64_t *labels = p->labels ? malloc(p->rows * sizeof *labels) : NULL;
    for (size_t r = 0; labels && r < p->rows; r++)
        labels[r] = get_label(p, r);
    double *predictions = widen(p->predictions, p->values);
    double *targets = widen(p->targets, p->values);
    double *weights =
        widen(class_weights ? p->class_weights : NULL, p->shape.classes);
    rp.loss = p->loss;
    rp.shape = p->shape;
    rp.predictions = predictions;
    rp.targets = targets;
    rp.labels = labels;
    rp.class_weights = weights;
    memset(&a, 0, sizeof a);
    a.loss = calloc(p->loss_values, sizeof(double));
    a.gradient = calloc(p->values, sizeof(double));
    a.result.loss = a.loss;
    a.result.gradient = a.gradient;
    ref_compute(&rp, &a.result);
    free(labels);
    free(predictions);
    free(targets);
    free(weights);
    return a;
}

static int agrees(double got, double want, double absolute)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    return fabs(got - want) <= absolute + 3e-5 * fabs(want);
}

static void expect_answer(const problem *p, const answer *a, const char *what)
{
    double largest = 0.0;
    for (size_t i = 0; i < p->loss_values; i++)
        cr_expect(agrees(p->loss_out[i], a->loss[i], 1e-6),
                  "%s: loss[%zu] %.9g, reference %.9g", what, i, p->loss_out[i],
                  a->loss[i]);
    for (size_t i = 0; i < p->values; i++)
        largest = fmax(largest, fabs(a->gradient[i]));
    for (size_t i = 0; i < p->values; i++)
        cr_expect(agrees(p->gradient_out[i], a->gradient[i], 1e-6 * largest),
                  "%s: gradient[%zu] %.9g, reference %.9g", what, i,
                  p->gradient_out[i], a->gradient[i]);
    cr_expect_eq(p->correct_out, a->result.correct, "%s: correct", what);
}

static void answer_free(answer *a)
{
    free(a->loss);
    free(a->gradient);
}

/* ------------------------------------------------------------------ */
/* Host calls                                                          */

/* The context still computes the problem itself, as the reference does. */
static void expect_usable(problem *p, const char *what)
{
    const clxent_host_args h = host_args(p);
    answer want = solve(p, 0);
    cr_assert_eq(want.result.status, CLXENT_OK);
    cr_expect_eq(clxent_compute(context(), &p->loss, &p->shape, &h), CLXENT_OK,
                 "%s: the next valid call failed", what);
    expect_answer(p, &want, what);
    answer_free(&want);
}

/* The status, its message on the logger and in clxent_last_error. */
static void expect_reported(clxent_status got, clxent_status want,
                            int logged_before, const char *what)
{
    clxent_error error;
    cr_expect_eq(got, want, "%s: %s, want %s", what, clxent_status_string(got),
                 clxent_status_string(want));
    clxent_last_error(context(), &error);
    cr_expect_eq(error.status, want, "%s: last error", what);
    cr_expect_gt(strlen(error.message), 0, "%s: empty message", what);
    cr_expect_eq(errors_logged, logged_before + 1, "%s: %d messages", what,
                 errors_logged - logged_before);
    cr_expect_str_eq(last_message, error.message, "%s", what);
}

/* One host call that must fail: what it returns, logs and leaves. */
static void host_rejected(problem *p, const clxent_loss *loss,
                          const clxent_shape *shape,
                          const clxent_host_args *args, clxent_status want,
                          const char *what)
{
    poison_outputs(p);
    const snapshot inputs = take_inputs(p), outputs = take_outputs(p);
    const int logged = errors_logged;
    const clxent_status got = clxent_compute(context(), loss, shape, args);
    expect_reported(got, want, logged, what);
    cr_expect(same_snapshot(inputs, take_inputs(p)), "%s: input changed", what);
    cr_expect(same_snapshot(outputs, take_outputs(p)), "%s: output written",
              what);
    expect_usable(p, what);
}

/* The problem's own loss with one option spoiled. */
static void host_bad_loss(problem *p, clxent_loss loss, clxent_status want,
                          const char *what)
{
    const clxent_host_args h = host_args(p);
    host_rejected(p, &loss, &p->shape, &h, want, what);
}

static void host_bad_shape(problem *p, clxent_shape shape, clxent_status want,
                           const char *what)
{
    const clxent_host_args h = host_args(p);
    host_rejected(p, &p->loss, &shape, &h, want, what);
}

static const clxent_shape small = { 6, 5, 1 };

Test(errors, null_context)
{
    problem p = problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, small, CLXENT_I32);
    clxent_host_args h = host_args(&p);
    clxent_device_args d = clxent_device_args_defaults();
    clxent_error error;
    const snapshot inputs = take_inputs(&p);
    cr_expect_eq(clxent_compute(NULL, &p.loss, &p.shape, &h),
                 CLXENT_ERROR_NULL_ARGUMENT);
    cr_expect_eq(clxent_enqueue(NULL, &p.loss, &p.shape, &d, 0, NULL, NULL),
                 CLXENT_ERROR_NULL_ARGUMENT);
    cr_expect_eq(clxent_finish(NULL), CLXENT_ERROR_NULL_ARGUMENT);
    clxent_last_error(NULL, &error);
    cr_expect_eq(error.status, CLXENT_OK);
    cr_expect_eq(error.index, -1);
    clxent_last_error(context(), NULL); /* no crash */
    cr_expect(same_snapshot(inputs, take_inputs(&p)));
    expect_usable(&p, "after NULL contexts");
    problem_free(&p);
}

Test(errors, null_arguments)
{
    problem p = problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, small, CLXENT_I32);
    clxent_host_args h = host_args(&p);
    const clxent_status null = CLXENT_ERROR_NULL_ARGUMENT;
    host_rejected(&p, NULL, &p.shape, &h, null, "NULL loss");
    host_rejected(&p, &p.loss, NULL, &h, null, "NULL shape");
    host_rejected(&p, &p.loss, &p.shape, NULL, null, "NULL args");
    h.predictions = NULL;
    host_rejected(&p, &p.loss, &p.shape, &h, null, "NULL predictions");
    h = host_args(&p);
    h.targets = NULL;
    host_rejected(&p, &p.loss, &p.shape, &h, null, "NULL targets");
    h = host_args(&p);
    h.loss = NULL;
    h.gradient = NULL;
    h.correct = NULL;
    host_rejected(&p, &p.loss, &p.shape, &h, null, "no output");
    problem_free(&p);
}

Test(errors, bad_shapes)
{
    problem p = problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, small, CLXENT_I32);
    problem b = problem_new(CLXENT_LOSS_BINARY, small, CLXENT_I32);
    const clxent_status shape = CLXENT_ERROR_INVALID_SHAPE;
    const clxent_status overflow = CLXENT_ERROR_SIZE_OVERFLOW;
    const size_t huge = (size_t)1 << (sizeof(size_t) * 8 - 2);
    host_bad_shape(&p, (clxent_shape){ 0, 5, 1 }, shape, "zero rows");
    host_bad_shape(&p, (clxent_shape){ 6, 0, 1 }, shape, "zero classes");
    host_bad_shape(&b, (clxent_shape){ 6, 5, 2 }, shape, "sigmoid spatial 2");
    host_bad_shape(&p, (clxent_shape){ huge, 16, 1 }, overflow,
                   "rows x classes");
    host_bad_shape(&p, (clxent_shape){ huge, 2, 8 }, overflow,
                   "rows x spatial");
    host_bad_shape(&p, (clxent_shape){ huge / 4, 2, 1 }, overflow,
                   "elements x 8 bytes");
    host_bad_shape(&b, (clxent_shape){ huge, 16, 1 }, overflow,
                   "sigmoid rows x outputs");
    problem_free(&p);
    problem_free(&b);
}

Test(errors, unknown_kind_and_reduction)
{
    problem p = problem_new(CLXENT_LOSS_CATEGORICAL, small, CLXENT_I32);
    clxent_loss loss = p.loss;
    loss.kind = CLXENT_LOSS_KIND_COUNT;
    host_bad_loss(&p, loss, CLXENT_ERROR_INVALID_LOSS, "kind COUNT");
    loss.kind = (clxent_loss_kind)-1;
    host_bad_loss(&p, loss, CLXENT_ERROR_INVALID_LOSS, "kind -1");
    loss = p.loss;
    loss.reduction = CLXENT_REDUCTION_COUNT;
    host_bad_loss(&p, loss, CLXENT_ERROR_INVALID_REDUCTION, "reduction 4");
    loss.reduction = (clxent_reduction)-1;
    host_bad_loss(&p, loss, CLXENT_ERROR_INVALID_REDUCTION, "reduction -1");
    problem_free(&p);
}

/* One field of the loss set to a bad value. */
#define BAD_OPTION(p, field, value)                                            \
    do {                                                                       \
        clxent_loss spoiled_ = (p)->loss;                                      \
        spoiled_.field = (value);                                              \
        host_bad_loss((p), spoiled_, CLXENT_ERROR_INVALID_OPTION,              \
                      #field " = " #value);                                    \
    } while (0)

Test(errors, options_out_of_range)
{
    problem p =
        problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL, small, CLXENT_I32);
    BAD_OPTION(&p, label_smoothing, 1.5f);
    BAD_OPTION(&p, label_smoothing, -0.1f);
    BAD_OPTION(&p, label_smoothing, NAN);
    BAD_OPTION(&p, epsilon, 0.0f);
    BAD_OPTION(&p, epsilon, NAN);
    BAD_OPTION(&p, gamma, -1.0f);
    BAD_OPTION(&p, gamma, NAN);
    BAD_OPTION(&p, alpha, 1.5f);
    BAD_OPTION(&p, alpha, -0.5f);
    BAD_OPTION(&p, top_k, 0u);
    BAD_OPTION(&p, z_loss, -1.0f);
    p.loss.from_logits = 0;
    p.loss.kind = CLXENT_LOSS_SPARSE_CATEGORICAL;
    BAD_OPTION(&p, z_loss, 0.1f);
    BAD_OPTION(&p, logit_cap, 3.0f);
    clxent_host_args h = host_args(&p);
    h.upstream_scale = NAN;
    host_rejected(&p, &p.loss, &p.shape, &h, CLXENT_ERROR_INVALID_OPTION,
                  "upstream_scale NaN");
    problem_free(&p);
}

Test(errors, options_of_the_other_family)
{
    problem s = problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, small, CLXENT_I32);
    problem b = problem_new(CLXENT_LOSS_BINARY, small, CLXENT_I32);
    const float ones[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
    const clxent_status option = CLXENT_ERROR_INVALID_OPTION;
    clxent_host_args h = host_args(&s);
    h.pos_weight = ones;
    host_rejected(&s, &s.loss, &s.shape, &h, option, "pos_weight on softmax");
    h = host_args(&s);
    h.class_alpha = ones;
    host_rejected(&s, &s.loss, &s.shape, &h, option,
                  "class_alpha without focal");
    h = host_args(&b);
    h.class_weights = ones;
    host_rejected(&b, &b.loss, &b.shape, &h, option,
                  "class_weights on sigmoid");
    clxent_loss mean = s.loss;
    mean.reduction = CLXENT_REDUCTION_MEAN;
    h = host_args(&s);
    h.upstream = ones;
    host_rejected(&s, &mean, &s.shape, &h, option, "upstream with MEAN");
    problem_free(&s);
    problem_free(&b);
}

static int device_has_fp64(void)
{
    char extensions[8192] = "";
    clGetDeviceInfo(clxent_device(context()), CL_DEVICE_EXTENSIONS,
                    sizeof extensions - 1, extensions, NULL);
    return strstr(extensions, "cl_khr_fp64") != NULL;
}

Test(errors, storage_and_label_types)
{
    problem p = problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, small, CLXENT_I32);
    const clxent_status unsupported = CLXENT_ERROR_UNSUPPORTED_DTYPE;
    const clxent_dtype storage[] = { CLXENT_F16, CLXENT_BF16, CLXENT_I32,
                                     (clxent_dtype)99 };
    const char *names[] = { "F16", "BF16", "I32 storage", "dtype 99" };
    clxent_host_args h = host_args(&p);
    for (size_t i = 0; i < 4; i++) {
        h.dtype = storage[i];
        host_rejected(&p, &p.loss, &p.shape, &h, unsupported, names[i]);
    }
    /* POCL has fp64 but f64 storage is not built yet. */
    h.dtype = CLXENT_F64;
    host_rejected(&p, &p.loss, &p.shape, &h,
                  device_has_fp64() ? unsupported
                                    : CLXENT_ERROR_NO_DOUBLE_SUPPORT,
                  "F64");
    h = host_args(&p);
    h.label_dtype = CLXENT_F32;
    host_rejected(&p, &p.loss, &p.shape, &h, unsupported, "F32 labels");
    h.label_dtype = CLXENT_F16;
    host_rejected(&p, &p.loss, &p.shape, &h, unsupported, "F16 labels");
    problem_free(&p);
}

/* ------------------------------------------------------------------ */
/* Labels, targets and non-finite inputs through clxent_compute        */

/* A data error: named index, nothing written, context usable. */
static void host_data_error(problem *p, clxent_status want, int64_t index,
                            const char *what)
{
    clxent_error error;
    const clxent_host_args h = host_args(p);
    answer ref = solve(p, 0);
    cr_expect_eq(ref.result.status, want, "%s: the reference disagrees", what);
    cr_expect_eq(ref.result.bad_index, index, "%s: reference index", what);
    answer_free(&ref);
    poison_outputs(p);
    const snapshot inputs = take_inputs(p), outputs = take_outputs(p);
    const int logged = errors_logged;
    const clxent_status got =
        clxent_compute(context(), &p->loss, &p->shape, &h);
    expect_reported(got, want, logged, what);
    clxent_last_error(context(), &error);
    cr_expect_eq(error.index, index, "%s: index %lld", what,
                 (long long)error.index);
    cr_expect(same_snapshot(inputs, take_inputs(p)), "%s: input changed", what);
    cr_expect(same_snapshot(outputs, take_outputs(p)), "%s: output written",
              what);
}

typedef struct label_case {
    const char *what;
    clxent_dtype dtype;
    size_t classes;
    int64_t bad[3]; /* rows to spoil, -1 ends */
    int64_t value;
    int64_t first;
} label_case;

static const label_case label_cases[] = {
    { "int32 label == C", CLXENT_I32, 5, { 2, -1 }, 5, 2 },
    { "int32 negative", CLXENT_I32, 5, { 0, -1 }, -1, 0 },
    { "int32 at the last row", CLXENT_I32, 5, { 39, -1 }, 7, 39 },
    { "int32 several rows", CLXENT_I32, 5, { 33, 11, 20 }, 6, 11 },
    { "int64 label == C", CLXENT_I64, 5, { 3, -1 }, 5, 3 },
    { "int64 1 << 40", CLXENT_I64, 5, { 9, -1 }, (int64_t)1 << 40, 9 },
    { "int64 -5", CLXENT_I64, 5, { 39, 38, -1 }, -5, 38 },
    { "int64 1 << 32 (0 in 32 bits)",
      CLXENT_I64,
      5,
      { 4, -1 },
      (int64_t)1 << 32,
      4 },
    { "wide rows int32", CLXENT_I32, 300, { 17, 30, -1 }, 300, 17 },
    { "wide rows int64", CLXENT_I64, 300, { 39, -1 }, -2, 39 },
};
#define LABEL_CASES (sizeof label_cases / sizeof label_cases[0])

/* 40 rows, a few ignored (-100), then the case's bad labels. */
static problem label_problem(const label_case *c, clxent_loss_kind kind)
{
    const clxent_shape shape = { 40, c->classes, 1 };
    problem p = problem_new(kind, shape, c->dtype);
    p.loss.use_ignore_class = 1;
    set_label(&p, 1, -100);
    set_label(&p, 25, -100);
    for (size_t i = 0; i < 3 && c->bad[i] >= 0; i++)
        set_label(&p, (size_t)c->bad[i], c->value);
    return p;
}

static problem clean_copy(const label_case *c, clxent_loss_kind kind)
{
    label_case clean = *c;
    clean.bad[0] = -1;
    return label_problem(&clean, kind);
}

Test(errors, labels_through_compute)
{
    for (size_t i = 0; i < LABEL_CASES; i++) {
        const clxent_loss_kind kind =
            i % 2 ? CLXENT_LOSS_SPARSE_CATEGORICAL
                  : CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
        problem p = label_problem(&label_cases[i], kind);
        host_data_error(&p, CLXENT_ERROR_INVALID_LABEL, label_cases[i].first,
                        label_cases[i].what);
        problem clean = clean_copy(&label_cases[i], kind);
        expect_usable(&clean, label_cases[i].what);
        problem_free(&clean);
        problem_free(&p);
    }
}

/* Binary problems with one spoiled target at (n, k). */
static void check_bad_target(float value, int hard, size_t n, size_t k,
                             const char *what)
{
    const clxent_shape shape = { 9, 4, 1 };
    problem p = problem_new(CLXENT_LOSS_BINARY, shape, CLXENT_I32);
    p.loss.hard_targets = hard;
    for (size_t i = 0; hard && i < p.values; i++)
        p.targets[i] = p.targets[i] < 0.5f ? 0.0f : 1.0f;
    p.targets[n * shape.classes + k] = value;
    host_data_error(&p, CLXENT_ERROR_INVALID_TARGET,
                    (int64_t)(n * shape.classes + k), what);
    p.targets[n * shape.classes + k] = hard ? 1.0f : 0.25f;
    expect_usable(&p, what);
    problem_free(&p);
}

Test(errors, binary_targets)
{
    check_bad_target(1.5f, 0, 2, 3, "target 1.5");
    check_bad_target(-0.1f, 0, 0, 0, "target -0.1");
    check_bad_target(NAN, 0, 8, 3, "target NaN");
    check_bad_target(INFINITY, 0, 4, 1, "target Inf");
    check_bad_target(0.5f, 1, 5, 2, "hard target 0.5");
}

static void check_non_finite(clxent_loss_kind kind, clxent_shape shape,
                             size_t at, float value, const char *what)
{
    problem p = problem_new(kind, shape, CLXENT_I32);
    p.loss.check_finite = 1;
    p.predictions[at] = value;
    host_data_error(&p, CLXENT_ERROR_NON_FINITE_INPUT, (int64_t)at, what);
    p.predictions[at] = 0.5f;
    expect_usable(&p, what);
    problem_free(&p);
}

Test(errors, non_finite_inputs)
{
    const clxent_shape rows = { 7, 5, 1 }, wide = { 3, 200, 1 };
    const clxent_shape channels = { 2, 3, 4 };
    check_non_finite(CLXENT_LOSS_SPARSE_CATEGORICAL, rows, 3 * 5 + 2, NAN,
                     "NaN at (3, 2)");
    check_non_finite(CLXENT_LOSS_CATEGORICAL, rows, 34, INFINITY,
                     "Inf at the last element");
    check_non_finite(CLXENT_LOSS_CATEGORICAL_FOCAL, wide, 200 + 150, -INFINITY,
                     "-Inf in a wide row");
    check_non_finite(CLXENT_LOSS_SPARSE_CATEGORICAL, channels,
                     (1 * 3 + 2) * 4 + 3, NAN, "NaN at (1, 2, 3) of N x C x S");
    check_non_finite(CLXENT_LOSS_CATEGORICAL, channels, (0 * 3 + 1) * 4 + 2,
                     NAN, "NaN at (0, 1, 2) of N x C x S");
    check_non_finite(CLXENT_LOSS_BINARY, rows, 4 * 5 + 1, NAN,
                     "binary NaN at (4, 1)");
    check_non_finite(CLXENT_LOSS_BINARY_FOCAL, rows, 0, INFINITY,
                     "binary focal Inf at (0, 0)");
}

/* Two NaNs where flat order and row order differ: (0, 2, 0) is in the
 * first row, (0, 0, 1) comes first in memory and is the one named. */
Test(errors, non_finite_names_the_first_element)
{
    const clxent_shape channels = { 2, 3, 2 };
    problem p =
        problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, channels, CLXENT_I32);
    p.loss.check_finite = 1;
    p.predictions[(0 * 3 + 2) * 2 + 0] = NAN;
    p.predictions[(0 * 3 + 0) * 2 + 1] = NAN;
    host_data_error(&p, CLXENT_ERROR_NON_FINITE_INPUT, 1, "two NaNs");
    problem_free(&p);
}

/* An ignored row's inputs are not looked at: a NaN there is no error and
 * leaves the loss as it was, on lane rows, N x C x S and vector rows. */
Test(errors, ignored_rows_are_not_checked)
{
    const clxent_shape shapes[] = { { 7, 5, 1 }, { 2, 3, 20 }, { 3, 200, 1 } };
    for (size_t s = 0; s < 3; s++) {
        problem p =
            problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, shapes[s], CLXENT_I32);
        clxent_host_args h = host_args(&p);
        float clean = 0.0f, spoiled = 0.0f;
        p.loss.reduction = CLXENT_REDUCTION_MEAN;
        p.loss.check_finite = 1;
        p.loss.use_ignore_class = 1;
        p.loss.ignore_class = 1;
        set_label(&p, 1, 1);
        h.loss = &clean;
        cr_expect_eq(clxent_compute(context(), &p.loss, &p.shape, &h),
                     CLXENT_OK, "clean, shape %zu", s);
        /* Class 2 of row 1 (sample 0, position 1 of N x C x S). */
        const size_t at = shapes[s].spatial > 1 ? 2 * shapes[s].spatial + 1
                                                : shapes[s].classes + 2;
        p.predictions[at] = NAN;
        h.loss = &spoiled;
        cr_expect_eq(clxent_compute(context(), &p.loss, &p.shape, &h),
                     CLXENT_OK, "NaN in the ignored row, shape %zu", s);
        cr_expect(clean == spoiled, "shape %zu: %g, then %g", s, clean,
                  spoiled);
        problem_free(&p);
    }
}

/* The error of an N x C x S tensor compares the first bad row with the
 * later positions of its sample: what an earlier call found bad there
 * must not count (the fuzz harness found it, one context for all). */
Test(errors, non_finite_after_an_earlier_error)
{
    const clxent_shape channels = { 6, 3, 3 };
    problem p = problem_new(CLXENT_LOSS_CATEGORICAL, channels, CLXENT_I32);
    p.loss.check_finite = 1;
    p.predictions[2] = NAN; /* sample 0, class 0, position 2 */
    host_data_error(&p, CLXENT_ERROR_NON_FINITE_INPUT, 2, "position 2");
    p.predictions[2] = 0.5f;
    p.predictions[7] = NAN; /* sample 0, class 2, position 1 */
    host_data_error(&p, CLXENT_ERROR_NON_FINITE_INPUT, 7,
                    "position 1, after position 2 was bad");
    problem_free(&p);
}

/* Like the frameworks: without check_finite a NaN flows into the loss. */
Test(errors, nan_without_check_finite_propagates)
{
    const clxent_loss_kind kinds[] = { CLXENT_LOSS_SPARSE_CATEGORICAL,
                                       CLXENT_LOSS_BINARY };
    for (size_t i = 0; i < 2; i++) {
        problem p = problem_new(kinds[i], small, CLXENT_I32);
        clxent_host_args h = host_args(&p);
        float loss = 0.0f;
        p.loss.reduction = CLXENT_REDUCTION_MEAN;
        p.predictions[7] = NAN;
        h.loss = &loss;
        cr_expect_eq(clxent_compute(context(), &p.loss, &p.shape, &h),
                     CLXENT_OK);
        cr_expect(isnan(loss), "loss %g", loss);
        problem_free(&p);
    }
}

/* ------------------------------------------------------------------ */
/* Device calls                                                        */

/* Device copies of a problem, each exactly as large as it must be. */
typedef struct on_device {
    clxent_device_args args;
    cl_mem all[5];
} on_device;

static cl_mem buffer_of(cl_context cl, size_t bytes, const void *data)
{
    cl_int code = CL_SUCCESS;
    const cl_mem_flags flags =
        CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0);
    cl_mem mem = clCreateBuffer(cl, flags, bytes, (void *)data, &code);
    cr_assert_eq(code, CL_SUCCESS);
    return mem;
}

static on_device to_device(const problem *p)
{
    on_device d;
    const cl_context cl = clxent_cl_context(context());
    const size_t label_size = p->label_dtype == CLXENT_I64 ? 8 : 4;
    d.args = clxent_device_args_defaults();
    d.args.label_dtype = p->label_dtype;
    d.all[0] = buffer_of(cl, p->values * 4, p->predictions);
    d.all[1] = p->labels ? buffer_of(cl, p->rows * label_size, p->labels)
                         : buffer_of(cl, p->values * 4, p->targets);
    d.all[2] = buffer_of(cl, p->loss_values * 4, NULL);
    d.all[3] = buffer_of(cl, p->values * 4, NULL);
    d.all[4] = buffer_of(cl, 8, NULL);
    d.args.predictions.mem = d.all[0];
    d.args.targets.mem = d.all[1];
    d.args.loss.mem = d.all[2];
    d.args.gradient.mem = d.all[3];
    d.args.correct.mem = d.all[4];
    return d;
}

static void release_device(on_device *d)
{
    for (size_t i = 0; i < 5; i++)
        clReleaseMemObject(d->all[i]);
}

/* Every byte of the device copies, inputs and outputs. */
static snapshot read_device(const on_device *d)
{
    snapshot s = { NULL, 0 };
    for (size_t i = 0; i < 5; i++) {
        size_t bytes = 0;
        clGetMemObjectInfo(d->all[i], CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
        unsigned char *host = malloc(bytes);
        cr_assert_eq(clEnqueueReadBuffer(clxent_queue(context()), d->all[i],
                                         CL_TRUE, 0, bytes, host, 0, NULL,
                                         NULL),
                     CL_SUCCESS);
        append(&s, host, bytes);
        free(host);
    }
    return s;
}

/* Reads the outputs back into the problem's host outputs. */
static void read_outputs(problem *p, const on_device *d)
{
    const cl_command_queue queue = clxent_queue(context());
    clEnqueueReadBuffer(queue, d->all[2], CL_TRUE, 0, p->loss_values * 4,
                        p->loss_out, 0, NULL, NULL);
    clEnqueueReadBuffer(queue, d->all[3], CL_TRUE, 0, p->values * 4,
                        p->gradient_out, 0, NULL, NULL);
    clEnqueueReadBuffer(queue, d->all[4], CL_TRUE, 0, 8, &p->correct_out, 0,
                        NULL, NULL);
}

static void expect_device_usable(problem *p, const on_device *d,
                                 const char *what)
{
    answer want = solve(p, 0);
    cr_expect_eq(
        clxent_enqueue(context(), &p->loss, &p->shape, &d->args, 0, NULL, NULL),
        CLXENT_OK, "%s: next call", what);
    cr_expect_eq(clxent_finish(context()), CLXENT_OK, "%s: finish", what);
    read_outputs(p, d);
    expect_answer(p, &want, what);
    answer_free(&want);
}

/* One enqueue that must fail before anything reaches the queue. */
static void device_rejected(problem *p, const on_device *d,
                            const clxent_device_args *args, clxent_status want,
                            const char *what)
{
    const snapshot before = read_device(d);
    const int logged = errors_logged;
    const clxent_status got =
        clxent_enqueue(context(), &p->loss, &p->shape, args, 0, NULL, NULL);
    expect_reported(got, want, logged, what);
    cr_expect_eq(clxent_finish(context()), CLXENT_OK, "%s: finish", what);
    cr_expect(same_snapshot(before, read_device(d)), "%s: a buffer changed",
              what);
    expect_device_usable(p, d, what);
}

Test(errors, device_null_arguments)
{
    problem p = problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, small, CLXENT_I32);
    on_device d = to_device(&p);
    clxent_device_args a = d.args;
    const int logged = errors_logged;
    cr_expect_eq(
        clxent_enqueue(context(), &p.loss, &p.shape, &a, 1, NULL, NULL),
        CLXENT_ERROR_NULL_ARGUMENT);
    cr_expect_eq(errors_logged, logged + 1, "wait count without a list");
    a.predictions.mem = NULL;
    device_rejected(&p, &d, &a, CLXENT_ERROR_NULL_ARGUMENT, "NULL predictions");
    a = d.args;
    a.targets.mem = NULL;
    device_rejected(&p, &d, &a, CLXENT_ERROR_NULL_ARGUMENT, "NULL targets");
    a = d.args;
    a.loss.mem = a.gradient.mem = a.correct.mem = NULL;
    device_rejected(&p, &d, &a, CLXENT_ERROR_NULL_ARGUMENT, "no output");
    release_device(&d);
    problem_free(&p);
}

Test(errors, device_buffer_sizes)
{
    problem p = problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, small, CLXENT_I32);
    on_device d = to_device(&p);
    const clxent_status small_buffer = CLXENT_ERROR_BUFFER_TOO_SMALL;
    const cl_context cl = clxent_cl_context(context());
    cl_mem short_predictions = buffer_of(cl, (p.values - 1) * 4, NULL);
    cl_mem short_weights = buffer_of(cl, (p.shape.classes - 1) * 4, NULL);
    cl_mem weights = buffer_of(cl, p.shape.classes * 4, p.class_weights);
    clxent_device_args a = d.args;
    a.predictions.mem = short_predictions;
    device_rejected(&p, &d, &a, small_buffer, "predictions one value short");
    a = d.args;
    a.predictions.offset = 1;
    device_rejected(&p, &d, &a, small_buffer, "predictions offset 1");
    a.predictions.offset = p.values + 10;
    device_rejected(&p, &d, &a, small_buffer, "offset past the end");
    a.predictions.offset = (size_t)-1;
    device_rejected(&p, &d, &a, small_buffer, "offset SIZE_MAX");
    a = d.args;
    a.targets.offset = 1;
    device_rejected(&p, &d, &a, small_buffer, "labels offset 1");
    a = d.args;
    a.label_dtype = CLXENT_I64; /* the int32 labels hold half as many */
    device_rejected(&p, &d, &a, small_buffer, "int32 buffer read as int64");
    a = d.args;
    a.loss.offset = p.loss_values;
    device_rejected(&p, &d, &a, small_buffer, "loss offset past the end");
    a = d.args;
    a.gradient.offset = 1;
    device_rejected(&p, &d, &a, small_buffer, "gradient offset 1");
    a = d.args;
    a.correct.offset = 1;
    device_rejected(&p, &d, &a, small_buffer, "correct offset 1");
    a = d.args;
    a.class_weights.mem = short_weights;
    device_rejected(&p, &d, &a, small_buffer, "class_weights one short");
    a.class_weights.mem = weights;
    a.class_weights.offset = 1;
    device_rejected(&p, &d, &a, small_buffer, "class_weights offset 1");
    clReleaseMemObject(short_predictions);
    clReleaseMemObject(short_weights);
    clReleaseMemObject(weights);
    release_device(&d);
    problem_free(&p);
}

Test(errors, device_buffer_of_another_context)
{
    problem p = problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, small, CLXENT_I32);
    on_device d = to_device(&p);
    cl_device_id device = clxent_device(context());
    cl_int code = CL_SUCCESS;
    cl_context other = clCreateContext(NULL, 1, &device, NULL, NULL, &code);
    cr_assert_eq(code, CL_SUCCESS);
    cl_mem foreign = buffer_of(other, p.values * 4, p.predictions);
    clxent_device_args a = d.args;
    a.predictions.mem = foreign;
    device_rejected(&p, &d, &a, CLXENT_ERROR_INVALID_BUFFER,
                    "predictions of another context");
    a = d.args;
    a.gradient.mem = foreign;
    device_rejected(&p, &d, &a, CLXENT_ERROR_INVALID_BUFFER,
                    "gradient of another context");
    clReleaseMemObject(foreign);
    clReleaseContext(other);
    release_device(&d);
    problem_free(&p);
}

Test(errors, device_options_of_the_other_family)
{
    problem p = problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, small, CLXENT_I32);
    on_device d = to_device(&p);
    cl_mem weights = buffer_of(clxent_cl_context(context()),
                               p.shape.classes * 4, p.class_weights);
    clxent_device_args a = d.args;
    a.pos_weight.mem = weights;
    device_rejected(&p, &d, &a, CLXENT_ERROR_INVALID_OPTION,
                    "pos_weight on softmax");
    clReleaseMemObject(weights);
    release_device(&d);
    problem_free(&p);
}

/* Bad labels on the device: enqueue accepts, finish names the first bad
 * row once, bad rows come out zero, everything else as the reference. */
Test(errors, labels_through_enqueue)
{
    for (size_t i = 0; i < LABEL_CASES; i++) {
        const label_case *c = &label_cases[i];
        problem p = label_problem(c, CLXENT_LOSS_SPARSE_CATEGORICAL);
        on_device d = to_device(&p);
        clxent_error error;
        answer want = solve(&p, 0);
        cr_expect_eq(clxent_enqueue(context(), &p.loss, &p.shape, &d.args, 0,
                                    NULL, NULL),
                     CLXENT_OK, "%s", c->what);
        cr_expect_eq(clxent_finish(context()), CLXENT_ERROR_INVALID_LABEL, "%s",
                     c->what);
        clxent_last_error(context(), &error);
        cr_expect_eq(error.index, c->first, "%s: index %lld", c->what,
                     (long long)error.index);
        cr_expect_eq(clxent_finish(context()), CLXENT_OK, "%s: again", c->what);
        read_outputs(&p, &d);
        expect_answer(&p, &want, c->what);
        for (size_t r = 0; r < 3 && c->bad[r] >= 0; r++)
            cr_expect_eq(p.loss_out[c->bad[r]], 0.0f, "%s", c->what);
        answer_free(&want);
        release_device(&d);
        problem_free(&p);
    }
}

/* The first error since the last finish stays, even when later calls
 * are clean. */
Test(errors, first_error_survives_clean_calls)
{
    const label_case *c = &label_cases[3];
    problem bad = label_problem(c, CLXENT_LOSS_SPARSE_CATEGORICAL);
    problem clean = clean_copy(c, CLXENT_LOSS_SPARSE_CATEGORICAL);
    on_device d_bad = to_device(&bad), d_clean = to_device(&clean);
    clxent_error error;
    cr_expect_eq(clxent_enqueue(context(), &bad.loss, &bad.shape, &d_bad.args,
                                0, NULL, NULL),
                 CLXENT_OK);
    cr_expect_eq(clxent_enqueue(context(), &clean.loss, &clean.shape,
                                &d_clean.args, 0, NULL, NULL),
                 CLXENT_OK);
    cr_expect_eq(clxent_finish(context()), CLXENT_ERROR_INVALID_LABEL);
    clxent_last_error(context(), &error);
    cr_expect_eq(error.index, c->first);
    expect_device_usable(&clean, &d_clean, "after the error");
    release_device(&d_bad);
    release_device(&d_clean);
    problem_free(&bad);
    problem_free(&clean);
}

Test(errors, binary_targets_through_enqueue)
{
    const clxent_shape shape = { 9, 4, 1 };
    problem p = problem_new(CLXENT_LOSS_BINARY, shape, CLXENT_I32);
    clxent_error error;
    p.targets[6 * 4 + 1] = 1.5f;
    p.targets[7 * 4 + 0] = NAN;
    on_device d = to_device(&p);
    cr_expect_eq(
        clxent_enqueue(context(), &p.loss, &p.shape, &d.args, 0, NULL, NULL),
        CLXENT_OK);
    cr_expect_eq(clxent_finish(context()), CLXENT_ERROR_INVALID_TARGET);
    clxent_last_error(context(), &error);
    cr_expect_eq(error.index, 6 * 4 + 1);
    cr_expect_eq(clxent_finish(context()), CLXENT_OK);
    release_device(&d);
    problem_free(&p);
}

/*
 * Bad targets on the device among rows of every width the sigmoid kernel
 * treats differently: one chunk, rows that chunks cross, whole chunks
 * with pos_weight. The reductions that fold rows without per-row outputs
 * take the flat blocks, and a block with a bad value goes back to rows:
 * the good rows of that block must still count, the bad ones be zero.
 */
Test(errors, binary_bad_targets_in_flat_blocks)
{
    const clxent_shape shapes[] = { { 300, 16, 1 },
                                    { 97, 5, 1 },
                                    { 70, 32, 1 } };
    const clxent_reduction reductions[] = { CLXENT_REDUCTION_MEAN,
                                            CLXENT_REDUCTION_SUM,
                                            CLXENT_REDUCTION_WEIGHTED_MEAN,
                                            CLXENT_REDUCTION_NONE };
    for (size_t s = 0; s < 3; s++)
        for (size_t r = 0; r < 4; r++)
            for (int per_element = 0; per_element <= 1; per_element++) {
                const clxent_shape shape = shapes[s];
                const size_t k = shape.classes;
                problem p = problem_new(s == 2 ? CLXENT_LOSS_BINARY_FOCAL
                                               : CLXENT_LOSS_BINARY,
                                        shape, CLXENT_I32);
                char what[96];
                clxent_error error;
                snprintf(what, sizeof what,
                         "%zux%zu reduction %d per_element %d", shape.rows, k,
                         (int)reductions[r], per_element);
                p.loss.reduction = reductions[r];
                p.loss.per_element = per_element;
                p.loss_values = ref_loss_count(&p.loss, &p.shape);
                p.loss_out = realloc(p.loss_out, p.loss_values * sizeof(float));
                p.targets[41 * k + 2] = 1.5f;
                p.targets[43 * k + k - 1] = NAN;
                p.targets[(shape.rows - 1) * k] = -1.0f;
                on_device d = to_device(&p);
                answer want = solve(&p, 0);
                /* MEAN's gradient is written in the pass that finds the
                 * bad values, so it divides by every row (or output). */
                const double all =
                    per_element ? (double)p.values : (double)shape.rows;
                for (size_t i = 0;
                     reductions[r] == CLXENT_REDUCTION_MEAN && i < p.values;
                     i++)
                    want.gradient[i] *= (all - 3.0) / all;
                cr_expect_eq(clxent_enqueue(context(), &p.loss, &p.shape,
                                            &d.args, 0, NULL, NULL),
                             CLXENT_OK, "%s", what);
                cr_expect_eq(clxent_finish(context()),
                             CLXENT_ERROR_INVALID_TARGET, "%s", what);
                clxent_last_error(context(), &error);
                cr_expect_eq(error.index, (int64_t)(41 * k + 2),
                             "%s: index %lld", what, (long long)error.index);
                read_outputs(&p, &d);
                expect_answer(&p, &want, what);
                answer_free(&want);
                release_device(&d);
                problem_free(&p);
            }
}

/*
 * A bad label and a NaN in rows wide enough to be split over work-groups
 * with the GPU work shape (test setup gpushape): the row that holds each
 * is named and comes out zero, the other as the reference.
 */
Test(errors, bad_values_in_split_rows)
{
    const clxent_shape shape = { 3, 9000, 1 };
    for (int nan = 0; nan <= 1; nan++) {
        problem p =
            problem_new(CLXENT_LOSS_SPARSE_CATEGORICAL, shape, CLXENT_I32);
        const char *what = nan ? "NaN at (1, 5000)" : "label 9000 in row 2";
        clxent_error error;
        p.loss.check_finite = nan;
        if (nan)
            p.predictions[9000 + 5000] = NAN;
        else
            set_label(&p, 2, 9000);
        on_device d = to_device(&p);
        answer want = solve(&p, 0);
        cr_expect_eq(clxent_enqueue(context(), &p.loss, &p.shape, &d.args, 0,
                                    NULL, NULL),
                     CLXENT_OK, "%s", what);
        cr_expect_eq(clxent_finish(context()),
                     nan ? CLXENT_ERROR_NON_FINITE_INPUT
                         : CLXENT_ERROR_INVALID_LABEL,
                     "%s", what);
        clxent_last_error(context(), &error);
        cr_expect_eq(error.index, nan ? 9000 + 5000 : 2, "%s: index %lld", what,
                     (long long)error.index);
        read_outputs(&p, &d);
        expect_answer(&p, &want, what);
        cr_expect_eq(p.loss_out[nan ? 1 : 2], 0.0f, "%s", what);
        answer_free(&want);
        release_device(&d);
        problem_free(&p);
    }
}
