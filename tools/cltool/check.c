/*
 * `cltool check`: every loss over a matrix of options, shapes and
 * reductions on fresh random data, compared with the float64 reference
 * of tests/reference.c under the tolerances `cltool check --help` states.
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The tolerances of the help text: |device - reference| <= abs + rel*|ref|.
 * Focal factors and the renormalisation of probabilities add float
 * rounding that a plain log-softmax does not have. */
#define STRICT_ABS 1e-6
#define STRICT_REL 1e-5
#define LOOSE_ABS  1e-5
#define LOOSE_REL  1e-4

#define MAX_FAILURE_LINES 8 /* per device and loss */

static const clxent_shape softmax_shapes[] = {
    { 37, 10, 1 },   /* small rows */
    { 6, 5, 7 },     /* channels-first: 6 samples x 5 classes x 7 positions */
    { 3, 20000, 1 }, /* rows longer than any work-group */
};
static const clxent_shape sigmoid_shapes[] = { { 37, 10, 1 },
                                               { 64, 1, 1 },
                                               { 4, 5000, 1 } };
#define SHAPE_COUNT 3

static const char *const reduction_names[CLXENT_REDUCTION_COUNT] = {
    "none", "sum", "mean", "weighted-mean"
};

typedef struct tally {
    size_t cases;
    size_t failed;
    double worst_loss;     /* |device - reference| / max(1, |reference|) */
    double worst_gradient; /* the same, over gradient values */
    double worst_ratio;    /* error over tolerance; above 1 fails */
    char worst_case[128];
    unsigned failure_lines;
} tally;

typedef struct tolerance {
    double abs;
    double rel;
} tolerance;

/* Error over tolerance, 0 for a match; infinite for a NaN or infinity
 * on one side only. */
static double excess(double device, double reference, tolerance t)
{
    if (isnan(reference) || isnan(device))
        return isnan(reference) && isnan(device) ? 0.0 : INFINITY;
    if (isinf(reference) || isinf(device))
        return device == reference ? 0.0 : INFINITY;
    return fabs(device - reference) / (t.abs + t.rel * fabs(reference));
}

static double scaled_error(double device, double reference)
{
    if (isnan(reference) || isnan(device) || isinf(device) || isinf(reference))
        return device == reference || (isnan(device) && isnan(reference))
                   ? 0.0
                   : INFINITY;
    return fabs(device - reference) / fmax(1.0, fabs(reference));
}

static tolerance tolerance_of(const clxent_loss *loss)
{
    const int focal = loss->kind == CLXENT_LOSS_CATEGORICAL_FOCAL ||
                      loss->kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL ||
                      loss->kind == CLXENT_LOSS_BINARY_FOCAL;
    const tolerance strict = { STRICT_ABS, STRICT_REL };
    const tolerance loose = { LOOSE_ABS, LOOSE_REL };
    return focal || !loss->from_logits ? loose : strict;
}

static void describe(const check_case *c, char *text, size_t size)
{
    char spatial[24] = "";
    if (c->shape.spatial > 1)
        snprintf(spatial, sizeof spatial, "x%zu", c->shape.spatial);
    snprintf(text, size, "%s %zux%zu%s %s %s %s", loss_name(c->loss.kind),
             c->shape.rows, c->shape.classes, spatial,
             c->loss.from_logits ? "logits" : "probabilities",
             reduction_names[c->loss.reduction], variant_name(c->variant));
}

/* The worst value of one output; writes where it is into *at. */
static double worst_excess(const float *device, const double *reference,
                           size_t count, tolerance t, size_t *at,
                           double *worst_error)
{
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        const double e = excess(device[i], reference[i], t);
        const double s = scaled_error(device[i], reference[i]);
        if (s > *worst_error)
            *worst_error = s;
        if (e > worst || (i == 0 && e >= worst)) {
            worst = e;
            *at = i;
        }
    }
    return worst;
}

static void report_failure(tally *t, const char *device, const char *what,
                           const char *detail)
{
    t->failed++;
    if (t->failure_lines++ < MAX_FAILURE_LINES)
        printf("FAIL %s %s: %s\n", device, what, detail);
    else if (t->failure_lines == MAX_FAILURE_LINES + 1)
        printf("FAIL %s ...: more failures of this loss not shown\n", device);
}

/* Compares one case's outputs; a non-empty *detail on failure. */
static double compare(const check_case *c, const ref_result *r, tally *t,
                      char *detail, size_t size)
{
    const tolerance tol = tolerance_of(&c->loss);
    size_t at_loss = 0, at_gradient = 0;
    const double loss = worst_excess(c->device.loss, r->loss, c->loss_count,
                                     tol, &at_loss, &t->worst_loss);
    const double gradient =
        worst_excess(c->device.gradient, r->gradient, c->values, tol,
                     &at_gradient, &t->worst_gradient);
    detail[0] = '\0';
    if (loss > 1.0)
        snprintf(detail, size, "loss[%zu] %.9g, reference %.9g", at_loss,
                 (double)c->device.loss[at_loss], r->loss[at_loss]);
    else if (gradient > 1.0)
        snprintf(detail, size, "gradient[%zu] %.9g, reference %.9g",
                 at_gradient,
                 (double)((float *)c->device.gradient)[at_gradient],
                 r->gradient[at_gradient]);
    else if (*c->device.correct != r->correct)
        snprintf(detail, size, "correct %llu, reference %llu",
                 (unsigned long long)*c->device.correct,
                 (unsigned long long)r->correct);
    return loss > gradient ? loss : gradient;
}

static void run_case(clxent_context *ctx, const char *device, check_case *c,
                     tally *t)
{
    char what[128], detail[512];
    ref_result r = { malloc(c->loss_count * sizeof(double) + 1),
                     malloc(c->values * sizeof(double) + 1), 0, CLXENT_OK, -1 };
    describe(c, what, sizeof what);
    t->cases++;
    if (!r.loss || !r.gradient) {
        report_failure(t, device, what, "out of host memory");
    } else {
        ref_compute(&c->reference, &r);
        const clxent_status status =
            clxent_compute(ctx, &c->loss, &c->shape, &c->device);
        if (r.status != CLXENT_OK || status != CLXENT_OK) {
            clxent_error e;
            clxent_last_error(ctx, &e);
            snprintf(detail, sizeof detail, "status %s, reference %s%s%s",
                     clxent_status_string(status),
                     clxent_status_string(r.status), e.message[0] ? ": " : "",
                     e.message);
            report_failure(t, device, what, detail);
        } else {
            const double ratio = compare(c, &r, t, detail, sizeof detail);
            if (ratio >= t->worst_ratio) {
                t->worst_ratio = ratio;
                snprintf(t->worst_case, sizeof t->worst_case, "%s", what);
            }
            if (detail[0])
                report_failure(t, device, what, detail);
        }
    }
    free(r.loss);
    free(r.gradient);
}

/* The whole matrix of one loss; each case seeded apart. */
static void check_loss(clxent_context *ctx, const char *device,
                       clxent_loss_kind kind, unsigned long long seed, tally *t)
{
    const clxent_shape *shapes =
        is_sigmoid_kind(kind) ? sigmoid_shapes : softmax_shapes;
    unsigned long long number = 0;
    for (int s = 0; s < SHAPE_COUNT; s++)
        for (int logits = 1; logits >= 0; logits--)
            for (int red = 0; red < CLXENT_REDUCTION_COUNT; red++)
                for (int v = 0; v < VARIANT_COUNT; v++) {
                    check_case c;
                    const unsigned long long case_seed =
                        seed ^ ((unsigned long long)kind << 56) ^ ++number;
                    if (build_case(&c, kind, &shapes[s], logits,
                                   (clxent_reduction)red, (variant)v,
                                   case_seed) == 0)
                        run_case(ctx, device, &c, t);
                    else
                        report_failure(t, device, loss_name(kind),
                                       "out of host memory");
                    free_case(&c);
                }
}

static void print_table(const char *device, const tally *tallies,
                        unsigned losses)
{
    printf("\n%-6s %-18s %5s %6s %6s %10s %10s %8s  %s\n", "device", "loss",
           "cases", "failed", "result", "loss err", "grad err", "err/tol",
           "worst case");
    for (int k = 0; k < CLXENT_LOSS_KIND_COUNT; k++) {
        const tally *t = &tallies[k];
        if (!(losses & (1u << k)))
            continue;
        printf("%-6s %-18s %5zu %6zu %6s %10.2e %10.2e %8.3f  %s\n", device,
               loss_name((clxent_loss_kind)k), t->cases, t->failed,
               t->failed ? "FAIL" : "pass", t->worst_loss, t->worst_gradient,
               t->worst_ratio, t->worst_case);
    }
}

static size_t check_device(const clxent_device_entry *entry, unsigned losses,
                           unsigned long long seed)
{
    tally tallies[CLXENT_LOSS_KIND_COUNT];
    device_info info;
    clxent_settings settings;
    clxent_context *ctx = NULL;
    size_t failed = 0;
    read_device_info(entry, &info);
    printf("\ndevice %s: %s (%s)\n", info.index, info.name, info.platform);
    clxent_default_settings(&settings);
    settings.device = info.index;
    const clxent_status status = clxent_open(&ctx, &settings);
    if (status != CLXENT_OK) {
        printf("FAIL %s: clxent_open: %s\n", info.index,
               clxent_status_string(status));
        return 1;
    }
    memset(tallies, 0, sizeof tallies);
    for (int k = 0; k < CLXENT_LOSS_KIND_COUNT; k++) {
        if (!(losses & (1u << k)))
            continue;
        if (progress_wanted())
            fprintf(stderr, "cltool: %s: %s\n", info.index,
                    loss_name((clxent_loss_kind)k));
        check_loss(ctx, info.index, (clxent_loss_kind)k, seed, &tallies[k]);
        failed += tallies[k].failed;
    }
    clxent_close(&ctx);
    print_table(info.index, tallies, losses);
    return failed;
}

int run_check(const options *opts)
{
    clxent_device_entry *entries = NULL;
    size_t count = 0, failed = 0;
    const unsigned losses =
        opts->losses ? opts->losses : (1u << CLXENT_LOSS_KIND_COUNT) - 1;
    const unsigned long long seed =
        opts->seed_given ? opts->seed : (unsigned long long)time(NULL);
    const int status =
        select_devices(opts->device, COMMAND_CHECK, &entries, &count);
    if (status != EXIT_PASSED)
        return status;

    printf("cltool check, clxent %s, seed %llu\n", clxent_version_string(),
           seed);
    for (size_t d = 0; d < count; d++)
        failed += check_device(&entries[d], losses, seed);
    printf("\n%s: %zu failed case%s on %zu device%s (seed %llu)\n",
           failed ? "FAIL" : "pass", failed, failed == 1 ? "" : "s", count,
           count == 1 ? "" : "s", seed);
    free(entries);
    return failed ? EXIT_FAILED : EXIT_PASSED;
}
