/*
 * Agreement with Keras 3 and PyTorch: every golden file of the data
 * directory, written by tools/make-golden, is run through clxent_compute
 * and its loss and gradient are compared with the framework's.
 *
 * The data directory is $CLXENT_TEST_DATA when set (tests/meson.build
 * sets it), else the CLXENT_TEST_DATA_DIR define, else "tests/data". The
 * device is the library's choice, which honours $CLXENT_DEVICE.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen */

#include "golden.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOSS_RELATIVE     1e-5
#define LOSS_ABSOLUTE     1e-6
#define GRADIENT_RELATIVE 1e-5
#define GRADIENT_ABSOLUTE 1e-6

static const char *data_directory(void)
{
    const char *from_environment = getenv("CLXENT_TEST_DATA");

    if (from_environment && from_environment[0] != '\0')
        return from_environment;
#ifdef CLXENT_TEST_DATA_DIR
    return CLXENT_TEST_DATA_DIR;
#else
    return "tests/data";
#endif
}

/* One context per test process: Criterion runs each test in a worker. */
static clxent_context *context;

static void open_context(void)
{
    clxent_settings settings;
    clxent_status status;

    clxent_default_settings(&settings);
    status = clxent_open(&context, &settings);
    cr_assert_eq(status, CLXENT_OK, "clxent_open: %s",
                 clxent_status_string(status));
}

static void close_context(void)
{
    clxent_close(&context);
}

TestSuite(golden, .init = open_context, .fini = close_context);

/* ---- inputs as the library takes them ---- */

/* The float copies of a case's arrays; NULL where the case has none. */
typedef struct float_inputs {
    float *predictions;
    float *targets;
    void *labels;
    float *class_weights;
    float *class_alpha;
    float *sample_weights;
    float *element_weights;
    float *pos_weight;
} float_inputs;

static float *to_float(const golden_array *array)
{
    float *copy;

    if (array->count == 0)
        return NULL;
    copy = malloc(array->count * sizeof *copy);
    cr_assert_not_null(copy, "out of memory");
    for (size_t i = 0; i < array->count; i++)
        copy[i] = (float)array->values[i];
    return copy;
}

static void *to_label_type(const golden_case *golden)
{
    const size_t count = golden->label_count;
    int32_t *narrow;
    int64_t *wide;

    if (count == 0)
        return NULL;
    if (golden->label_dtype == CLXENT_I64) {
        wide = malloc(count * sizeof *wide);
        cr_assert_not_null(wide, "out of memory");
        memcpy(wide, golden->labels, count * sizeof *wide);
        return wide;
    }
    narrow = malloc(count * sizeof *narrow);
    cr_assert_not_null(narrow, "out of memory");
    for (size_t i = 0; i < count; i++) {
        cr_assert(golden->labels[i] >= INT32_MIN &&
                      golden->labels[i] <= INT32_MAX,
                  "%s: label %zu does not fit int32", golden->name, i);
        narrow[i] = (int32_t)golden->labels[i];
    }
    return narrow;
}

static float_inputs convert_inputs(const golden_case *golden)
{
    float_inputs in;

    in.predictions = to_float(&golden->predictions);
    in.targets = to_float(&golden->targets);
    in.labels = to_label_type(golden);
    in.class_weights = to_float(&golden->class_weights);
    in.class_alpha = to_float(&golden->class_alpha);
    in.sample_weights = to_float(&golden->sample_weights);
    in.element_weights = to_float(&golden->element_weights);
    in.pos_weight = to_float(&golden->pos_weight);
    return in;
}

static void free_inputs(float_inputs *in)
{
    free(in->predictions);
    free(in->targets);
    free(in->labels);
    free(in->class_weights);
    free(in->class_alpha);
    free(in->sample_weights);
    free(in->element_weights);
    free(in->pos_weight);
}

/* ---- comparison ---- */

/* NaN never passes, on either side. */
static int within(double actual, double expected, double absolute,
                  double relative)
{
    if (isnan(actual) || isnan(expected))
        return 0;
    return fabs(actual - expected) <= absolute + relative * fabs(expected);
}

static void compare(const char *path, const char *what, const float *actual,
                    const golden_array *expected, double absolute,
                    double relative)
{
    size_t wrong = 0, first = 0;

    for (size_t i = 0; i < expected->count; i++) {
        if (!within(actual[i], expected->values[i], absolute, relative)) {
            if (wrong == 0)
                first = i;
            wrong++;
        }
    }
    cr_expect_eq(wrong, 0,
                 "%s: %zu of %zu %s values off; first %s[%zu] = %.9g, "
                 "want %.9g",
                 path, wrong, expected->count, what, what, first,
                 (double)actual[first], expected->values[first]);
}

/* ---- the test ---- */

static clxent_host_args host_args(const golden_case *golden,
                                  const float_inputs *in, float *loss,
                                  float *gradient)
{
    clxent_host_args args = clxent_host_args_defaults();

    args.dtype = CLXENT_F32;
    args.label_dtype = golden->label_dtype;
    args.predictions = in->predictions;
    args.targets = in->labels ? in->labels : (const void *)in->targets;
    args.class_weights = in->class_weights;
    args.class_alpha = in->class_alpha;
    args.sample_weights = in->sample_weights;
    args.element_weights = in->element_weights;
    args.pos_weight = in->pos_weight;
    args.loss = loss;
    args.gradient = gradient;
    return args;
}

static void run_case(const char *path, const golden_case *golden)
{
    float_inputs in = convert_inputs(golden);
    const size_t loss_count = golden->loss_values.count;
    const size_t gradient_count = golden->gradient.count;
    float *loss = calloc(loss_count, sizeof *loss);
    float *gradient =
        gradient_count ? calloc(gradient_count, sizeof *gradient) : NULL;
    clxent_host_args args = host_args(golden, &in, loss, gradient);
    clxent_status status;
    clxent_error error;

    cr_assert(loss && (gradient || gradient_count == 0), "out of memory");
    status = clxent_compute(context, &golden->loss, &golden->shape, &args);
    clxent_last_error(context, &error);
    cr_assert_eq(status, CLXENT_OK, "%s: clxent_compute: %s (%s)", path,
                 clxent_status_string(status), error.message);

    compare(path, "loss", loss, &golden->loss_values, LOSS_ABSOLUTE,
            LOSS_RELATIVE);
    if (gradient)
        compare(path, "gradient", gradient, &golden->gradient,
                GRADIENT_ABSOLUTE, GRADIENT_RELATIVE);

    free(loss);
    free(gradient);
    free_inputs(&in);
}

typedef struct golden_param {
    char path[1024];
} golden_param;

static void free_params(struct criterion_test_params *params)
{
    cr_free(params->params);
}

/* The parameters live in Criterion's shared memory, so they hold no
 * pointers: just each file's path. */
ParameterizedTestParameters(golden, matches_framework)
{
    char **paths;
    size_t count;
    golden_param *params;

    if (golden_list(data_directory(), ".golden", &paths, &count) != 0 ||
        count == 0)
        return cr_make_param_array(golden_param, NULL, 0, NULL);
    params = cr_malloc(count * sizeof *params);
    if (!params) {
        golden_free_list(paths, count);
        return cr_make_param_array(golden_param, NULL, 0, NULL);
    }
    for (size_t i = 0; i < count; i++)
        snprintf(params[i].path, sizeof params[i].path, "%s", paths[i]);
    golden_free_list(paths, count);
    return cr_make_param_array(golden_param, params, count, free_params);
}

ParameterizedTest(golden_param *param, golden, matches_framework)
{
    golden_case golden;
    char error[512];

    cr_assert_eq(golden_read(param->path, &golden, error, sizeof error), 0,
                 "%s", error);
    run_case(param->path, &golden);
    golden_free(&golden);
}

/* Without files the parameterized test runs nothing, so this fails. */
Test(golden, data_directory_has_cases)
{
    char **paths;
    size_t count;

    cr_assert_eq(golden_list(data_directory(), ".golden", &paths, &count), 0,
                 "cannot read the golden directory %s", data_directory());
    golden_free_list(paths, count);
    cr_assert_gt(count, 100, "only %zu golden files in %s", count,
                 data_directory());
}

/* The reader must refuse what it cannot vouch for. */
static void expect_rejected(const char *text, const char *why)
{
    char path[] = "/tmp/clxent-golden-XXXXXX";
    char error[512] = "";
    golden_case golden;
    FILE *file;
    int fd = mkstemp(path);

    cr_assert(fd >= 0, "mkstemp failed");
    file = fdopen(fd, "w");
    cr_assert_not_null(file, "fdopen failed");
    fputs(text, file);
    fclose(file);
    cr_expect_neq(golden_read(path, &golden, error, sizeof error), 0,
                  "accepted a file with %s", why);
    cr_expect_neq(error[0], '\0', "no message for %s", why);
    remove(path);
}

Test(golden, reader_rejects_malformed_files)
{
    const char *head = "kind BINARY\ncase bad\nshape 1 2 1\n"
                       "predictions 2 0.5 0.5\ntargets 2 1 0\n";
    char text[512];

    expect_rejected("shape 1 2 1\n", "no kind");
    snprintf(text, sizeof text, "%sloss 1 0.6\nbogus 1\n", head);
    expect_rejected(text, "an unknown key");
    snprintf(text, sizeof text, "%sloss 2 0.6 0.7\n", head);
    expect_rejected(text, "a loss count that does not fit the reduction");
    snprintf(text, sizeof text, "%sloss 1 0.6x\n", head);
    expect_rejected(text, "a malformed number");
    snprintf(text, sizeof text, "%sloss 1 0.6 0.7\n", head);
    expect_rejected(text, "more values than its count");
    snprintf(text, sizeof text, "%sreduction AVERAGE\nloss 1 0.6\n", head);
    expect_rejected(text, "an unknown reduction");
}
