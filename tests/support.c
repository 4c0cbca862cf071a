/* Random problems and their comparison with the reference; see support.h. */
#include "support.h"

#include "rng.h"
#include "tolerance.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static clxent_context *context;
static char logged[512];

static void remember(void *user_data, clxent_log_level level,
                     const char *message)
{
    (void)user_data;
    (void)level;
    snprintf(logged, sizeof logged, "%s", message);
}

/* Closed at exit, so that leak checkers see clxent release everything. */
static void close_context(void)
{
    clxent_close(&context);
}

clxent_context *test_context(void)
{
    clxent_settings settings;
    if (context)
        return context;
    clxent_default_settings(&settings);
    settings.logger = remember;
    settings.log_level = CLXENT_LOG_DEBUG;
    const clxent_status status = clxent_open(&context, &settings);
    atexit(close_context);
    cr_assert_eq(status, CLXENT_OK, "clxent_open on CLXENT_DEVICE=%s: %s",
                 getenv("CLXENT_DEVICE") ? getenv("CLXENT_DEVICE") : "",
                 clxent_status_string(status));
    return context;
}

const char *last_logged(void)
{
    return logged;
}

uint64_t test_seed(void)
{
    const char *text = getenv("CLXENT_TEST_SEED");
    if (text && *text)
        return strtoull(text, NULL, 0);
    return (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)clock();
}

problem_spec spec_defaults(clxent_loss_kind kind)
{
    problem_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.loss = clxent_loss_defaults(kind);
    spec.loss.from_logits = 1;
    spec.shape.rows = 2;
    spec.shape.classes = 3;
    spec.shape.spatial = 1;
    spec.label_dtype = CLXENT_I32;
    spec.upstream_scale = 1.0f;
    spec.gradient = 1;
    spec.accuracy = 1;
    spec.logit_range = 4.0;
    return spec;
}

static int is_sigmoid(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

static int is_sparse(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

/* A value as the device will see it: rounded to float. */
static double as_float(double value)
{
    return (double)(float)value;
}

/* The inputs of one problem, in float64 and in their device types. */
typedef struct arrays {
    size_t values, rows, classes, loss_count;
    double *predictions, *targets, *class_weights, *class_alpha;
    double *sample_weights, *element_weights, *pos_weight, *upstream;
    int64_t *labels;
    float *predictions_f, *targets_f, *class_weights_f, *class_alpha_f;
    float *sample_weights_f, *element_weights_f, *pos_weight_f, *upstream_f;
    void *labels_device;
    double *want_loss, *want_gradient;
    float *got_loss, *got_gradient;
} arrays;

static void fill_weights(rng *g, size_t count, double **d, float **f)
{
    *d = malloc(count * sizeof **d);
    *f = malloc(count * sizeof **f);
    for (size_t i = 0; i < count; i++) {
        (*d)[i] = as_float(rng_range(g, 0.5, 2.0));
        (*f)[i] = (float)(*d)[i];
    }
}

static void fill_predictions(rng *g, const problem_spec *spec, arrays *a)
{
    const int sigmoid = is_sigmoid(spec->loss.kind);
    for (size_t i = 0; i < a->values; i++) {
        double v;
        if (spec->loss.from_logits)
            v = rng_range(g, -spec->logit_range, spec->logit_range);
        else
            v = sigmoid ? rng_range(g, 0.02, 0.98) : rng_range(g, 0.05, 1.0);
        a->predictions[i] = as_float(v);
        a->predictions_f[i] = (float)a->predictions[i];
    }
}

/* Fixed inputs override the random ones, value for value. */
static void use_fixed(const problem_spec *spec, arrays *a)
{
    for (size_t i = 0; spec->fixed_predictions && i < a->values; i++) {
        a->predictions_f[i] = spec->fixed_predictions[i];
        a->predictions[i] = spec->fixed_predictions[i];
    }
    for (size_t i = 0; spec->fixed_targets && a->targets && i < a->values;
         i++) {
        a->targets_f[i] = spec->fixed_targets[i];
        a->targets[i] = spec->fixed_targets[i];
    }
}

static void fill_labels(rng *g, const problem_spec *spec, arrays *a)
{
    a->labels = malloc(a->rows * sizeof *a->labels);
    a->labels_device = malloc(a->rows * sizeof(int64_t));
    for (size_t r = 0; r < a->rows; r++) {
        int64_t label = (int64_t)rng_below(g, a->classes);
        if (spec->loss.use_ignore_class && rng_uniform(g) < spec->ignore_share)
            label = spec->loss.ignore_class;
        a->labels[r] = label;
        if (spec->label_dtype == CLXENT_I64)
            ((int64_t *)a->labels_device)[r] = label;
        else
            ((int32_t *)a->labels_device)[r] = (int32_t)label;
    }
}

/* Dense softmax targets: one-hot, or a random distribution per row. */
static void fill_dense_targets(rng *g, const problem_spec *spec, arrays *a)
{
    const size_t spatial = a->values / (spec->shape.rows * a->classes);
    for (size_t r = 0; r < a->rows; r++) {
        const size_t n = r / spatial, s = r % spatial;
        const size_t hot = (size_t)rng_below(g, a->classes);
        double total = 0.0;
        for (size_t c = 0; c < a->classes; c++) {
            const size_t at = (n * a->classes + c) * spatial + s;
            a->targets[at] =
                spec->hard_targets ? (c == hot) : rng_range(g, 0.0, 1.0);
            total += a->targets[at];
        }
        for (size_t c = 0; c < a->classes; c++) {
            const size_t at = (n * a->classes + c) * spatial + s;
            a->targets[at] = as_float(a->targets[at] / total);
            a->targets_f[at] = (float)a->targets[at];
        }
    }
}

static void fill_binary_targets(rng *g, const problem_spec *spec, arrays *a)
{
    for (size_t i = 0; i < a->values; i++) {
        const double y = spec->hard_targets ? (double)rng_below(g, 2)
                                            : rng_range(g, 0.0, 1.0);
        a->targets[i] = as_float(y);
        a->targets_f[i] = (float)a->targets[i];
    }
}

static void generate(const problem_spec *spec, uint64_t seed, arrays *a)
{
    rng g = rng_seeded(seed);
    const int sigmoid = is_sigmoid(spec->loss.kind);
    memset(a, 0, sizeof *a);
    a->values = ref_value_count(&spec->shape);
    a->classes = spec->shape.classes;
    a->rows = sigmoid ? spec->shape.rows : a->values / a->classes;
    a->loss_count = ref_loss_count(&spec->loss, &spec->shape);
    a->predictions = malloc(a->values * sizeof(double));
    a->predictions_f = malloc(a->values * sizeof(float));
    fill_predictions(&g, spec, a);
    if (is_sparse(spec->loss.kind)) {
        fill_labels(&g, spec, a);
    } else {
        a->targets = malloc(a->values * sizeof(double));
        a->targets_f = malloc(a->values * sizeof(float));
        if (sigmoid)
            fill_binary_targets(&g, spec, a);
        else
            fill_dense_targets(&g, spec, a);
    }
    use_fixed(spec, a);
    if (spec->class_weights)
        fill_weights(&g, a->classes, &a->class_weights, &a->class_weights_f);
    if (spec->class_alpha)
        fill_weights(&g, a->classes, &a->class_alpha, &a->class_alpha_f);
    if (spec->sample_weights)
        fill_weights(&g, a->rows, &a->sample_weights, &a->sample_weights_f);
    if (spec->element_weights)
        fill_weights(&g, a->values, &a->element_weights, &a->element_weights_f);
    if (spec->pos_weight)
        fill_weights(&g, a->classes, &a->pos_weight, &a->pos_weight_f);
    if (spec->upstream)
        fill_weights(&g, a->loss_count, &a->upstream, &a->upstream_f);
    /* class_alpha is a share: keep it in [0, 1]. */
    for (size_t c = 0; spec->class_alpha && c < a->classes; c++) {
        a->class_alpha_f[c] /= 2.0f;
        a->class_alpha[c] = a->class_alpha_f[c];
    }
    a->want_loss = calloc(a->loss_count, sizeof(double));
    a->want_gradient = calloc(a->values, sizeof(double));
    a->got_loss = calloc(a->loss_count, sizeof(float));
    a->got_gradient = calloc(a->values, sizeof(float));
}

static void release(arrays *a)
{
    void *all[] = { a->predictions,   a->targets,          a->class_weights,
                    a->class_alpha,   a->sample_weights,   a->element_weights,
                    a->pos_weight,    a->upstream,         a->labels,
                    a->predictions_f, a->targets_f,        a->class_weights_f,
                    a->class_alpha_f, a->sample_weights_f, a->element_weights_f,
                    a->pos_weight_f,  a->upstream_f,       a->labels_device,
                    a->want_loss,     a->want_gradient,    a->got_loss,
                    a->got_gradient };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

static void run_reference(const problem_spec *spec, const arrays *a,
                          ref_result *want)
{
    ref_problem p = ref_problem_defaults(spec->loss.kind);
    p.loss = spec->loss;
    p.shape = spec->shape;
    p.predictions = a->predictions;
    p.targets = a->targets;
    p.labels = a->labels;
    p.class_weights = a->class_weights;
    p.class_alpha = a->class_alpha;
    p.sample_weights = a->sample_weights;
    p.element_weights = a->element_weights;
    p.pos_weight = a->pos_weight;
    p.upstream = a->upstream;
    p.upstream_scale = spec->upstream_scale;
    memset(want, 0, sizeof *want);
    want->loss = a->want_loss;
    want->gradient = spec->gradient ? a->want_gradient : NULL;
    ref_compute(&p, want);
}

static clxent_status run_library(clxent_context *context,
                                 const problem_spec *spec, arrays *a,
                                 uint64_t *correct)
{
    clxent_host_args h = clxent_host_args_defaults();
    h.label_dtype = spec->label_dtype;
    h.predictions = a->predictions_f;
    h.targets = a->labels_device ? a->labels_device : (void *)a->targets_f;
    h.class_weights = a->class_weights_f;
    h.class_alpha = a->class_alpha_f;
    h.sample_weights = a->sample_weights_f;
    h.element_weights = a->element_weights_f;
    h.pos_weight = a->pos_weight_f;
    h.upstream = a->upstream_f;
    h.upstream_scale = spec->upstream_scale;
    h.loss = a->got_loss;
    h.correct = spec->accuracy ? correct : NULL;
    if (spec->gradient && spec->in_place) {
        memcpy(a->got_gradient, a->predictions_f, a->values * sizeof(float));
        h.predictions = a->got_gradient;
        h.gradient = a->got_gradient;
    } else if (spec->gradient) {
        h.gradient = a->got_gradient;
    }
    return clxent_compute(context, &spec->loss, &spec->shape, &h);
}

/* What disagreed: a count, and the first lines of text. */
typedef struct findings {
    size_t count;
    char text[1024];
} findings;

static void note(findings *f, const char *format, ...)
{
    const size_t used = strlen(f->text);
    va_list list;
    f->count++;
    if (used + 2 >= sizeof f->text)
        return;
    va_start(list, format);
    vsnprintf(f->text + used, sizeof f->text - used - 1, format, list);
    va_end(list);
    strcat(f->text, "\n");
}

static void compare_outputs(const problem_spec *spec, const arrays *a,
                            uint64_t correct, const ref_result *want,
                            findings *f)
{
    const double relative = relative_tolerance(&spec->loss);
    for (size_t i = 0; i < a->loss_count; i++)
        if (!agrees(a->got_loss[i], a->want_loss[i], 1e-6, relative))
            note(f, "loss[%zu] is %.9g, reference %.9g", i, a->got_loss[i],
                 a->want_loss[i]);
    if (spec->gradient) {
        double largest = 0.0;
        for (size_t i = 0; i < a->values; i++)
            largest = fmax(largest, fabs(a->want_gradient[i]));
        for (size_t i = 0; i < a->values; i++)
            if (!agrees(a->got_gradient[i], a->want_gradient[i], 1e-6 * largest,
                        relative))
                note(f, "gradient[%zu] is %.9g, reference %.9g", i,
                     a->got_gradient[i], a->want_gradient[i]);
    }
    if (spec->accuracy && correct != want->correct)
        note(f, "%llu counted correct, reference %llu",
             (unsigned long long)correct, (unsigned long long)want->correct);
}

/* Everything but the verdict, so that threads without Criterion's
 * assertions can use it too. */
static clxent_status compare_problem(clxent_context *context,
                                     const problem_spec *spec, uint64_t seed,
                                     findings *f)
{
    arrays a;
    ref_result want;
    uint64_t correct = 0;
    generate(spec, seed, &a);
    run_reference(spec, &a, &want);
    const clxent_status got = run_library(context, spec, &a, &correct);
    if (got != want.status)
        note(f, "status %s, reference %s", clxent_status_string(got),
             clxent_status_string(want.status));
    if (got == CLXENT_OK && want.status == CLXENT_OK)
        compare_outputs(spec, &a, correct, &want, f);
    if (got != CLXENT_OK && got == want.status) {
        clxent_error error;
        clxent_last_error(context, &error);
        if (error.index != want.bad_index)
            note(f, "error index %lld, reference %lld", (long long)error.index,
                 (long long)want.bad_index);
    }
    release(&a);
    return got;
}

clxent_status check_problem(const problem_spec *spec, uint64_t seed)
{
    findings f = { 0, "" };
    const clxent_status got = compare_problem(test_context(), spec, seed, &f);
    cr_expect_eq(f.count, 0,
                 "seed %llu: %zu disagreements with the "
                 "reference, the first:\n%s",
                 (unsigned long long)seed, f.count, f.text);
    return got;
}

size_t problem_disagreements(clxent_context *context, const problem_spec *spec,
                             uint64_t seed, char *report, size_t report_size)
{
    findings f = { 0, "" };
    compare_problem(context, spec, seed, &f);
    if (report && report_size)
        snprintf(report, report_size, "%s", f.text);
    return f.count;
}
