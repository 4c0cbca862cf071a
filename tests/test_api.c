/*
 * The contract of clxent.h apart from the numbers: statuses and version,
 * loss defaults, opening and closing, device selectors, an adopted
 * application queue, determinism, events and wait lists, and a library
 * that logs through the callback and never prints.
 */
#include "support.h"

#include "rng.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* A small sparse problem and its float64 answer                       */

typedef struct sparse_problem {
    clxent_loss loss;
    clxent_shape shape;
    size_t values;
    float *predictions;
    int32_t *labels;
    double want_loss;
    double *want_gradient;
    uint64_t want_correct;
} sparse_problem;

static sparse_problem sparse_problem_new(size_t rows, size_t classes,
                                         uint64_t seed)
{
    sparse_problem p;
    rng g = rng_seeded(seed);
    memset(&p, 0, sizeof p);
    p.loss = clxent_loss_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    p.loss.from_logits = 1;
    p.shape = (clxent_shape){ rows, classes, 1 };
    p.values = rows * classes;
    p.predictions = malloc(p.values * sizeof *p.predictions);
    p.labels = malloc(rows * sizeof *p.labels);
    for (size_t i = 0; i < p.values; i++)
        p.predictions[i] = (float)rng_range(&g, -4.0, 4.0);
    for (size_t r = 0; r < rows; r++)
        p.labels[r] = (int32_t)rng_below(&g, classes);
    return p;
}

/* The reference's mean loss, gradient and count for the problem. */
static void sparse_problem_solve(sparse_problem *p)
{
    ref_problem problem = ref_problem_defaults(p->loss.kind);
    ref_result result;
    double *predictions = malloc(p->values * sizeof *predictions);
    int64_t *labels = malloc(p->shape.rows * sizeof *labels);
    for (size_t i = 0; i < p->values; i++)
        predictions[i] = p->predictions[i];
    for (size_t r = 0; r < p->shape.rows; r++)
        labels[r] = p->labels[r];
    problem.loss = p->loss;
    problem.shape = p->shape;
    problem.predictions = predictions;
    problem.labels = labels;
    p->want_gradient = malloc(p->values * sizeof *p->want_gradient);
    memset(&result, 0, sizeof result);
    result.loss = &p->want_loss;
    result.gradient = p->want_gradient;
    ref_compute(&problem, &result);
    cr_assert_eq(result.status, CLXENT_OK);
    p->want_correct = result.correct;
    free(predictions);
    free(labels);
}

static void sparse_problem_free(sparse_problem *p)
{
    free(p->predictions);
    free(p->labels);
    free(p->want_gradient);
}

static int close_to(double got, double want, double absolute)
{
    return fabs(got - want) <= absolute + 1e-5 * fabs(want);
}

static void expect_matches(const sparse_problem *p, float loss,
                           const float *gradient, uint64_t correct)
{
    cr_expect(close_to(loss, p->want_loss, 1e-6), "loss %.9g, reference %.9g",
              loss, p->want_loss);
    for (size_t i = 0; i < p->values; i++)
        cr_expect(close_to(gradient[i], p->want_gradient[i], 1e-7),
                  "gradient[%zu] %.9g, reference %.9g", i, gradient[i],
                  p->want_gradient[i]);
    cr_expect_eq(correct, p->want_correct);
}

/* ------------------------------------------------------------------ */
/* Statuses, version and defaults                                      */

static const clxent_status every_status[] = {
#define STATUS_VALUE(name, value, text) name,
    CLXENT_STATUS_LIST(STATUS_VALUE)
#undef STATUS_VALUE
};
#define STATUS_COUNT (sizeof every_status / sizeof every_status[0])

Test(api, status_strings_are_distinct_and_never_empty)
{
    for (size_t i = 0; i < STATUS_COUNT; i++) {
        const char *text = clxent_status_string(every_status[i]);
        cr_assert_not_null(text);
        cr_expect_gt(strlen(text), 0, "status %d", (int)every_status[i]);
        cr_expect_str_neq(text, "unknown status", "status %d",
                          (int)every_status[i]);
        for (size_t j = 0; j < i; j++)
            cr_expect_str_neq(text, clxent_status_string(every_status[j]),
                              "statuses %d and %d", (int)every_status[i],
                              (int)every_status[j]);
    }
    cr_expect_str_eq(clxent_status_string((clxent_status)12345),
                     "unknown status");
    cr_expect_str_eq(clxent_status_string((clxent_status)-999),
                     "unknown status");
}

Test(api, version_string_matches_the_header)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", CLXENT_VERSION_MAJOR,
             CLXENT_VERSION_MINOR, CLXENT_VERSION_PATCH);
    cr_expect_str_eq(clxent_version_string(), want);
}

static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static void expect_same_loss(const clxent_loss *got, const clxent_loss *want)
{
    cr_expect_eq(got->kind, want->kind);
    cr_expect_eq(got->reduction, want->reduction);
    cr_expect_eq(got->from_logits, want->from_logits);
    cr_expect(same_float(got->epsilon, want->epsilon));
    cr_expect(same_float(got->label_smoothing, want->label_smoothing));
    cr_expect_eq(got->use_ignore_class, want->use_ignore_class);
    cr_expect_eq(got->ignore_class, want->ignore_class);
    cr_expect_eq(got->empty_mean_is_nan, want->empty_mean_is_nan);
    cr_expect_eq(got->check_finite, want->check_finite);
    cr_expect(same_float(got->gamma, want->gamma));
    cr_expect(same_float(got->alpha, want->alpha));
    cr_expect_eq(got->class_balancing, want->class_balancing);
    cr_expect(same_float(got->z_loss, want->z_loss));
    cr_expect(same_float(got->logit_cap, want->logit_cap));
    cr_expect_eq(got->top_k, want->top_k);
    cr_expect_eq(got->per_element, want->per_element);
    cr_expect_eq(got->hard_targets, want->hard_targets);
    cr_expect(same_float(got->threshold, want->threshold));
    for (size_t i = 0; i < 8; i++)
        cr_expect_eq(got->reserved[i], 0u);
}

Test(api, loss_defaults_are_the_keras_defaults)
{
    for (int kind = 0; kind < CLXENT_LOSS_KIND_COUNT; kind++) {
        const clxent_loss got = clxent_loss_defaults((clxent_loss_kind)kind);
        const clxent_loss want = ref_loss_defaults((clxent_loss_kind)kind);
        expect_same_loss(&got, &want);
        /* The documented values themselves, in case both drift. */
        cr_expect_eq(got.reduction, CLXENT_REDUCTION_MEAN);
        cr_expect_eq(got.from_logits, 0);
        cr_expect_eq(got.epsilon, 1e-7f);
        cr_expect_eq(got.gamma, 2.0f);
        cr_expect_eq(got.alpha, 0.25f);
        cr_expect_eq(got.top_k, 1u);
        cr_expect_eq(got.ignore_class, -100);
        cr_expect(isnan(got.threshold));
    }
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                 */

Test(api, close_accepts_null)
{
    clxent_context *none = NULL;
    clxent_close(NULL);
    clxent_close(&none);
    cr_expect_null(none);
}

/* Contexts that leaked OpenCL objects would, over enough rounds, fail to
 * open or to compute. */
Test(api, open_close_many_times)
{
    sparse_problem p = sparse_problem_new(9, 4, test_seed());
    clxent_settings settings;
    clxent_default_settings(&settings);
    sparse_problem_solve(&p);
    for (int round = 0; round < 60; round++) {
        clxent_context *ctx = NULL;
        cr_assert_eq(clxent_open(&ctx, &settings), CLXENT_OK, "round %d",
                     round);
        cr_assert_not_null(ctx);
        if (round % 10 == 0) {
            float loss = NAN;
            float *gradient = calloc(p.values, sizeof *gradient);
            uint64_t correct = 0;
            clxent_host_args h = clxent_host_args_defaults();
            h.predictions = p.predictions;
            h.targets = p.labels;
            h.loss = &loss;
            h.gradient = gradient;
            h.correct = &correct;
            cr_assert_eq(clxent_compute(ctx, &p.loss, &p.shape, &h), CLXENT_OK,
                         "round %d", round);
            expect_matches(&p, loss, gradient, correct);
            free(gradient);
        }
        clxent_close(&ctx);
        cr_assert_null(ctx);
    }
    sparse_problem_free(&p);
}

/* ------------------------------------------------------------------ */
/* Device selectors                                                    */

static size_t find(const char *selector, clxent_status want,
                   clxent_device_entry *entries, size_t capacity)
{
    size_t count = 12345;
    const clxent_status got =
        clxent_find_devices(selector, entries, capacity, &count);
    cr_expect_eq(got, want, "selector '%s': %s", selector ? selector : "NULL",
                 clxent_status_string(got));
    if (got != CLXENT_OK)
        cr_expect_eq(count, 0, "selector '%s' failed with count %zu",
                     selector ? selector : "NULL", count);
    return count;
}

static cl_device_type type_of(cl_device_id device)
{
    cl_device_type type = 0;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    return type;
}

static size_t count_of_type(const clxent_device_entry *all, size_t count,
                            cl_device_type type)
{
    size_t matching = 0;
    for (size_t i = 0; i < count; i++)
        matching += (type_of(all[i].device) & type) != 0;
    return matching;
}

Test(api, selectors_all_cpu_gpu)
{
    clxent_device_entry all[64], some[64];
    const size_t total = find("all", CLXENT_OK, all, 64);
    cr_assert_geq(total, 2, "POCL_DEVICES='pthread basic' gives 2 devices");
    cr_expect_eq(find("ALL", CLXENT_OK, NULL, 0), total);

    const size_t cpus = count_of_type(all, total, CL_DEVICE_TYPE_CPU);
    const size_t gpus = count_of_type(all, total, CL_DEVICE_TYPE_GPU);
    cr_expect_eq(
        find("cpu", cpus ? CLXENT_OK : CLXENT_ERROR_NO_DEVICE, some, 64), cpus);
    for (size_t i = 0; i < cpus; i++)
        cr_expect(type_of(some[i].device) & CL_DEVICE_TYPE_CPU);
    /* POCL has no GPU; where a machine has one, the count must agree. */
    cr_expect_eq(
        find("gpu", gpus ? CLXENT_OK : CLXENT_ERROR_NO_DEVICE, some, 64), gpus);
}

Test(api, selectors_by_index)
{
    clxent_device_entry entry[2];
    memset(entry, 0, sizeof entry);
    cr_expect_eq(find("0:0", CLXENT_OK, entry, 2), 1);
    cr_expect_eq(entry[0].platform_index, 0);
    cr_expect_eq(entry[0].device_index, 0);
    cr_expect_not_null(entry[0].device);
    cr_expect_null(entry[1].device, "one match writes one entry");
    find("0:99", CLXENT_ERROR_NO_DEVICE, entry, 2);
    find("99:0", CLXENT_ERROR_NO_DEVICE, entry, 2);
    find("1:x", CLXENT_ERROR_INVALID_SELECTOR, entry, 2);
    find("0:", CLXENT_ERROR_INVALID_SELECTOR, entry, 2);
    find("0:1:2", CLXENT_ERROR_INVALID_SELECTOR, entry, 2);
}

static int name_contains(cl_device_id device, const char *part)
{
    char name[256] = "";
    clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof name - 1, name, NULL);
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return strstr(name, part) != NULL;
}

Test(api, selectors_by_name_ignore_case)
{
    clxent_device_entry entries[64];
    const size_t count = find("PThReAd", CLXENT_OK, entries, 64);
    cr_assert_geq(count, 1);
    for (size_t i = 0; i < count; i++)
        cr_expect(name_contains(entries[i].device, "pthread"));
    find("no such device anywhere", CLXENT_ERROR_NO_DEVICE, entries, 64);
}

Test(api, selector_default_is_exactly_one)
{
    clxent_device_entry entries[4];
    cr_expect_eq(find(NULL, CLXENT_OK, entries, 4), 1);
    cr_expect_eq(find("", CLXENT_OK, entries, 4), 1);
    cr_expect_eq(find("default", CLXENT_OK, entries, 4), 1);
    cr_expect_eq(find("DEFAULT", CLXENT_OK, NULL, 0), 1);
}

Test(api, selector_capacity_zero_only_counts)
{
    clxent_device_entry entries[64], guard;
    size_t count = 0;
    const size_t total = find("all", CLXENT_OK, entries, 64);
    cr_expect_eq(find("all", CLXENT_OK, NULL, 0), total);
    /* Capacity 1 writes one entry and still counts every match. */
    memset(&guard, 0xab, sizeof guard);
    entries[1] = guard;
    cr_expect_eq(clxent_find_devices("all", entries, 1, &count), CLXENT_OK);
    cr_expect_eq(count, total);
    cr_expect_eq(memcmp(&entries[1], &guard, sizeof guard), 0);
    cr_expect_eq(clxent_find_devices("all", NULL, 1, &count),
                 CLXENT_ERROR_NULL_ARGUMENT);
    cr_expect_eq(clxent_find_devices("all", entries, 4, NULL),
                 CLXENT_ERROR_NULL_ARGUMENT);
}

/* A logger that keeps the count and the last message. */
typedef struct log_record {
    int messages;
    int errors;
    char last[512];
} log_record;

static void record(void *user_data, clxent_log_level level, const char *message)
{
    log_record *log = user_data;
    log->messages++;
    log->errors += level == CLXENT_LOG_ERROR;
    snprintf(log->last, sizeof log->last, "%s", message);
}

static void expect_open_fails(const char *selector, clxent_status want)
{
    clxent_settings settings;
    log_record log = { 0, 0, "" };
    clxent_context *ctx = (clxent_context *)&settings; /* not NULL */
    clxent_default_settings(&settings);
    settings.device = selector;
    settings.logger = record;
    settings.logger_data = &log;
    cr_expect_eq(clxent_open(&ctx, &settings), want, "selector '%s'", selector);
    cr_expect_null(ctx, "a failed open leaves *context NULL");
    cr_expect_geq(log.errors, 1, "selector '%s' logged nothing", selector);
}

Test(api, open_with_a_bad_selector_fails_cleanly)
{
    expect_open_fails("1:x", CLXENT_ERROR_INVALID_SELECTOR);
    expect_open_fails("0:", CLXENT_ERROR_INVALID_SELECTOR);
    expect_open_fails("0:99", CLXENT_ERROR_NO_DEVICE);
    expect_open_fails("no such device anywhere", CLXENT_ERROR_NO_DEVICE);
    cr_expect_eq(clxent_open(NULL, NULL), CLXENT_ERROR_NULL_ARGUMENT);
}

/* ------------------------------------------------------------------ */
/* An adopted application queue                                        */

typedef struct application {
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
} application;

/* The application's own context on the device the suite runs on. */
static application application_new(cl_command_queue_properties properties)
{
    application app;
    clxent_device_entry entry;
    size_t count = 0;
    cl_int code = CL_SUCCESS;
    cr_assert_eq(
        clxent_find_devices(getenv("CLXENT_DEVICE"), &entry, 1, &count),
        CLXENT_OK);
    app.device = entry.device;
    app.cl = clCreateContext(NULL, 1, &app.device, NULL, NULL, &code);
    cr_assert_eq(code, CL_SUCCESS);
    app.queue = clCreateCommandQueue(app.cl, app.device, properties, &code);
    cr_assert_eq(code, CL_SUCCESS);
    return app;
}

static cl_uint references(cl_context cl)
{
    cl_uint count = 0;
    clGetContextInfo(cl, CL_CONTEXT_REFERENCE_COUNT, sizeof count, &count,
                     NULL);
    return count;
}

static cl_uint queue_references(cl_command_queue queue)
{
    cl_uint count = 0;
    clGetCommandQueueInfo(queue, CL_QUEUE_REFERENCE_COUNT, sizeof count, &count,
                          NULL);
    return count;
}

/* A buffer of `offset` sentinel values, then `bytes` of `data` (or the
 * sentinel), then one more sentinel value. */
static cl_mem padded(const application *app, size_t offset, size_t size,
                     size_t count, const void *data)
{
    const size_t bytes = (offset + count + 1) * size;
    unsigned char *host = malloc(bytes);
    cl_int code = CL_SUCCESS;
    memset(host, 0x7f, bytes);
    if (data)
        memcpy(host + offset * size, data, count * size);
    const cl_mem_flags flags = CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR;
    cl_mem mem = clCreateBuffer(app->cl, flags, bytes, host, &code);
    cr_assert_eq(code, CL_SUCCESS);
    free(host);
    return mem;
}

/* Reads `count` values after `offset` and checks the sentinels around. */
static void read_padded(const application *app, cl_mem mem, size_t offset,
                        size_t size, size_t count, void *out)
{
    const size_t bytes = (offset + count + 1) * size;
    unsigned char *host = malloc(bytes);
    cr_assert_eq(clEnqueueReadBuffer(app->queue, mem, CL_TRUE, 0, bytes, host,
                                     0, NULL, NULL),
                 CL_SUCCESS);
    for (size_t i = 0; i < offset * size; i++)
        cr_expect_eq(host[i], 0x7f, "byte %zu before the offset changed", i);
    for (size_t i = (offset + count) * size; i < bytes; i++)
        cr_expect_eq(host[i], 0x7f, "byte %zu after the data changed", i);
    memcpy(out, host + offset * size, count * size);
    free(host);
}

static void run_on_application_buffers(const application *app,
                                       clxent_context *ctx)
{
    enum {
        AT_PREDICTIONS = 5,
        AT_LABELS = 3,
        AT_LOSS = 2,
        AT_GRADIENT = 7,
        AT_CORRECT = 1
    };
    sparse_problem p = sparse_problem_new(37, 11, test_seed());
    float loss = NAN;
    uint64_t correct = 0;
    float *gradient = malloc(p.values * sizeof *gradient);
    clxent_device_args a = clxent_device_args_defaults();
    sparse_problem_solve(&p);
    a.predictions = (clxent_buffer){
        padded(app, AT_PREDICTIONS, 4, p.values, p.predictions), AT_PREDICTIONS
    };
    a.targets =
        (clxent_buffer){ padded(app, AT_LABELS, 4, p.shape.rows, p.labels),
                         AT_LABELS };
    a.loss = (clxent_buffer){ padded(app, AT_LOSS, 4, 1, NULL), AT_LOSS };
    a.gradient = (clxent_buffer){ padded(app, AT_GRADIENT, 4, p.values, NULL),
                                  AT_GRADIENT };
    a.correct =
        (clxent_buffer){ padded(app, AT_CORRECT, 8, 1, NULL), AT_CORRECT };

    cr_assert_eq(clxent_enqueue(ctx, &p.loss, &p.shape, &a, 0, NULL, NULL),
                 CLXENT_OK);
    cr_assert_eq(clxent_finish(ctx), CLXENT_OK);
    read_padded(app, a.loss.mem, AT_LOSS, 4, 1, &loss);
    read_padded(app, a.gradient.mem, AT_GRADIENT, 4, p.values, gradient);
    read_padded(app, a.correct.mem, AT_CORRECT, 8, 1, &correct);
    expect_matches(&p, loss, gradient, correct);

    const cl_mem all[] = { a.predictions.mem, a.targets.mem, a.loss.mem,
                           a.gradient.mem, a.correct.mem };
    for (size_t i = 0; i < 5; i++)
        clReleaseMemObject(all[i]);
    free(gradient);
    sparse_problem_free(&p);
}

/* The application's queue still runs its own commands. The write blocks:
 * on an out-of-order queue the read could otherwise run first. */
static void expect_queue_works(const application *app)
{
    const int sent[4] = { 1, 2, 3, 4 };
    int back[4] = { 0, 0, 0, 0 };
    cl_int code = CL_SUCCESS;
    cl_mem mem =
        clCreateBuffer(app->cl, CL_MEM_READ_WRITE, sizeof sent, NULL, &code);
    cr_assert_eq(code, CL_SUCCESS);
    cr_expect_eq(clEnqueueWriteBuffer(app->queue, mem, CL_TRUE, 0, sizeof sent,
                                      sent, 0, NULL, NULL),
                 CL_SUCCESS);
    cr_expect_eq(clEnqueueReadBuffer(app->queue, mem, CL_TRUE, 0, sizeof back,
                                     back, 0, NULL, NULL),
                 CL_SUCCESS);
    cr_expect_eq(memcmp(sent, back, sizeof sent), 0);
    clReleaseMemObject(mem);
}

Test(api, adopted_queue_with_offsets)
{
    application app = application_new(0);
    clxent_context *ctx = NULL;
    clxent_settings settings;
    const cl_uint context_refs = references(app.cl);
    clxent_default_settings(&settings);
    settings.queue = app.queue;
    settings.device = "no such device anywhere"; /* ignored with a queue */
    cr_assert_eq(clxent_open(&ctx, &settings), CLXENT_OK);
    cr_expect_eq(clxent_queue(ctx), app.queue);
    cr_expect_eq(clxent_cl_context(ctx), app.cl);
    cr_expect_eq(clxent_device(ctx), app.device);

    run_on_application_buffers(&app, ctx);
    clxent_close(&ctx);

    /* POCL's own events may hold the queue a while; the context count
     * shows whether the library released what it retained. */
    cr_expect_eq(references(app.cl), context_refs);
    expect_queue_works(&app);
    clReleaseCommandQueue(app.queue);
    clReleaseContext(app.cl);
}

Test(api, adopted_out_of_order_queue_is_refused)
{
    cl_command_queue_properties supported = 0;
    clxent_device_entry entry;
    size_t count = 0;
    clxent_find_devices(getenv("CLXENT_DEVICE"), &entry, 1, &count);
    clGetDeviceInfo(entry.device, CL_DEVICE_QUEUE_PROPERTIES, sizeof supported,
                    &supported, NULL);
    if (!(supported & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE))
        cr_skip_test("the device has no out-of-order queues");

    application app = application_new(CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE);
    const cl_uint context_refs = references(app.cl);
    const cl_uint queue_refs = queue_references(app.queue);
    clxent_context *ctx = NULL;
    clxent_settings settings;
    clxent_default_settings(&settings);
    settings.queue = app.queue;
    cr_expect_eq(clxent_open(&ctx, &settings), CLXENT_ERROR_INVALID_OPTION);
    cr_expect_null(ctx);
    /* The refusal must leave the application's objects as they were. */
    cr_expect_eq(references(app.cl), context_refs);
    cr_expect_eq(queue_references(app.queue), queue_refs);
    expect_queue_works(&app);
    clReleaseCommandQueue(app.queue);
    clReleaseContext(app.cl);
}

/* ------------------------------------------------------------------ */
/* Determinism                                                         */

static void compute_mean(const sparse_problem *p, float *loss, float *gradient)
{
    clxent_host_args h = clxent_host_args_defaults();
    h.predictions = p->predictions;
    h.targets = p->labels;
    h.loss = loss;
    h.gradient = gradient;
    cr_assert_eq(clxent_compute(test_context(), &p->loss, &p->shape, &h),
                 CLXENT_OK);
}

Test(api, same_input_gives_identical_bits)
{
    sparse_problem p = sparse_problem_new(3000, 300, test_seed());
    float loss[2];
    float *gradient[2];
    for (int run = 0; run < 2; run++) {
        gradient[run] = malloc(p.values * sizeof(float));
        memset(gradient[run], run ? 0x55 : 0xaa, p.values * sizeof(float));
        compute_mean(&p, &loss[run], gradient[run]);
    }
    cr_expect_eq(memcmp(&loss[0], &loss[1], sizeof(float)), 0,
                 "loss %.9g then %.9g", loss[0], loss[1]);
    cr_expect_eq(memcmp(gradient[0], gradient[1], p.values * sizeof(float)), 0,
                 "the gradients differ");
    free(gradient[0]);
    free(gradient[1]);
    sparse_problem_free(&p);
}

/* ------------------------------------------------------------------ */
/* Events and wait lists                                               */

static cl_mem device_buffer(size_t bytes, const void *data)
{
    cl_int code = CL_SUCCESS;
    const cl_mem_flags flags =
        CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0);
    cl_mem mem = clCreateBuffer(clxent_cl_context(test_context()), flags, bytes,
                                (void *)data, &code);
    cr_assert_eq(code, CL_SUCCESS);
    return mem;
}

static cl_int event_state(cl_event event)
{
    cl_int state = CL_COMPLETE;
    clGetEventInfo(event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof state,
                   &state, NULL);
    return state;
}

/* POCL's basic driver hangs in clSetUserEventStatus when a command waits
 * on the event (pocl issue #1177), so user events gate only elsewhere. */
static int user_events_work(cl_device_id device)
{
    char name[256] = "";
    clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof name - 1, name, NULL);
    return strncmp(name, "basic", 5) != 0;
}

/* A user event holds the computation back until the predictions are
 * written; without a user event, a write on a second queue is the gate.
 * With ignore_class a denominator pass comes first and must wait too. */
static void check_gated(int with_ignore, int user_event)
{
    clxent_context *ctx = test_context();
    sparse_problem p = sparse_problem_new(50, 7, test_seed());
    float loss = NAN, *nans = malloc(p.values * sizeof *nans);
    cl_int code = CL_SUCCESS;
    cl_event gate = NULL, done = NULL;
    p.loss.use_ignore_class = with_ignore;
    if (with_ignore)
        p.labels[0] = p.labels[7] = -100;
    sparse_problem_solve(&p);
    for (size_t i = 0; i < p.values; i++)
        nans[i] = NAN;
    clxent_device_args a = clxent_device_args_defaults();
    a.predictions.mem = device_buffer(p.values * 4, nans);
    a.targets.mem = device_buffer(p.shape.rows * 4, p.labels);
    a.loss.mem = device_buffer(4, NULL);
    a.gradient.mem = device_buffer(p.values * 4, NULL);
    cl_command_queue other = clCreateCommandQueue(clxent_cl_context(ctx),
                                                  clxent_device(ctx), 0, &code);
    cr_assert_eq(code, CL_SUCCESS);
    if (user_event) {
        gate = clCreateUserEvent(clxent_cl_context(ctx), &code);
        cr_assert_eq(code, CL_SUCCESS);
    }
    cl_event write_done = NULL;
    cr_assert_eq(clEnqueueWriteBuffer(other, a.predictions.mem, CL_FALSE, 0,
                                      p.values * 4, p.predictions, user_event,
                                      user_event ? &gate : NULL, &write_done),
                 CL_SUCCESS);
    clFlush(other);

    cr_assert_eq(
        clxent_enqueue(ctx, &p.loss, &p.shape, &a, 1, &write_done, &done),
        CLXENT_OK);
    cr_assert_not_null(done);
    if (user_event) {
        clFlush(clxent_queue(ctx));
        nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
        cr_expect_neq(event_state(done), CL_COMPLETE, "ran before its gate");
        clSetUserEventStatus(gate, CL_COMPLETE);
    }
    cr_expect_eq(clWaitForEvents(1, &done), CL_SUCCESS);
    cr_expect_eq(event_state(done), CL_COMPLETE);
    float *gradient = malloc(p.values * sizeof *gradient);
    clEnqueueReadBuffer(clxent_queue(ctx), a.loss.mem, CL_TRUE, 0, 4, &loss, 0,
                        NULL, NULL);
    clEnqueueReadBuffer(clxent_queue(ctx), a.gradient.mem, CL_TRUE, 0,
                        p.values * 4, gradient, 0, NULL, NULL);
    expect_matches(&p, loss, gradient, p.want_correct);
    cr_expect_eq(clxent_finish(ctx), CLXENT_OK);

    free(gradient);
    free(nans);
    clReleaseEvent(done);
    clReleaseEvent(write_done);
    if (gate)
        clReleaseEvent(gate);
    clReleaseCommandQueue(other);
    const cl_mem all[] = { a.predictions.mem, a.targets.mem, a.loss.mem,
                           a.gradient.mem };
    for (size_t i = 0; i < 4; i++)
        clReleaseMemObject(all[i]);
    sparse_problem_free(&p);
}

Test(api, done_event_and_wait_list)
{
    const int user_event = user_events_work(clxent_device(test_context()));
    for (int with_ignore = 0; with_ignore <= 1; with_ignore++) {
        check_gated(with_ignore, 0);
        if (user_event)
            check_gated(with_ignore, 1);
    }
}

/* ------------------------------------------------------------------ */
/* Logging, never printing                                             */

Test(api, errors_reach_the_logger)
{
    clxent_settings settings;
    clxent_context *ctx = NULL;
    clxent_error error;
    log_record log = { 0, 0, "" };
    sparse_problem p = sparse_problem_new(4, 3, 1);
    float loss = 0.0f;
    clxent_host_args h = clxent_host_args_defaults();
    clxent_default_settings(&settings);
    settings.logger = record;
    settings.logger_data = &log;
    cr_assert_eq(clxent_open(&ctx, &settings), CLXENT_OK);
    h.predictions = p.predictions;
    h.targets = p.labels;
    h.loss = &loss;
    p.shape.rows = 0;

    cr_expect_eq(clxent_compute(ctx, &p.loss, &p.shape, &h),
                 CLXENT_ERROR_INVALID_SHAPE);
    cr_expect_eq(log.errors, 1);
    clxent_last_error(ctx, &error);
    cr_expect_eq(error.status, CLXENT_ERROR_INVALID_SHAPE);
    cr_expect_gt(strlen(error.message), 0);
    cr_expect_str_eq(log.last, error.message);

    clxent_close(&ctx);
    sparse_problem_free(&p);
}

/* Failing calls of every kind, on a context without a logger. */
static void fail_in_many_ways(void)
{
    clxent_settings settings;
    clxent_context *ctx = NULL;
    sparse_problem p = sparse_problem_new(4, 3, 1);
    float loss = 0.0f;
    clxent_host_args h = clxent_host_args_defaults();
    clxent_default_settings(&settings);
    settings.device = "0:99";
    cr_expect_eq(clxent_open(&ctx, &settings), CLXENT_ERROR_NO_DEVICE);
    settings.device = "1:x";
    cr_expect_eq(clxent_open(&ctx, &settings), CLXENT_ERROR_INVALID_SELECTOR);
    settings.device = NULL;
    cr_assert_eq(clxent_open(&ctx, &settings), CLXENT_OK);
    h.predictions = p.predictions;
    h.targets = p.labels;
    h.loss = &loss;
    p.labels[2] = 99;
    cr_expect_eq(clxent_compute(ctx, &p.loss, &p.shape, &h),
                 CLXENT_ERROR_INVALID_LABEL);
    p.labels[2] = 0;
    p.loss.kind = (clxent_loss_kind)77;
    cr_expect_eq(clxent_compute(ctx, &p.loss, &p.shape, &h),
                 CLXENT_ERROR_INVALID_LOSS);
    cr_expect_eq(clxent_compute(ctx, &p.loss, &p.shape, NULL),
                 CLXENT_ERROR_NULL_ARGUMENT);
    clxent_close(&ctx);
    sparse_problem_free(&p);
}

Test(api, the_library_never_prints)
{
    char path[] = "/tmp/clxent-quiet-XXXXXX";
    const int file = mkstemp(path);
    cr_assert_geq(file, 0);
    unlink(path);
    unsetenv("CLXENT_TRACE"); /* tracing is the one explicit request */
    fflush(stdout);
    fflush(stderr);
    const int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    dup2(file, STDOUT_FILENO);
    dup2(file, STDERR_FILENO);

    fail_in_many_ways();

    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    char printed[256] = "";
    const off_t size = lseek(file, 0, SEEK_END);
    if (pread(file, printed, sizeof printed - 1, 0) < 0)
        printed[0] = '\0';
    close(file);
    cr_expect_eq(size, 0, "the library printed: %s", printed);
}
