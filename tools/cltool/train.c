/*
 * `cltool train`: a linear classifier (multinomial logistic regression)
 * on IDX image files, trained with mini-batch SGD with momentum or Adam.
 * The forward pass, the loss and the gradients of W and b run on the
 * device through clxent_head_enqueue; the update of the 784 x 10 weights
 * is host-side, where it costs nothing next to the batch.
 */
#include "train.h"

#include "cltool.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char train_help[] =
    "usage: cltool train [--data DIR] [--device SEL] [--loss NAME]\n"
    "                    [--optimizer adam|momentum] [--learning-rate X]\n"
    "                    [--batch N] [--epochs N] [--seed N]\n"
    "\n"
    "Trains logits = X W^T + b on the IDX files of DIR (MNIST layout:\n"
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte,\n"
    "t10k-labels-idx1-ubyte, each gzipped or not), pixels scaled to [0, 1],\n"
    "with the mean of a clxent loss over each batch. Prints one line per\n"
    "epoch: mean training loss over its batches, test loss, test accuracy\n"
    "(top-1; sigmoid losses: the largest output) and training images per\n"
    "second; progress goes to stderr on a terminal.\n"
    "\n"
    "Options:\n"
    "  --data DIR           default /usr/share/datasets/fashion-mnist\n"
    "  --device SEL         device selector (default: the first GPU, else\n"
    "                       the first CPU)\n"
    "  --loss NAME          sparse-categorical (default), categorical,\n"
    "                       focal, sparse-focal, binary or binary-focal\n"
    "  --optimizer NAME     adam (default; betas 0.9, 0.999) or momentum\n"
    "                       (SGD with momentum 0.9)\n"
    "  --learning-rate X    default 1e-3 (adam), 1e-2 (momentum)\n"
    "  --batch N            rows per step, default 128\n"
    "  --epochs N           default 10\n"
    "  --seed N             initial weights and shuffling, default 1\n"
    "  --help               this text\n";

typedef struct train_options {
    const char *data;
    const char *device;
    clxent_loss_kind loss;
    int adam;
    double learning_rate;
    size_t batch;
    unsigned epochs;
    unsigned long long seed;
} train_options;

/* Images as floats in [0, 1], one row each, and their labels. */
typedef struct dataset {
    float *pixels;
    int32_t *labels;
    size_t count;
    size_t width; /* pixels per image */
} dataset;

static int parse_loss(const char *text, clxent_loss_kind *kind)
{
    for (int k = 0; k < CLXENT_LOSS_KIND_COUNT; k++)
        if (strcmp(text, loss_name((clxent_loss_kind)k)) == 0) {
            *kind = (clxent_loss_kind)k;
            return 1;
        }
    return 0;
}

/* A decimal number at least `least` and nothing else. */
static int parse_number(const char *text, unsigned long long least,
                        unsigned long long *value)
{
    char *end;
    errno = 0;
    *value = strtoull(text, &end, 10);
    return text[0] >= '0' && text[0] <= '9' && errno == 0 && *end == '\0' &&
           *value >= least;
}

/* Returns 1 when applied, 0 for a bad value, -1 for an unknown name. */
static int apply_option(train_options *o, const char *name, const char *value)
{
    unsigned long long n = 0;
    char *end;
    if (strcmp(name, "--data") == 0) {
        o->data = value;
    } else if (strcmp(name, "--device") == 0) {
        o->device = value;
    } else if (strcmp(name, "--loss") == 0) {
        return parse_loss(value, &o->loss);
    } else if (strcmp(name, "--optimizer") == 0) {
        o->adam = strcmp(value, "adam") == 0;
        return o->adam || strcmp(value, "momentum") == 0;
    } else if (strcmp(name, "--learning-rate") == 0) {
        o->learning_rate = strtod(value, &end);
        return *end == '\0' && end != value && o->learning_rate > 0;
    } else if (strcmp(name, "--batch") == 0) {
        if (!parse_number(value, 1, &n) || n > (1u << 24))
            return 0;
        o->batch = (size_t)n;
    } else if (strcmp(name, "--epochs") == 0) {
        if (!parse_number(value, 1, &n) || n > 100000)
            return 0;
        o->epochs = (unsigned)n;
    } else if (strcmp(name, "--seed") == 0) {
        return parse_number(value, 0, &o->seed);
    } else {
        return -1;
    }
    return 1;
}

/* Returns 0 to go on, or an exit code (after --help, or a message). */
static int parse_train_options(int argc, char **argv, train_options *o)
{
    memset(o, 0, sizeof *o);
    o->data = "/usr/share/datasets/fashion-mnist";
    o->loss = CLXENT_LOSS_SPARSE_CATEGORICAL;
    o->adam = 1;
    o->batch = 128;
    o->epochs = 10;
    o->seed = 1;
    for (int at = 1; at < argc; at += 2) {
        if (strcmp(argv[at], "--help") == 0) {
            fputs(train_help, stdout);
            return EXIT_PASSED;
        }
        const int ok =
            at + 1 < argc ? apply_option(o, argv[at], argv[at + 1]) : -1;
        if (ok != 1) {
            fprintf(stderr,
                    ok < 0 ? "cltool: unknown option or missing "
                             "value '%s'\n"
                           : "cltool: bad value for %s\n",
                    argv[at]);
            fputs("usage: cltool train [--help] [OPTIONS]\n", stderr);
            return EXIT_USAGE;
        }
    }
    if (o->learning_rate == 0)
        o->learning_rate = o->adam ? 1e-3 : 1e-2;
    if (strcmp(o->device ? o->device : "", "") == 0)
        o->device = NULL;
    return -1;
}

/* ------------------------------------------------------------------ */
/* IDX files                                                           */

static int read_exact(gzFile file, void *to, size_t bytes)
{
    unsigned char *at = to;
    while (bytes) {
        const unsigned part = bytes > (1u << 30) ? 1u << 30 : (unsigned)bytes;
        const int got = gzread(file, at, part);
        if (got <= 0)
            return 0;
        at += got, bytes -= (size_t)got;
    }
    return 1;
}

/* Opens DIR/NAME.gz, else DIR/NAME; zlib reads plain files as they are. */
static gzFile open_idx(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    gzFile file = gzopen(path, "rb");
    if (file)
        return file;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    file = gzopen(path, "rb");
    if (!file)
        fprintf(stderr, "cltool: cannot open %s[.gz]\n", path);
    return file;
}

/* The unsigned-byte IDX array in DIR/NAME: its dimensions and bytes. */
static unsigned char *read_idx(const char *dir, const char *name, unsigned dims,
                               uint32_t *sizes, size_t *total)
{
    unsigned char head[4], raw[4];
    unsigned char *data = NULL;
    gzFile file = open_idx(dir, name);
    if (!file)
        return NULL;
    *total = 1;
    int ok = read_exact(file, head, 4) && head[0] == 0 && head[1] == 0 &&
             head[2] == 0x08 && head[3] == dims;
    for (unsigned d = 0; ok && d < dims; d++) {
        ok = read_exact(file, raw, 4);
        sizes[d] = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
                   (uint32_t)raw[2] << 8 | raw[3];
        ok = ok && sizes[d] > 0 && sizes[d] < (1u << 28);
        *total *= sizes[d];
    }
    if (ok)
        data = malloc(*total);
    if (data && !read_exact(file, data, *total)) {
        free(data);
        data = NULL;
    }
    if (!data)
        fprintf(stderr,
                "cltool: %s/%s is not an unsigned-byte IDX file of "
                "%u dimensions\n",
                dir, name, dims);
    gzclose(file);
    return data;
}

static int load_dataset(const char *dir, const char *prefix, dataset *set)
{
    char images_name[64], labels_name[64];
    uint32_t image_sizes[3], label_sizes[1];
    size_t image_bytes, label_bytes;
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);
    unsigned char *images =
        read_idx(dir, images_name, 3, image_sizes, &image_bytes);
    unsigned char *labels =
        read_idx(dir, labels_name, 1, label_sizes, &label_bytes);
    int ok = images && labels && image_sizes[0] == label_sizes[0];
    if (images && labels && !ok)
        fprintf(stderr, "cltool: %s: %u images but %u labels\n", prefix,
                image_sizes[0], label_sizes[0]);
    if (ok) {
        set->count = label_sizes[0];
        set->width = (size_t)image_sizes[1] * image_sizes[2];
        set->pixels = malloc(image_bytes * sizeof(float));
        set->labels = malloc(label_bytes * sizeof(int32_t));
        ok = set->pixels && set->labels;
    }
    for (size_t i = 0; ok && i < image_bytes; i++)
        set->pixels[i] = (float)images[i] / 255.0f;
    for (size_t i = 0; ok && i < label_bytes; i++)
        set->labels[i] = labels[i];
    free(images);
    free(labels);
    return ok;
}

static void free_dataset(dataset *set)
{
    free(set->pixels);
    free(set->labels);
}

static size_t class_count(const dataset *a, const dataset *b)
{
    int32_t most = 0;
    for (size_t i = 0; i < a->count; i++)
        most = a->labels[i] > most ? a->labels[i] : most;
    for (size_t i = 0; i < b->count; i++)
        most = b->labels[i] > most ? b->labels[i] : most;
    return (size_t)most + 1;
}

/* ------------------------------------------------------------------ */
/* Model and optimiser                                                 */

/* splitmix64: the same seed gives the same run everywhere. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *state)
{
    return (double)(next_random(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Parameters (W then b, one array) and the optimiser's state. */
typedef struct model {
    size_t hidden, classes, count;
    float *params, *grads, *first, *second; /* moments, or velocity */
    unsigned long step;
} model;

/* PyTorch's nn.Linear start: uniform in +-1/sqrt(hidden). */
static int init_model(model *m, size_t hidden, size_t classes, uint64_t seed)
{
    const double bound = 1.0 / sqrt((double)hidden);
    m->hidden = hidden, m->classes = classes;
    m->count = classes * hidden + classes;
    m->params = malloc(m->count * sizeof(float));
    m->grads = calloc(m->count, sizeof(float));
    m->first = calloc(m->count, sizeof(float));
    m->second = calloc(m->count, sizeof(float));
    m->step = 0;
    if (!m->params || !m->grads || !m->first || !m->second)
        return 0;
    for (size_t i = 0; i < m->count; i++)
        m->params[i] = (float)((2.0 * uniform(&seed) - 1.0) * bound);
    return 1;
}

static void free_model(model *m)
{
    free(m->params), free(m->grads), free(m->first), free(m->second);
}

static void update(model *m, const train_options *o)
{
    const double lr = o->learning_rate;
    m->step++;
    if (!o->adam) {
        for (size_t i = 0; i < m->count; i++) {
            m->first[i] = 0.9f * m->first[i] + m->grads[i];
            m->params[i] -= (float)(lr * m->first[i]);
        }
        return;
    }
    const double c1 = 1.0 - pow(0.9, (double)m->step);
    const double c2 = 1.0 - pow(0.999, (double)m->step);
    for (size_t i = 0; i < m->count; i++) {
        const double g = m->grads[i];
        m->first[i] = (float)(0.9 * m->first[i] + 0.1 * g);
        m->second[i] = (float)(0.999 * m->second[i] + 0.001 * g * g);
        m->params[i] -=
            (float)(lr * (m->first[i] / c1) / (sqrt(m->second[i] / c2) + 1e-8));
    }
}

/* ------------------------------------------------------------------ */
/* Device side                                                         */

/* Device buffers of the run; batch buffers hold one batch. */
typedef struct device_state {
    clxent_context *ctx;
    cl_mem params, grads;    /* W then b */
    cl_mem batch_x, batch_t; /* inputs and targets of one batch */
    cl_mem test_x, test_t;   /* the whole test set */
    cl_mem loss, correct;
    float *host_targets; /* dense targets of one batch or test set */
} device_state;

static int dense(clxent_loss_kind kind)
{
    return !is_sparse_kind(kind);
}

static cl_mem create(clxent_context *ctx, size_t bytes, const void *host,
                     cl_int *code)
{
    if (*code != CL_SUCCESS)
        return NULL;
    return clCreateBuffer(clxent_cl_context(ctx),
                          CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0),
                          bytes, (void *)host, code);
}

/* One-hot float targets of `rows` labels into d->host_targets. */
static void one_hot(device_state *d, const int32_t *labels, size_t rows,
                    size_t classes)
{
    memset(d->host_targets, 0, rows * classes * sizeof(float));
    for (size_t r = 0; r < rows; r++)
        d->host_targets[r * classes + (size_t)labels[r]] = 1.0f;
}

static int open_device(device_state *d, const train_options *o, const model *m,
                       const dataset *test)
{
    clxent_settings settings;
    cl_int code = CL_SUCCESS;
    const size_t c = m->classes, h = m->hidden;
    const size_t target_bytes = dense(o->loss) ? c * sizeof(float) : 4;
    const size_t most_rows = o->batch > test->count ? o->batch : test->count;
    memset(d, 0, sizeof *d);
    clxent_default_settings(&settings);
    settings.device = o->device;
    clxent_status s = clxent_open(&d->ctx, &settings);
    if (s != CLXENT_OK) {
        fprintf(stderr, "cltool: clxent_open: %s\n", clxent_status_string(s));
        return s == CLXENT_ERROR_NO_DEVICE ? EXIT_NO_MATCH : EXIT_FAILED;
    }
    d->host_targets = malloc(most_rows * c * sizeof(float));
    if (dense(o->loss))
        one_hot(d, test->labels, test->count, c);
    d->params = create(d->ctx, m->count * 4, m->params, &code);
    d->grads = create(d->ctx, m->count * 4, NULL, &code);
    d->batch_x = create(d->ctx, o->batch * h * 4, NULL, &code);
    d->batch_t = create(d->ctx, o->batch * target_bytes, NULL, &code);
    d->test_x = create(d->ctx, test->count * h * 4, test->pixels, &code);
    d->test_t = create(
        d->ctx, test->count * target_bytes,
        dense(o->loss) ? (void *)d->host_targets : (void *)test->labels, &code);
    d->loss = create(d->ctx, 4, NULL, &code);
    d->correct = create(d->ctx, 8, NULL, &code);
    if (code != CL_SUCCESS || !d->host_targets) {
        fprintf(stderr, "cltool: device buffers: OpenCL error %d\n", code);
        return EXIT_FAILED;
    }
    return 0;
}

static void close_device(device_state *d)
{
    const cl_mem all[] = { d->params, d->grads,  d->batch_x, d->batch_t,
                           d->test_x, d->test_t, d->loss,    d->correct };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i])
            clReleaseMemObject(all[i]);
    free(d->host_targets);
    clxent_close(&d->ctx);
}

static clxent_loss train_loss(const train_options *o, clxent_reduction r)
{
    clxent_loss loss = clxent_loss_defaults(o->loss);
    loss.from_logits = 1;
    loss.reduction = r;
    loss.per_element = 1; /* binary kinds: the mean over all outputs */
    return loss;
}

static int report(clxent_context *ctx, clxent_status s, const char *what)
{
    if (s == CLXENT_OK)
        return 0;
    clxent_error error;
    clxent_last_error(ctx, &error);
    fprintf(stderr, "cltool: %s: %s (%s)\n", what, clxent_status_string(s),
            error.message);
    return EXIT_FAILED;
}

/* The head's arguments over W and b in d->params. */
static clxent_head_args head_args(const device_state *d, const model *m)
{
    clxent_head_args a = clxent_head_args_defaults();
    a.weights.mem = d->params;
    a.bias.mem = d->params;
    a.bias.offset = m->classes * m->hidden;
    return a;
}

/* One step on `rows` rows of X and their targets, already gathered. */
static int step(device_state *d, model *m, const train_options *o,
                const float *x, const int32_t *labels, size_t rows,
                double *loss_sum)
{
    const cl_command_queue q = clxent_queue(d->ctx);
    const size_t h = m->hidden, c = m->classes;
    const clxent_loss loss = train_loss(o, CLXENT_REDUCTION_MEAN);
    clxent_head_args a = head_args(d, m);
    float batch_loss = 0.0f;
    a.inputs.mem = d->batch_x;
    a.targets.mem = d->batch_t;
    a.loss.mem = d->loss;
    a.weight_gradient.mem = d->grads;
    a.bias_gradient.mem = d->grads;
    a.bias_gradient.offset = c * h;
    if (dense(o->loss))
        one_hot(d, labels, rows, c);
    cl_int code = clEnqueueWriteBuffer(q, d->batch_x, CL_FALSE, 0, rows * h * 4,
                                       x, 0, NULL, NULL);
    if (code == CL_SUCCESS)
        code =
            clEnqueueWriteBuffer(q, d->batch_t, CL_FALSE, 0,
                                 dense(o->loss) ? rows * c * 4 : rows * 4,
                                 dense(o->loss) ? (const void *)d->host_targets
                                                : (const void *)labels,
                                 0, NULL, NULL);
    if (code != CL_SUCCESS)
        return report(d->ctx, CLXENT_ERROR_OPENCL, "uploading a batch");
    clxent_status s =
        clxent_head_enqueue(d->ctx, &loss, rows, h, c, &a, 0, NULL, NULL);
    if (s == CLXENT_OK)
        s = clxent_finish(d->ctx);
    if (s == CLXENT_OK &&
        (clEnqueueReadBuffer(q, d->grads, CL_FALSE, 0, m->count * 4, m->grads,
                             0, NULL, NULL) != CL_SUCCESS ||
         clEnqueueReadBuffer(q, d->loss, CL_TRUE, 0, 4, &batch_loss, 0, NULL,
                             NULL) != CL_SUCCESS))
        s = CLXENT_ERROR_OPENCL;
    if (s != CLXENT_OK)
        return report(d->ctx, s, "training step");
    update(m, o);
    *loss_sum += batch_loss;
    code = clEnqueueWriteBuffer(q, d->params, CL_FALSE, 0, m->count * 4,
                                m->params, 0, NULL, NULL);
    return code == CL_SUCCESS
               ? 0
               : report(d->ctx, CLXENT_ERROR_OPENCL, "uploading the weights");
}

/* Sigmoid kinds count outputs, not rows: the test accuracy is then the
 * share of rows whose largest logit is the label, computed here. */
static size_t host_correct(const model *m, const dataset *test)
{
    size_t correct = 0;
    const size_t h = m->hidden, c = m->classes;
    const float *bias = m->params + c * h;
    for (size_t r = 0; r < test->count; r++) {
        size_t best = 0;
        double best_logit = -INFINITY;
        for (size_t k = 0; k < c; k++) {
            double logit = bias[k];
            for (size_t i = 0; i < h; i++)
                logit += (double)test->pixels[r * h + i] * m->params[k * h + i];
            if (logit > best_logit)
                best_logit = logit, best = k;
        }
        correct += best == (size_t)test->labels[r];
    }
    return correct;
}

/* Mean test loss and accuracy, the whole test set in one head call. */
static int evaluate(device_state *d, const model *m, const train_options *o,
                    const dataset *test, double *loss, double *accuracy)
{
    const clxent_loss mean = train_loss(o, CLXENT_REDUCTION_MEAN);
    const int sigmoid = is_sigmoid_kind(o->loss);
    clxent_head_args a = head_args(d, m);
    float value = 0.0f;
    cl_ulong correct = 0;
    a.inputs.mem = d->test_x;
    a.targets.mem = d->test_t;
    a.loss.mem = d->loss;
    if (!sigmoid)
        a.correct.mem = d->correct;
    clxent_status s = clxent_head_enqueue(d->ctx, &mean, test->count, m->hidden,
                                          m->classes, &a, 0, NULL, NULL);
    if (s == CLXENT_OK)
        s = clxent_finish(d->ctx);
    const cl_command_queue q = clxent_queue(d->ctx);
    if (s == CLXENT_OK &&
        (clEnqueueReadBuffer(q, d->loss, CL_TRUE, 0, 4, &value, 0, NULL,
                             NULL) != CL_SUCCESS ||
         (!sigmoid &&
          clEnqueueReadBuffer(q, d->correct, CL_TRUE, 0, 8, &correct, 0, NULL,
                              NULL) != CL_SUCCESS)))
        s = CLXENT_ERROR_OPENCL;
    if (s != CLXENT_OK)
        return report(d->ctx, s, "evaluation");
    if (sigmoid)
        correct = host_correct(m, test);
    *loss = value;
    *accuracy = (double)correct / (double)test->count;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Epochs                                                              */

/* Fisher-Yates with the run's generator. */
static void shuffle(size_t *order, size_t count, uint64_t *state)
{
    for (size_t i = 0; i < count; i++)
        order[i] = i;
    for (size_t i = count; i > 1; i--) {
        const size_t j = (size_t)(next_random(state) % i);
        const size_t t = order[i - 1];
        order[i - 1] = order[j], order[j] = t;
    }
}

/* The rows of `order[first..first+rows)` into contiguous batch arrays. */
static void gather(const dataset *set, const size_t *order, size_t rows,
                   float *x, int32_t *labels)
{
    for (size_t r = 0; r < rows; r++) {
        memcpy(x + r * set->width, set->pixels + order[r] * set->width,
               set->width * sizeof(float));
        labels[r] = set->labels[order[r]];
    }
}

typedef struct epoch_result {
    double train_loss, test_loss, accuracy, images_per_second;
} epoch_result;

static int run_epoch(device_state *d, model *m, const train_options *o,
                     const dataset *train, size_t *order, uint64_t *state,
                     float *x, int32_t *labels, epoch_result *out)
{
    const size_t batches = (train->count + o->batch - 1) / o->batch;
    const int progress = progress_wanted();
    double loss_sum = 0.0;
    shuffle(order, train->count, state);
    const double start = now_seconds();
    for (size_t b = 0; b < batches; b++) {
        const size_t first = b * o->batch;
        const size_t rows =
            train->count - first < o->batch ? train->count - first : o->batch;
        gather(train, order + first, rows, x, labels);
        const int status = step(d, m, o, x, labels, rows, &loss_sum);
        if (status)
            return status;
        if (progress && (b % 20 == 0 || b + 1 == batches))
            fprintf(stderr, "\r  batch %zu/%zu", b + 1, batches);
    }
    if (progress)
        fputs("\r\033[K", stderr);
    out->images_per_second = (double)train->count / (now_seconds() - start);
    out->train_loss = loss_sum / (double)batches;
    return 0;
}

static int train(const train_options *o, const dataset *train_set,
                 const dataset *test_set, size_t classes)
{
    model m;
    device_state d;
    uint64_t state = o->seed;
    size_t *order = malloc(train_set->count * sizeof *order);
    float *x = malloc(o->batch * train_set->width * sizeof *x);
    int32_t *labels = malloc(o->batch * sizeof *labels);
    int status = EXIT_FAILED;
    memset(&m, 0, sizeof m);
    if (order && x && labels &&
        init_model(&m, train_set->width, classes, o->seed ^ 0x5eedULL) &&
        (status = open_device(&d, o, &m, test_set)) == 0) {
        printf("epoch  train_loss  test_loss  test_accuracy  images/s\n");
        for (unsigned e = 1; e <= o->epochs && status == 0; e++) {
            epoch_result r;
            status =
                run_epoch(&d, &m, o, train_set, order, &state, x, labels, &r);
            if (status == 0)
                status =
                    evaluate(&d, &m, o, test_set, &r.test_loss, &r.accuracy);
            if (status == 0)
                printf("%5u  %10.6f  %9.6f  %13.4f  %8.0f\n", e, r.train_loss,
                       r.test_loss, r.accuracy, r.images_per_second);
            fflush(stdout);
        }
        close_device(&d);
    }
    free_model(&m);
    free(order), free(x), free(labels);
    return status;
}

int run_train(int argc, char **argv)
{
    train_options o;
    dataset train_set, test_set;
    int status = parse_train_options(argc, argv, &o);
    if (status >= 0)
        return status;
    memset(&train_set, 0, sizeof train_set);
    memset(&test_set, 0, sizeof test_set);
    if (!load_dataset(o.data, "train", &train_set) ||
        !load_dataset(o.data, "t10k", &test_set)) {
        status = EXIT_FAILED;
    } else if (train_set.width != test_set.width) {
        fprintf(stderr, "cltool: training and test images differ in size\n");
        status = EXIT_FAILED;
    } else {
        status = train(&o, &train_set, &test_set,
                       class_count(&train_set, &test_set));
    }
    free_dataset(&train_set);
    free_dataset(&test_set);
    return status;
}
