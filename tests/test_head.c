/*
 * The linear head against a float64 reference: logits = X W^T + b and the
 * three gradients by plain double loops around ref_compute, checked itself
 * by finite differences; the head in one chunk and in chunks of 3 rows
 * and blocks of 2 classes.
 * Shapes stay small: CLBlast's first GEMM compiles for seconds on POCL.
 *
 * Tolerances: the device rounds X W^T to float before the loss, so the
 * relative part is 1e-4 rather than support.h's 1e-5; loss values
 * |got - want| <= 1e-5 + 1e-4 |want|, gradients
 * |got - want| <= 1e-5 g + 1e-4 |want|, g the largest |want| of the
 * gradient. Chunked and unchunked results, which only sum in another
 * order, agree to a tenth of that; the same chunks give the same bits.
 */
#include "support.h"

#include "rng.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One head problem: the loss, the shape and the optional inputs. */
typedef struct head_case {
    clxent_loss loss;
    size_t rows, hidden, classes;
    int bias;
    int sample_weights;
    float upstream_scale;
} head_case;

/* Inputs as the device sees them (float) and as the reference does. */
typedef struct head_data {
    float *inputs, *weights, *bias, *targets, *sample_weights;
    int32_t *labels;
} head_data;

/* What one computation gives, in double for comparing. */
typedef struct head_result {
    double *loss;
    double *inputs_gradient, *weights_gradient, *bias_gradient;
    uint64_t correct;
} head_result;

static int is_sparse(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

static int is_sigmoid(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

static head_case case_defaults(clxent_loss_kind kind)
{
    head_case hc;
    memset(&hc, 0, sizeof hc);
    hc.loss = clxent_loss_defaults(kind);
    hc.loss.from_logits = 1;
    hc.rows = 10, hc.hidden = 7, hc.classes = 5;
    hc.bias = 1;
    hc.upstream_scale = 1.0f;
    return hc;
}

static size_t loss_count(const head_case *hc)
{
    const clxent_shape shape = { hc->rows, hc->classes, 1 };
    return ref_loss_count(&hc->loss, &shape);
}

static float *random_floats(rng *g, size_t count, double low, double high)
{
    float *values = malloc(count * sizeof *values);
    cr_assert(values);
    for (size_t i = 0; i < count; i++)
        values[i] = (float)rng_range(g, low, high);
    return values;
}

/* Dense targets: rows of soft probabilities, or 0/1 for the sigmoid
 * family. */
static float *random_targets(rng *g, const head_case *hc)
{
    float *t = random_floats(g, hc->rows * hc->classes, 0.0, 1.0);
    for (size_t r = 0; r < hc->rows && !is_sigmoid(hc->loss.kind); r++) {
        double sum = 0.0;
        for (size_t c = 0; c < hc->classes; c++)
            sum += t[r * hc->classes + c];
        for (size_t c = 0; c < hc->classes; c++)
            t[r * hc->classes + c] /= (float)sum;
    }
    for (size_t i = 0; i < hc->rows * hc->classes && is_sigmoid(hc->loss.kind);
         i++)
        t[i] = t[i] < 0.5f ? 0.0f : 1.0f;
    return t;
}

static head_data generate(const head_case *hc, uint64_t seed)
{
    rng g = rng_seeded(seed);
    head_data d;
    memset(&d, 0, sizeof d);
    d.inputs = random_floats(&g, hc->rows * hc->hidden, -1.0, 1.0);
    d.weights = random_floats(&g, hc->classes * hc->hidden, -1.0, 1.0);
    d.bias = random_floats(&g, hc->classes, -0.5, 0.5);
    if (hc->sample_weights)
        d.sample_weights = random_floats(&g, hc->rows, 0.2, 2.0);
    if (is_sparse(hc->loss.kind)) {
        d.labels = malloc(hc->rows * sizeof *d.labels);
        cr_assert(d.labels);
        for (size_t r = 0; r < hc->rows; r++)
            d.labels[r] = (int32_t)rng_below(&g, hc->classes);
    } else {
        d.targets = random_targets(&g, hc);
    }
    return d;
}

static void release_data(head_data *d)
{
    free(d->inputs), free(d->weights), free(d->bias), free(d->targets);
    free(d->sample_weights), free(d->labels);
}

static head_result allocate_result(const head_case *hc)
{
    head_result r;
    memset(&r, 0, sizeof r);
    r.loss = calloc(loss_count(hc), sizeof(double));
    r.inputs_gradient = calloc(hc->rows * hc->hidden, sizeof(double));
    r.weights_gradient = calloc(hc->classes * hc->hidden, sizeof(double));
    r.bias_gradient = calloc(hc->classes, sizeof(double));
    cr_assert(r.loss && r.inputs_gradient && r.weights_gradient &&
              r.bias_gradient);
    return r;
}

static void release_result(head_result *r)
{
    free(r->loss), free(r->inputs_gradient), free(r->weights_gradient);
    free(r->bias_gradient);
}

static double *to_double(const float *values, size_t count)
{
    if (!values)
        return NULL;
    double *out = malloc(count * sizeof *out);
    cr_assert(out);
    for (size_t i = 0; i < count; i++)
        out[i] = values[i];
    return out;
}

/*
 * The float64 head with the weights given in double (so that finite
 * differences can move them): logits, ref_compute, then the GEMMs of the
 * chain rule as loops. Gradients are skipped when r has none.
 */
static void reference_head(const head_case *hc, const head_data *d,
                           const double *weights, head_result *out)
{
    const size_t n = hc->rows, h = hc->hidden, c = hc->classes;
    double *logits = calloc(n * c, sizeof *logits);
    double *gradient = calloc(n * c, sizeof *gradient);
    int64_t *labels = d->labels ? calloc(n, sizeof *labels) : NULL;
    double *targets = to_double(d->targets, n * c);
    double *sample_weights = to_double(d->sample_weights, n);
    cr_assert(logits && gradient);
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < c; k++) {
            double sum = hc->bias ? d->bias[k] : 0.0;
            for (size_t i = 0; i < h; i++)
                sum += (double)d->inputs[r * h + i] * weights[k * h + i];
            logits[r * c + k] = sum;
        }
    for (size_t r = 0; labels && r < n; r++)
        labels[r] = d->labels[r];

    ref_problem p = ref_problem_defaults(hc->loss.kind);
    p.loss = hc->loss;
    p.shape = (clxent_shape){ n, c, 1 };
    p.predictions = logits;
    p.targets = targets;
    p.labels = labels;
    p.sample_weights = sample_weights;
    p.upstream_scale = hc->upstream_scale;
    ref_result result = { out->loss, gradient, 0, CLXENT_OK, -1 };
    ref_compute(&p, &result);
    cr_assert_eq(result.status, CLXENT_OK, "reference: %s",
                 clxent_status_string(result.status));
    out->correct = result.correct;

    for (size_t r = 0; out->inputs_gradient && r < n; r++)
        for (size_t i = 0; i < h; i++) {
            double sum = 0.0;
            for (size_t k = 0; k < c; k++)
                sum += gradient[r * c + k] * weights[k * h + i];
            out->inputs_gradient[r * h + i] = sum;
        }
    for (size_t k = 0; out->weights_gradient && k < c; k++) {
        double column = 0.0;
        for (size_t i = 0; i < h; i++) {
            double sum = 0.0;
            for (size_t r = 0; r < n; r++)
                sum += gradient[r * c + k] * d->inputs[r * h + i];
            out->weights_gradient[k * h + i] = sum;
        }
        for (size_t r = 0; r < n; r++)
            column += gradient[r * c + k];
        out->bias_gradient[k] = column;
    }
    free(logits), free(gradient), free(labels), free(targets);
    free(sample_weights);
}

static cl_mem device_copy(const void *host, size_t bytes)
{
    cl_int code = CL_SUCCESS;
    const cl_mem_flags flags =
        host ? CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR : CL_MEM_READ_WRITE;
    cl_mem mem = clCreateBuffer(clxent_cl_context(test_context()), flags, bytes,
                                (void *)host, &code);
    cr_assert_eq(code, CL_SUCCESS, "clCreateBuffer: %d", code);
    return mem;
}

static void read_doubles(cl_mem mem, size_t count, double *out)
{
    float *values = malloc(count * sizeof *values);
    cr_assert(values);
    cl_int code =
        clEnqueueReadBuffer(clxent_queue(test_context()), mem, CL_TRUE, 0,
                            count * sizeof *values, values, 0, NULL, NULL);
    cr_assert_eq(code, CL_SUCCESS);
    for (size_t i = 0; i < count; i++)
        out[i] = values[i];
    free(values);
}

/* Device buffers of one run, released together. */
typedef struct head_buffers {
    cl_mem mem[10];
    size_t count;
} head_buffers;

static clxent_buffer keep(head_buffers *b, const void *host, size_t bytes)
{
    const clxent_buffer buffer = { device_copy(host, bytes), 0 };
    b->mem[b->count++] = buffer.mem;
    return buffer;
}

static clxent_head_args device_args(const head_case *hc, const head_data *d,
                                    head_buffers *b)
{
    const size_t n = hc->rows, h = hc->hidden, c = hc->classes;
    clxent_head_args a = clxent_head_args_defaults();
    a.inputs = keep(b, d->inputs, n * h * 4);
    a.weights = keep(b, d->weights, c * h * 4);
    if (hc->bias)
        a.bias = keep(b, d->bias, c * 4);
    a.targets =
        d->labels ? keep(b, d->labels, n * 4) : keep(b, d->targets, n * c * 4);
    if (d->sample_weights)
        a.sample_weights = keep(b, d->sample_weights, n * 4);
    a.loss = keep(b, NULL, loss_count(hc) * 4);
    a.correct = keep(b, NULL, 8);
    a.input_gradient = keep(b, NULL, n * h * 4);
    a.weight_gradient = keep(b, NULL, c * h * 4);
    if (hc->bias)
        a.bias_gradient = keep(b, NULL, c * 4);
    a.upstream_scale = hc->upstream_scale;
    return a;
}

/* Runs the head on the test device with `chunk_rows` (0: its choice)
 * and, when chunked, blocks of 2 classes. */
static head_result run_head(const head_case *hc, const head_data *d,
                            size_t chunk_rows)
{
    clxent_context *ctx = test_context();
    head_buffers b = { { NULL }, 0 };
    head_result out = allocate_result(hc);
    clxent_head_args a = device_args(hc, d, &b);
    a.chunk_rows = chunk_rows;
    a.chunk_classes = chunk_rows ? 2 : 0;
    clxent_status s = clxent_head_enqueue(ctx, &hc->loss, hc->rows, hc->hidden,
                                          hc->classes, &a, 0, NULL, NULL);
    if (s == CLXENT_OK)
        s = clxent_finish(ctx);
    cr_assert_eq(s, CLXENT_OK, "head: %s (%s)", clxent_status_string(s),
                 last_logged());
    read_doubles(a.loss.mem, loss_count(hc), out.loss);
    read_doubles(a.input_gradient.mem, hc->rows * hc->hidden,
                 out.inputs_gradient);
    read_doubles(a.weight_gradient.mem, hc->classes * hc->hidden,
                 out.weights_gradient);
    if (hc->bias)
        read_doubles(a.bias_gradient.mem, hc->classes, out.bias_gradient);
    cl_ulong correct = 0;
    cr_assert_eq(clEnqueueReadBuffer(clxent_queue(ctx), a.correct.mem, CL_TRUE,
                                     0, 8, &correct, 0, NULL, NULL),
                 CL_SUCCESS);
    out.correct = correct;
    for (size_t i = 0; i < b.count; i++)
        clReleaseMemObject(b.mem[i]);
    return out;
}

static double largest(const double *values, size_t count)
{
    double most = 0.0;
    for (size_t i = 0; i < count; i++)
        most = fmax(most, fabs(values[i]));
    return most;
}

/* Every value within absolute + relative * |want|. */
static void expect_close(const char *what, const double *got,
                         const double *want, size_t count, double absolute,
                         double relative)
{
    for (size_t i = 0; i < count; i++)
        cr_expect(fabs(got[i] - want[i]) <= absolute + relative * fabs(want[i]),
                  "%s[%zu]: got %.9g, want %.9g", what, i, got[i], want[i]);
}

static void expect_gradients(const char *what, const head_case *hc,
                             const head_result *got, const head_result *want,
                             double relative)
{
    const size_t n = hc->rows, h = hc->hidden, c = hc->classes;
    const double floor = relative / 10.0;
    char name[64];
    snprintf(name, sizeof name, "%s dX", what);
    expect_close(name, got->inputs_gradient, want->inputs_gradient, n * h,
                 floor * largest(want->inputs_gradient, n * h), relative);
    snprintf(name, sizeof name, "%s dW", what);
    expect_close(name, got->weights_gradient, want->weights_gradient, c * h,
                 floor * largest(want->weights_gradient, c * h), relative);
    snprintf(name, sizeof name, "%s db", what);
    if (hc->bias)
        expect_close(name, got->bias_gradient, want->bias_gradient, c,
                     floor * largest(want->bias_gradient, c), relative);
}

/* The head against the reference, in one chunk and in chunks of 3. */
static void check_case(const head_case *hc, uint64_t seed)
{
    head_data d = generate(hc, seed);
    head_result want = allocate_result(hc);
    double *weights = to_double(d.weights, hc->classes * hc->hidden);
    reference_head(hc, &d, weights, &want);

    head_result whole = run_head(hc, &d, 0);
    head_result chunked = run_head(hc, &d, 3);
    const size_t values = loss_count(hc);
    expect_close("loss", whole.loss, want.loss, values, 1e-5, 1e-4);
    expect_gradients("whole", hc, &whole, &want, 1e-4);
    cr_expect_eq(whole.correct, want.correct, "correct: got %llu, want %llu",
                 (unsigned long long)whole.correct,
                 (unsigned long long)want.correct);
    expect_close("chunked loss", chunked.loss, whole.loss, values, 1e-6, 1e-5);
    expect_gradients("chunked", hc, &chunked, &whole, 1e-5);
    cr_expect_eq(chunked.correct, whole.correct);

    release_result(&want), release_result(&whole), release_result(&chunked);
    free(weights);
    release_data(&d);
}

Test(head, sparse_categorical_mean)
{
    const uint64_t seed = test_seed();
    cr_log_info("seed %llu", (unsigned long long)seed);
    head_case hc = case_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    check_case(&hc, seed);
}

/* Chunks are folded in a fixed order: a rerun gives identical bits. */
Test(head, deterministic)
{
    head_case hc = case_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    hc.rows = 40;
    head_data d = generate(&hc, test_seed());
    head_result first = run_head(&hc, &d, 3);
    head_result again = run_head(&hc, &d, 3);
    const size_t n = hc.rows, h = hc.hidden, c = hc.classes;
    cr_expect(first.loss[0] == again.loss[0]);
    cr_expect(!memcmp(first.inputs_gradient, again.inputs_gradient,
                      n * h * sizeof(double)));
    cr_expect(!memcmp(first.weights_gradient, again.weights_gradient,
                      c * h * sizeof(double)));
    cr_expect(
        !memcmp(first.bias_gradient, again.bias_gradient, c * sizeof(double)));
    release_result(&first), release_result(&again);
    release_data(&d);
}

/* Other kinds and reductions, each with one more option; one test, so
 * that CLBlast compiles its kernels once. */
Test(head, kinds_and_reductions)
{
    const uint64_t seed = test_seed();
    cr_log_info("seed %llu", (unsigned long long)seed);
    head_case hc = case_defaults(CLXENT_LOSS_CATEGORICAL);
    hc.loss.reduction = CLXENT_REDUCTION_SUM;
    hc.sample_weights = 1;
    check_case(&hc, seed);

    hc = case_defaults(CLXENT_LOSS_BINARY);
    hc.loss.per_element = 1;
    hc.bias = 0;
    check_case(&hc, seed + 1);

    hc = case_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL);
    hc.loss.reduction = CLXENT_REDUCTION_NONE;
    hc.upstream_scale = 0.5f;
    hc.rows = 11, hc.hidden = 9, hc.classes = 4;
    check_case(&hc, seed + 2);
}

/* The reference's dW against central differences of its own loss, and
 * the device's dW against both: a wrong chain rule in the reference
 * cannot hide. */
Test(head, finite_differences)
{
    const uint64_t seed = test_seed();
    cr_log_info("seed %llu", (unsigned long long)seed);
    head_case hc = case_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    hc.loss.label_smoothing = 0.1f;
    head_data d = generate(&hc, seed);
    const size_t count = hc.classes * hc.hidden;
    double *weights = to_double(d.weights, count);
    head_result want = allocate_result(&hc);
    head_result moved = allocate_result(&hc);
    reference_head(&hc, &d, weights, &want);
    head_result got = run_head(&hc, &d, 3);

    const size_t picks[] = { 0, count / 2 + 1, count - 1 };
    const double step = 1e-5;
    for (size_t p = 0; p < sizeof picks / sizeof picks[0]; p++) {
        const size_t i = picks[p];
        const double kept = weights[i];
        weights[i] = kept + step;
        reference_head(&hc, &d, weights, &moved);
        const double above = moved.loss[0];
        weights[i] = kept - step;
        reference_head(&hc, &d, weights, &moved);
        const double below = moved.loss[0];
        weights[i] = kept;
        const double slope = (above - below) / (2.0 * step);
        cr_expect(fabs(want.weights_gradient[i] - slope) <=
                      1e-8 + 1e-6 * fabs(slope),
                  "reference dW[%zu] = %.12g, differences give %.12g", i,
                  want.weights_gradient[i], slope);
        cr_expect(fabs(got.weights_gradient[i] - slope) <=
                      1e-5 * largest(want.weights_gradient, count) +
                          1e-4 * fabs(slope),
                  "dW[%zu] = %.9g, differences give %.9g", i,
                  got.weights_gradient[i], slope);
    }
    release_result(&want), release_result(&moved), release_result(&got);
    free(weights);
    release_data(&d);
}

/* What the head refuses, and a bad label's row in the whole batch. */
Test(head, errors)
{
    clxent_context *ctx = test_context();
    head_case hc = case_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    head_data d = generate(&hc, 7);
    head_buffers b = { { NULL }, 0 };
    d.labels[8] = 99;
    clxent_head_args a = device_args(&hc, &d, &b);
    clxent_loss loss = hc.loss;
    const size_t n = hc.rows, h = hc.hidden, c = hc.classes;

    loss.reduction = CLXENT_REDUCTION_WEIGHTED_MEAN;
    cr_expect_eq(clxent_head_enqueue(ctx, &loss, n, h, c, &a, 0, NULL, NULL),
                 CLXENT_ERROR_INVALID_OPTION);
    loss.reduction = CLXENT_REDUCTION_MEAN;
    loss.use_ignore_class = 1;
    cr_expect_eq(clxent_head_enqueue(ctx, &loss, n, h, c, &a, 0, NULL, NULL),
                 CLXENT_ERROR_INVALID_OPTION);
    cr_expect_eq(clxent_head_enqueue(ctx, &hc.loss, 0, h, c, &a, 0, NULL, NULL),
                 CLXENT_ERROR_INVALID_SHAPE);
    cr_expect_eq(
        clxent_head_enqueue(ctx, &hc.loss, n + 1, h, c, &a, 0, NULL, NULL),
        CLXENT_ERROR_BUFFER_TOO_SMALL);

    a.chunk_rows = 3;
    cr_assert_eq(clxent_head_enqueue(ctx, &hc.loss, n, h, c, &a, 0, NULL, NULL),
                 CLXENT_OK);
    cr_expect_eq(clxent_finish(ctx), CLXENT_ERROR_INVALID_LABEL);
    clxent_error error;
    clxent_last_error(ctx, &error);
    cr_expect_eq(error.index, 8, "bad row reported as %lld",
                 (long long)error.index);

    a = clxent_head_args_defaults();
    cr_expect_eq(clxent_head_enqueue(ctx, &hc.loss, n, h, c, &a, 0, NULL, NULL),
                 CLXENT_ERROR_NULL_ARGUMENT);
    for (size_t i = 0; i < b.count; i++)
        clReleaseMemObject(b.mem[i]);
    release_data(&d);
}
