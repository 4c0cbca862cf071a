/* `cltool check`: one case of the matrix, built on random data. */
#ifndef CLTOOL_CHECK_H
#define CLTOOL_CHECK_H

#include "cltool.h"

#include "reference.h"

#define MAX_ARRAYS 24

/* Options beyond the loss's defaults that a case turns on. */
typedef enum variant {
    VARIANT_PLAIN,    /* defaults, one-hot or hard targets */
    VARIANT_SMOOTHED, /* label smoothing, class weights or pos_weight */
    VARIANT_WEIGHTED, /* sample (and element) weights, ignored labels,
                         the gradient written over the predictions */
    VARIANT_EXTRAS,   /* z-loss and capping, top-k, class alpha, gamma,
                         class balancing, per-element, upstream */
    VARIANT_COUNT
} variant;

/* Inputs in float for the device and in double for the reference: the
 * same values, since the doubles are the rounded floats. */
typedef struct check_case {
    clxent_loss loss;
    clxent_shape shape;
    variant variant;
    clxent_host_args device;
    ref_problem reference;
    size_t values;     /* rows * classes * spatial */
    size_t loss_count; /* loss values written */
    void *arrays[MAX_ARRAYS];
    size_t array_count;
    int failed_to_build;
} check_case;

/* Fills *c with fresh data from `seed`; 0 on success. */
int build_case(check_case *c, clxent_loss_kind kind, const clxent_shape *shape,
               int from_logits, clxent_reduction reduction, variant v,
               unsigned long long seed);
void free_case(check_case *c);
const char *variant_name(variant v);

#endif /* CLTOOL_CHECK_H */
