/*
 * Random inputs for `cltool check`: each case's data come from its own
 * seed, so a failing case can be replayed alone.
 */
#include "check.h"

#include "rng.h"

#include <stdlib.h>
#include <string.h>

/* Sparse rows that are ignored with VARIANT_WEIGHTED. */
#define IGNORED_LABEL (-1)

const char *variant_name(variant v)
{
    static const char *const names[VARIANT_COUNT] = { "plain", "smoothed",
                                                      "weighted", "extras" };
    return names[v];
}

static void *keep(check_case *c, void *array)
{
    if (!array || c->array_count == MAX_ARRAYS) {
        free(array);
        c->failed_to_build = 1;
        return NULL;
    }
    return c->arrays[c->array_count++] = array;
}

/* count uniform floats in [low, high) and their double copies. */
static float *uniform(check_case *c, rng *g, size_t count, double low,
                      double high, const double **copy)
{
    float *values = keep(c, malloc(count * sizeof *values + 1));
    double *doubles = keep(c, malloc(count * sizeof *doubles + 1));
    if (!values || !doubles)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        values[i] = (float)rng_range(g, low, high);
        doubles[i] = values[i];
    }
    *copy = doubles;
    return values;
}

/* Replaces about one value in `one_in` by `value`, in both copies. */
static void sprinkle(float *values, const double *copy, size_t count, rng *g,
                     unsigned one_in, float value)
{
    double *doubles = (double *)copy;
    for (size_t i = 0; values && i < count; i++)
        if (rng_below(g, one_in) == 0)
            values[i] = (float)(doubles[i] = value);
}

static void sparse_labels(check_case *c, rng *g)
{
    const size_t rows = c->shape.rows * c->shape.spatial;
    int64_t *labels = keep(c, malloc(rows * sizeof *labels));
    int32_t *narrow = keep(c, malloc(rows * sizeof *narrow));
    if (!labels || !narrow)
        return;
    for (size_t r = 0; r < rows; r++) {
        labels[r] = (int64_t)rng_below(g, c->shape.classes);
        if (c->loss.use_ignore_class && rng_below(g, 6) == 0)
            labels[r] = IGNORED_LABEL;
        narrow[r] = (int32_t)labels[r];
    }
    c->reference.labels = labels;
    /* Both label types are exercised: int64 where classes are many. */
    c->device.label_dtype = c->shape.classes > 1000 ? CLXENT_I64 : CLXENT_I32;
    c->device.targets =
        c->device.label_dtype == CLXENT_I64 ? (void *)labels : (void *)narrow;
}

/* One-hot rows for the plain variant, soft rows summing to 1 otherwise. */
static void dense_targets(check_case *c, rng *g)
{
    const size_t classes = c->shape.classes, spatial = c->shape.spatial;
    float *t = uniform(c, g, c->values, 0.0, 1.0, &c->reference.targets);
    double *copy = (double *)c->reference.targets;
    for (size_t r = 0; t && r < c->shape.rows * spatial; r++) {
        const size_t n = r / spatial, s = r % spatial;
        const size_t hot = rng_below(g, classes);
        double sum = 0;
        for (size_t k = 0; k < classes; k++)
            sum += t[(n * classes + k) * spatial + s];
        for (size_t k = 0; k < classes; k++) {
            const size_t at = (n * classes + k) * spatial + s;
            if (c->variant == VARIANT_PLAIN)
                t[at] = k == hot ? 1.0f : 0.0f;
            else
                t[at] = (float)(t[at] / sum);
            copy[at] = t[at];
        }
    }
    c->device.targets = t;
}

static void binary_targets(check_case *c, rng *g)
{
    float *t = uniform(c, g, c->values, 0.0, 1.0, &c->reference.targets);
    double *copy = (double *)c->reference.targets;
    for (size_t i = 0; t && c->variant == VARIANT_PLAIN && i < c->values; i++)
        t[i] = (float)(copy[i] = t[i] >= 0.5f);
    c->loss.hard_targets = c->variant == VARIANT_PLAIN;
    c->device.targets = t;
}

/* Logits, or probabilities with exact zeros (and ones for sigmoid
 * outputs) where the clipping must bite. */
static void predictions(check_case *c, rng *g, int sigmoid)
{
    const double low = c->loss.from_logits ? -6.0 : 0.0;
    const double high = c->loss.from_logits ? 6.0 : 1.0;
    float *p = uniform(c, g, c->values, low, high, &c->reference.predictions);
    if (!c->loss.from_logits) {
        sprinkle(p, c->reference.predictions, c->values, g, 20, 0.0f);
        if (sigmoid)
            sprinkle(p, c->reference.predictions, c->values, g, 20, 1.0f);
    }
    c->device.predictions = p;
}

static void smoothed(check_case *c, rng *g, int sigmoid)
{
    const size_t classes = c->shape.classes;
    c->loss.label_smoothing = 0.1f;
    if (sigmoid)
        c->device.pos_weight =
            uniform(c, g, classes, 0.5, 3.0, &c->reference.pos_weight);
    else
        c->device.class_weights =
            uniform(c, g, classes, 0.5, 2.0, &c->reference.class_weights);
}

static void weighted(check_case *c, rng *g, int sigmoid)
{
    const size_t rows = c->shape.rows * c->shape.spatial;
    c->device.sample_weights =
        uniform(c, g, rows, 0.0, 2.0, &c->reference.sample_weights);
    if (sigmoid)
        c->device.element_weights =
            uniform(c, g, c->values, 0.0, 2.0, &c->reference.element_weights);
    c->loss.use_ignore_class = is_sparse_kind(c->loss.kind);
    c->loss.ignore_class = IGNORED_LABEL;
}

static void extras(check_case *c, rng *g)
{
    const clxent_loss_kind kind = c->loss.kind;
    const int focal = kind == CLXENT_LOSS_CATEGORICAL_FOCAL ||
                      kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL ||
                      kind == CLXENT_LOSS_BINARY_FOCAL;
    if (!is_sigmoid_kind(kind) && c->loss.from_logits) {
        c->loss.z_loss = 1e-3f;
        c->loss.logit_cap = 5.0f;
    }
    if (!is_sigmoid_kind(kind))
        c->loss.top_k = 3;
    if (focal)
        c->loss.gamma = 1.5f;
    if (kind == CLXENT_LOSS_CATEGORICAL_FOCAL ||
        kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL)
        c->device.class_alpha = uniform(c, g, c->shape.classes, 0.0, 1.0,
                                        &c->reference.class_alpha);
    c->loss.class_balancing = kind == CLXENT_LOSS_BINARY_FOCAL;
    c->loss.per_element = kind == CLXENT_LOSS_BINARY;
    c->device.upstream_scale = 0.5f;
    c->reference.upstream_scale = 0.5;
}

/* The upstream gradient of NONE, one value per loss value. */
static void upstream(check_case *c, rng *g)
{
    c->loss_count = ref_loss_count(&c->loss, &c->shape);
    if (c->variant == VARIANT_EXTRAS &&
        c->loss.reduction == CLXENT_REDUCTION_NONE)
        c->device.upstream =
            uniform(c, g, c->loss_count, -1.0, 1.0, &c->reference.upstream);
}

static void outputs(check_case *c)
{
    c->device.loss = keep(c, calloc(c->loss_count, sizeof(float)));
    c->device.correct = keep(c, calloc(1, sizeof(uint64_t)));
    if (c->variant == VARIANT_WEIGHTED) /* in place, over a copy */
        c->device.gradient = keep(c, malloc(c->values * sizeof(float)));
    else
        c->device.gradient = keep(c, calloc(c->values, sizeof(float)));
    if (c->variant == VARIANT_WEIGHTED && c->device.gradient) {
        memcpy(c->device.gradient, c->device.predictions,
               c->values * sizeof(float));
        c->device.predictions = c->device.gradient;
    }
}

int build_case(check_case *c, clxent_loss_kind kind, const clxent_shape *shape,
               int from_logits, clxent_reduction reduction, variant v,
               unsigned long long seed)
{
    rng g = rng_seeded(seed);
    const int sigmoid = is_sigmoid_kind(kind);
    memset(c, 0, sizeof *c);
    c->loss = clxent_loss_defaults(kind);
    c->loss.from_logits = from_logits;
    c->loss.reduction = reduction;
    c->shape = *shape;
    c->variant = v;
    c->values = shape->rows * shape->classes * shape->spatial;
    c->device = clxent_host_args_defaults();
    c->reference = ref_problem_defaults(kind);

    if (v == VARIANT_SMOOTHED)
        smoothed(c, &g, sigmoid);
    if (v == VARIANT_WEIGHTED)
        weighted(c, &g, sigmoid);
    if (v == VARIANT_EXTRAS)
        extras(c, &g);
    predictions(c, &g, sigmoid);
    if (is_sparse_kind(kind))
        sparse_labels(c, &g);
    else if (sigmoid)
        binary_targets(c, &g);
    else
        dense_targets(c, &g);
    upstream(c, &g);
    outputs(c);
    c->reference.loss = c->loss;
    c->reference.shape = c->shape;
    return c->failed_to_build;
}

void free_case(check_case *c)
{
    for (size_t i = 0; i < c->array_count; i++)
        free(c->arrays[i]);
    c->array_count = 0;
}
