/*
 * `cltool bench`: per device, the memory bandwidth, the time to a first
 * result, the launch latency of a tiny batch, then every chosen loss,
 * shape and mode, timed with profiling events.
 */
#include "bench.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BUDGET 0.5 /* seconds of timed runs per case */
#define LATENCY_BUDGET 0.1
#define TINY_ROWS      64
#define TINY_CLASSES   10

static const clxent_loss_kind default_losses[] = {
    CLXENT_LOSS_SPARSE_CATEGORICAL, CLXENT_LOSS_CATEGORICAL,
    CLXENT_LOSS_CATEGORICAL_FOCAL, CLXENT_LOSS_BINARY
};
/* An image classifier's head and a language model's vocabulary. */
static const clxent_shape softmax_shapes[] = { { 16384, 1000, 1 },
                                               { 512, 32768, 1 } };
static const clxent_shape sigmoid_shapes[] = { { 65536, 16, 1 } };

/* The device buffers of one loss and shape. */
typedef struct inputs {
    cl_mem predictions;
    cl_mem targets;
    cl_mem loss;
    cl_mem gradient;
} inputs;

typedef struct loss_run {
    clxent_context *ctx;
    const clxent_loss *loss;
    const clxent_shape *shape;
    const clxent_device_args *args;
    int use_marker; /* time by profiling; else wall time */
    char *error;
} loss_run;

static void progress(const char *format, ...)
{
    va_list list;
    if (!progress_wanted())
        return;
    va_start(list, format);
    fputs("cltool: ", stderr);
    vfprintf(stderr, format, list);
    fputc('\n', stderr);
    va_end(list);
}

static void set_error(char *error, clxent_context *ctx, const char *what)
{
    clxent_error e;
    clxent_last_error(ctx, &e);
    snprintf(error, ERROR_TEXT, "%s: %.256s", what,
             e.message[0] ? e.message : clxent_status_string(e.status));
}

static unsigned wanted_losses(const options *opts)
{
    unsigned mask = 0;
    if (opts->losses)
        return opts->losses;
    for (size_t i = 0; i < sizeof default_losses / sizeof *default_losses; i++)
        mask |= 1u << default_losses[i];
    return mask;
}

/* Every (loss, shape, mode) in a stable order; the caller frees. */
static bench_case *plan_cases(const options *opts, size_t *count)
{
    const unsigned modes =
        opts->modes ? opts->modes : MODE_LOSS | MODE_GRADIENT;
    const unsigned inputs = opts->inputs ? opts->inputs : INPUT_LOGITS;
    const unsigned losses = wanted_losses(opts);
    bench_case *cases =
        calloc(CLXENT_LOSS_KIND_COUNT * 4 * MAX_SHAPES, sizeof *cases);
    *count = 0;
    for (int kind = 0; cases && kind < CLXENT_LOSS_KIND_COUNT; kind++) {
        if (!(losses & (1u << kind)))
            continue;
        const int sigmoid = is_sigmoid_kind((clxent_loss_kind)kind);
        const clxent_shape *shapes = opts->shape_count ? opts->shapes
                                     : sigmoid         ? sigmoid_shapes
                                                       : softmax_shapes;
        const size_t shape_count = opts->shape_count ? opts->shape_count
                                   : sigmoid         ? 1
                                                     : 2;
        for (size_t s = 0; s < shape_count; s++)
            for (unsigned in = INPUT_LOGITS; in <= INPUT_PROBABILITIES;
                 in <<= 1)
                for (unsigned mode = MODE_LOSS; mode <= MODE_GRADIENT;
                     mode <<= 1)
                    if ((inputs & in) && (modes & mode)) {
                        bench_case *c = &cases[(*count)++];
                        c->kind = (clxent_loss_kind)kind;
                        c->shape = shapes[s];
                        c->input = in;
                        c->mode = mode;
                    }
    }
    return cases;
}

static cl_mem new_buffer(clxent_context *ctx, size_t bytes, const void *host)
{
    cl_int code;
    const cl_mem_flags flags =
        CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0);
    cl_mem mem = clCreateBuffer(clxent_cl_context(ctx), flags, bytes,
                                (void *)host, &code);
    return code == CL_SUCCESS ? mem : NULL;
}

size_t loss_rows(const clxent_shape *shape)
{
    return shape->rows * shape->spatial;
}

/* Labels, one-hot rows or 0/1 targets, drawn from the same generator; a
 * row is one (sample, position), its class c at (n * C + c) * S + s. */
static void *make_targets(clxent_loss_kind kind, const clxent_shape *shape,
                          size_t *bytes)
{
    const size_t rows = loss_rows(shape), classes = shape->classes;
    const size_t spatial = shape->spatial, values = rows * classes;
    float *draws = malloc(rows * sizeof *draws);
    void *targets = NULL;
    if (!draws)
        return NULL;
    fill_random_floats(draws, rows, 2, 0.0f, (float)classes);
    if (is_sparse_kind(kind)) {
        cl_int *labels = malloc(rows * sizeof *labels);
        for (size_t r = 0; labels && r < rows; r++)
            labels[r] = (cl_int)draws[r] % (cl_int)classes;
        targets = labels;
        *bytes = rows * sizeof *labels;
    } else if (is_sigmoid_kind(kind)) {
        float *ones = malloc(values * sizeof *ones);
        if (ones)
            fill_random_floats(ones, values, 3, 0.0f, 2.0f);
        for (size_t i = 0; ones && i < values; i++)
            ones[i] = ones[i] >= 1.0f;
        targets = ones;
        *bytes = values * sizeof *ones;
    } else {
        float *one_hot = calloc(values, sizeof *one_hot);
        for (size_t r = 0; one_hot && r < rows; r++) {
            const size_t n = r / spatial, s = r % spatial;
            const size_t label = (size_t)draws[r] % classes;
            one_hot[(n * classes + label) * spatial + s] = 1.0f;
        }
        targets = one_hot;
        *bytes = values * sizeof *one_hot;
    }
    free(draws);
    return targets;
}

static void release_inputs(inputs *in)
{
    cl_mem *all[] = { &in->predictions, &in->targets, &in->loss,
                      &in->gradient };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        if (*all[i])
            clReleaseMemObject(*all[i]);
        *all[i] = NULL;
    }
}

/* Logits in [-4, 4], or probabilities in [0.01, 1) that the loss
 * renormalises (softmax family) or clips (binary). */
static int make_inputs(clxent_context *ctx, const bench_case *c, int gradient,
                       inputs *in)
{
    const size_t values = loss_rows(&c->shape) * c->shape.classes;
    const int logits_in = c->input == INPUT_LOGITS;
    size_t target_bytes = 0;
    float *logits = malloc(values * sizeof *logits);
    void *targets = make_targets(c->kind, &c->shape, &target_bytes);
    memset(in, 0, sizeof *in);
    if (logits && targets) {
        fill_random_floats(logits, values, 1, logits_in ? -4.0f : 0.01f,
                           logits_in ? 4.0f : 1.0f);
        in->predictions = new_buffer(ctx, values * sizeof *logits, logits);
        in->targets = new_buffer(ctx, target_bytes, targets);
        in->loss = new_buffer(ctx, sizeof(float), NULL);
        in->gradient =
            gradient ? new_buffer(ctx, values * sizeof(float), NULL) : NULL;
    }
    free(logits);
    free(targets);
    if (in->predictions && in->targets && in->loss &&
        (in->gradient || !gradient))
        return 1;
    release_inputs(in);
    return 0;
}

/* Each input read once, each output written once. */
static double compulsory_bytes(clxent_loss_kind kind, const clxent_shape *s,
                               unsigned mode)
{
    const double rows = (double)loss_rows(s);
    const double values = rows * (double)s->classes;
    const double targets = is_sparse_kind(kind) ? rows : values;
    const double gradient = mode == MODE_GRADIENT ? values : 0.0;
    return 4.0 * (values + targets + 1.0 + gradient);
}

static int run_loss(void *state, double *seconds)
{
    const loss_run *r = state;
    cl_event start = NULL, done = NULL;
    const double wall = now_seconds();
    cl_int code =
        r->use_marker
            ? clEnqueueMarkerWithWaitList(clxent_queue(r->ctx), 0, NULL, &start)
            : CL_SUCCESS;
    if (code != CL_SUCCESS) {
        snprintf(r->error, ERROR_TEXT, "clEnqueueMarkerWithWaitList: OpenCL %d",
                 code);
        return 1;
    }
    clxent_status status = clxent_enqueue(r->ctx, r->loss, r->shape, r->args, 0,
                                          NULL, r->use_marker ? &done : NULL);
    if (status == CLXENT_OK)
        status = clxent_finish(r->ctx);
    *seconds = now_seconds() - wall;
    if (status != CLXENT_OK)
        set_error(r->error, r->ctx, "clxent_enqueue");
    else if (r->use_marker &&
             event_span(start, CL_PROFILING_COMMAND_END, done, seconds))
        snprintf(r->error, ERROR_TEXT, "profiling events unavailable");
    if (start)
        clReleaseEvent(start);
    if (done)
        clReleaseEvent(done);
    return r->error[0] != '\0';
}

static void time_case(clxent_context *ctx, const inputs *in,
                      const options *opts, const bandwidth *bw, bench_case *c)
{
    clxent_loss loss = clxent_loss_defaults(c->kind);
    clxent_device_args args = clxent_device_args_defaults();
    const double budget =
        opts->time_budget > 0 ? opts->time_budget : DEFAULT_BUDGET;
    loss_run run = { ctx, &loss, &c->shape, &args, 1, c->error };
    loss.from_logits = c->input == INPUT_LOGITS;
    args.predictions.mem = in->predictions;
    args.targets.mem = in->targets;
    args.loss.mem = in->loss;
    args.gradient.mem = c->mode == MODE_GRADIENT ? in->gradient : NULL;

    if (time_runs(run_loss, &run, budget, opts->repeat, &c->time))
        return;
    const double ceiling =
        c->mode == MODE_GRADIENT ? bw->copy_gbps : bw->read_gbps;
    c->bytes = compulsory_bytes(c->kind, &c->shape, c->mode);
    c->gbps = c->bytes / c->time.median * 1e-9;
    c->percent = 100.0 * c->gbps / ceiling;
    c->rows_per_second = (double)loss_rows(&c->shape) / c->time.median;
}

static int same_inputs(const bench_case *a, const bench_case *b)
{
    return a->kind == b->kind && a->input == b->input &&
           a->shape.rows == b->shape.rows &&
           a->shape.classes == b->shape.classes &&
           a->shape.spatial == b->shape.spatial;
}

/* Cases that share loss and shape share their buffers. */
static void run_cases(clxent_context *ctx, const options *opts,
                      device_bench *dev)
{
    for (size_t first = 0; first < dev->case_count;) {
        size_t end = first + 1;
        int gradient = dev->cases[first].mode == MODE_GRADIENT;
        while (end < dev->case_count &&
               same_inputs(&dev->cases[first], &dev->cases[end]))
            gradient |= dev->cases[end++].mode == MODE_GRADIENT;
        inputs in;
        const int ready = make_inputs(ctx, &dev->cases[first], gradient, &in);
        for (size_t i = first; i < end; i++) {
            bench_case *c = &dev->cases[i];
            progress("%s: %s %zux%zux%zu %s %s", dev->info.index,
                     loss_name(c->kind), c->shape.rows, c->shape.classes,
                     c->shape.spatial, input_name(c->input),
                     mode_name(c->mode));
            if (ready)
                time_case(ctx, &in, opts, &dev->bandwidth, c);
            else
                snprintf(c->error, sizeof c->error,
                         "could not allocate the buffers");
        }
        release_inputs(&in);
        first = end;
    }
}

/* A tiny sparse batch through the host-pointer call. */
static clxent_status first_result(clxent_context *ctx)
{
    float logits[TINY_ROWS * TINY_CLASSES], loss = 0.0f;
    cl_int labels[TINY_ROWS];
    clxent_loss sparse = clxent_loss_defaults(CLXENT_LOSS_SPARSE_CATEGORICAL);
    const clxent_shape shape = { TINY_ROWS, TINY_CLASSES, 1 };
    clxent_host_args args = clxent_host_args_defaults();
    fill_random_floats(logits, TINY_ROWS * TINY_CLASSES, 4, -4.0f, 4.0f);
    for (int r = 0; r < TINY_ROWS; r++)
        labels[r] = r % TINY_CLASSES;
    sparse.from_logits = 1;
    args.predictions = logits;
    args.targets = labels;
    args.loss = &loss;
    return clxent_compute(ctx, &sparse, &shape, &args);
}

static clxent_status open_device(device_bench *dev, clxent_context **ctx)
{
    clxent_settings settings;
    clxent_default_settings(&settings);
    settings.device = dev->info.index;
    settings.enable_profiling = 1;

    const double start = now_seconds();
    clxent_status status = clxent_open(ctx, &settings);
    if (status != CLXENT_OK) {
        snprintf(dev->error, sizeof dev->error, "clxent_open: %s",
                 clxent_status_string(status));
        return status;
    }
    status = first_result(*ctx);
    dev->first_result_seconds = now_seconds() - start;
    if (status != CLXENT_OK)
        set_error(dev->error, *ctx, "first result");
    return status;
}

/* Wall time of enqueue + clxent_finish on a tiny batch: what a training
 * step pays per call, beyond the work itself. */
static void measure_latency(clxent_context *ctx, device_bench *dev)
{
    const clxent_shape tiny = { TINY_ROWS, TINY_CLASSES, 1 };
    const bench_case probe = { CLXENT_LOSS_SPARSE_CATEGORICAL,
                               tiny,
                               INPUT_LOGITS,
                               MODE_LOSS,
                               { 0, 0, 0 },
                               0,
                               0,
                               0,
                               0,
                               "" };
    clxent_loss loss = clxent_loss_defaults(probe.kind);
    clxent_device_args args = clxent_device_args_defaults();
    inputs in;
    timing t;
    char error[ERROR_TEXT] = "";
    loss_run run = { ctx, &loss, &tiny, &args, 0, error };
    if (!make_inputs(ctx, &probe, 0, &in))
        return;
    loss.from_logits = 1;
    args.predictions.mem = in.predictions;
    args.targets.mem = in.targets;
    args.loss.mem = in.loss;
    if (time_runs(run_loss, &run, LATENCY_BUDGET, 0, &t) == 0) {
        dev->launch_latency = t.median;
        dev->latency_runs = t.runs;
    }
    release_inputs(&in);
}

static void bench_device(const clxent_device_entry *entry, const options *opts,
                         device_bench *dev)
{
    clxent_context *ctx = NULL;
    const double budget =
        opts->time_budget > 0 ? opts->time_budget : DEFAULT_BUDGET;
    read_device_info(entry, &dev->info);
    progress("%s: opening %s", dev->info.index, dev->info.name);
    if (open_device(dev, &ctx) != CLXENT_OK) {
        clxent_close(&ctx);
        return;
    }
    measure_latency(ctx, dev);
    progress("%s: bandwidth", dev->info.index);
    if (measure_bandwidth(ctx, &dev->info, budget, opts->repeat,
                          &dev->bandwidth) != 0)
        snprintf(dev->error, sizeof dev->error, "bandwidth probe failed");
    else
        run_cases(ctx, opts, dev);
    clxent_close(&ctx);
}

static int any_error(const device_bench *devices, size_t count)
{
    for (size_t d = 0; d < count; d++) {
        if (devices[d].error[0])
            return 1;
        for (size_t i = 0; i < devices[d].case_count; i++)
            if (devices[d].cases[i].error[0])
                return 1;
    }
    return 0;
}

static void print_results(const options *opts, const device_bench *devices,
                          size_t count)
{
    if (opts->json)
        print_bench_json(devices, count);
    else if (opts->csv)
        print_bench_csv(devices, count);
    else
        print_bench_table(devices, count);
}

int run_bench(const options *opts)
{
    clxent_device_entry *entries = NULL;
    size_t count = 0;
    int status = select_devices(opts->device, COMMAND_BENCH, &entries, &count);
    if (status != EXIT_PASSED)
        return status;

    device_bench *devices = calloc(count, sizeof *devices);
    for (size_t d = 0; devices && d < count; d++) {
        devices[d].cases = plan_cases(opts, &devices[d].case_count);
        if (!devices[d].cases) {
            snprintf(devices[d].error, sizeof devices[d].error, "no memory");
            continue;
        }
        bench_device(&entries[d], opts, &devices[d]);
    }

    status = devices && !any_error(devices, count) ? EXIT_PASSED : EXIT_FAILED;
    if (devices)
        print_results(opts, devices, count);
    for (size_t d = 0; devices && d < count; d++)
        free(devices[d].cases);
    free(devices);
    free(entries);
    return status;
}
