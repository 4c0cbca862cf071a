/*
 * The sigmoid family: binary and multi-label crossentropy and binary
 * focal crossentropy, elementwise over the `classes` outputs of a row,
 * with the gradient and the accuracy count in the same visit. One row per
 * work-item: a row is short (K outputs) and is validated before any of
 * its outputs is written. A row's results are a few bytes against its
 * K inputs, so each work-group folds its slice of rows into its partial
 * itself, and the host skips reduce_rows.
 */
#include "common.h"

#define F_LOGITS 1u
#define F_FOCAL 2u
#define F_BALANCE 4u
#define F_ACCURACY 8u
#define F_WEIGHTS_ONLY 16u
#define F_CHECK_FINITE 32u
#define F_PER_ELEMENT 64u
#define F_HARD_TARGETS 128u

typedef struct sigmoid_options {
    uint flags;
    float smoothing;
    float epsilon;
    float gamma;
    float alpha;
} sigmoid_options;

/*
 * Rows are contiguous, so every loop below goes over VECTOR_WIDTH outputs
 * at a time (common.h): a CPU gets whole vector registers and vector exp
 * and log1p; the short last chunk is padded and its dead lanes masked.
 */

/* The crossentropy of each element and, through `slope` where it is not
 * NULL, its derivative by x. From logits, both softplus terms share
 * log1p(exp(-|x|)). */
inline floatv binary_term(floatv x, floatv y, floatv pos_weight,
                          const sigmoid_options *o, floatv *slope)
{
    if (o->flags & F_LOGITS) {
        const floatv e = exp_nonpositive(-fabs(x));
        const floatv shared = log1p_unit(e);
        if (slope) {
            const floatv r = 1.0f / (1.0f + e);
            const floatv p = select(e * r, r, x >= 0.0f);
            *slope = -pos_weight * y * (1.0f - p) + (1.0f - y) * p;
        }
        return pos_weight * y * (fmax(-x, 0.0f) + shared) +
               (1.0f - y) * (fmax(x, 0.0f) + shared);
    }
    /* 1 - p from x itself: in float, 1 - (1 - eps) is not eps. */
    const floatv p = clamp(x, o->epsilon, 1.0f - o->epsilon);
    const floatv q = clamp(1.0f - x, o->epsilon, 1.0f - o->epsilon);
    const intv clipped = x < o->epsilon | x > 1.0f - o->epsilon;
    if (slope)
        *slope = select(-pos_weight * y / p + (1.0f - y) / q, (floatv)(0.0f),
                        clipped);
    return -(pos_weight * y * log(p) + (1.0f - y) * log(q));
}

inline floatv sigmoid(floatv v)
{
    const floatv e = exp_nonpositive(-fabs(v));
    return select(e / (1.0f + e), 1.0f / (1.0f + e), v >= 0.0f);
}

/*
 * Keras's focal form: (1 - p_t)^gamma times the crossentropy, p_t from
 * the sigmoid of the logits or the unclipped probability, times the
 * class balance when asked.
 */
inline floatv focal_binary_term(floatv x, floatv y, floatv pos_weight,
                                const sigmoid_options *o, floatv *slope)
{
    floatv ce_slope;
    const floatv ce = binary_term(x, y, pos_weight, o, &ce_slope);
    const int logits = o->flags & F_LOGITS;
    const floatv p = logits ? sigmoid(x) : x;
    const floatv dp = logits ? p * (1.0f - p) : (floatv)(1.0f);
    const floatv rest = 1.0f - (y * p + (1.0f - y) * (1.0f - p));
    const floatv modulation = vector_power(rest, o->gamma);
    floatv d_modulation = (floatv)(0.0f);
    if (o->gamma > 0.0f)
        d_modulation = select(d_modulation,
                              -o->gamma * vector_power(rest, o->gamma - 1.0f) *
                                  (2.0f * y - 1.0f) * dp,
                              rest > 0.0f);
    floatv balance = (floatv)(1.0f);
    if (o->flags & F_BALANCE)
        balance = o->alpha * y + (1.0f - o->alpha) * (1.0f - y);
    if (slope)
        *slope = balance * (d_modulation * ce + modulation * ce_slope);
    return balance * modulation * ce;
}

/* The lanes of a chunk that hold a bad target, or a non-finite input
 * where that is checked. Padding (zeros) is never bad. */
inline intv chunk_bad(floatv x, floatv y, uint flags)
{
    intv bad = ~((y >= 0.0f) & (y <= 1.0f));
    if (flags & F_HARD_TARGETS)
        bad |= ~((y == 0.0f) | (y == 1.0f));
    if (flags & F_CHECK_FINITE)
        bad |= ~isfinite(x);
    return bad;
}

/* The first bad target or input of a row that has one, as a BAD() code. */
inline uint first_bad(__global const storage_t *x,
                      __global const storage_t *targets, uint classes,
                      uint flags)
{
    for (uint k = 0; k < classes; k++) {
        const float y = LOAD(targets, k);
        const int soft_ok = y >= 0.0f && y <= 1.0f; /* false for NaN */
        const int hard_ok = y == 0.0f || y == 1.0f;
        if (!soft_ok || ((flags & F_HARD_TARGETS) && !hard_ok))
            return BAD(BAD_LABEL, k);
        if ((flags & F_CHECK_FINITE) && !isfinite(LOAD(x, k)))
            return BAD(BAD_NON_FINITE, k);
    }
    return 0;
}

/* The first bad target or input of a row, as a BAD() code, or 0: a
 * vector test, and the scalar scan only for a row that fails it. */
inline uint check_row(__global const storage_t *x,
                      __global const storage_t *targets, uint classes,
                      uint flags)
{
    intv bad = (intv)(0);
    for (uint k = 0; k < classes; k += VECTOR_WIDTH)
        bad |= chunk_bad(chunk_of(x, k, classes), chunk_of(targets, k, classes),
                         flags);
    return any(bad) ? first_bad(x, targets, classes, flags) : 0;
}

/* kahan_add (common.h) lane by lane. */
inline void vector_kahan_add(floatv *sum, floatv *carry, floatv value)
{
    const floatv y = value - *carry;
    const floatv t = *sum + y;
    *carry = (t - *sum) - y;
    *sum = t;
}

/* The term of a chunk, and its slope where `slope` is not NULL; callers
 * pass NULL or not as a constant, so each call compiles to its own code. */
__attribute__((always_inline)) inline floatv
chunk_term(floatv x, floatv y, floatv pos_weight, const sigmoid_options *o,
           floatv *slope)
{
    return (o->flags & F_FOCAL) ? focal_binary_term(x, y, pos_weight, o, slope)
                                : binary_term(x, y, pos_weight, o, slope);
}

/*
 * Rows go to work-groups in contiguous slices and to the items of a group
 * in turn. Each item keeps its sums per lane, compensated (Kahan) lane by
 * lane, and folds them across lanes once at the end: a row costs no
 * horizontal step unless its own loss is asked for (reduction NONE).
 * row_bad is written for bad rows only: finalize reads the first bad
 * row's entry and no other.
 */
__kernel void sigmoid_rows(
    __global const storage_t *x, ulong x_offset,
    __global const storage_t *targets, ulong targets_offset,
    __global const float *pos_weight, ulong pos_weight_offset,
    __global const float *sample_weights, ulong sample_weights_offset,
    __global const float *element_weights, ulong element_weights_offset,
    __global const float *upstream, ulong upstream_offset,
    __global const float *device_scale, float host_scale,
    __global storage_t *gradient, ulong gradient_offset,
    __global float *element_loss, ulong element_loss_offset,
    __global float *row_loss, ulong row_loss_offset, __global uint *row_bad,
    ulong rows, uint classes, uint flags, float smoothing, float epsilon,
    float gamma, float alpha, float threshold, PART_ARRAYS, FOLD_SCRATCH)
{
    const sigmoid_options o = { flags, smoothing, epsilon, gamma, alpha };
    const int per_element = flags & F_PER_ELEMENT;
    const float scale = host_scale * (device_scale ? device_scale[0] : 1.0f);
    /* A row's loss is the mean of its outputs unless they count alone. */
    const float row_share = per_element ? 1.0f : 1.0f / classes;
    const floatv zero = (floatv)(0.0f);
    x += x_offset;
    targets += targets_offset;
    if (pos_weight)
        pos_weight += pos_weight_offset;
    if (element_weights)
        element_weights += element_weights_offset;
    if (upstream)
        upstream += upstream_offset;
    if (gradient)
        gradient += gradient_offset;
    if (element_loss)
        element_loss += element_loss_offset;
    if (row_loss)
        row_loss += row_loss_offset;
    fold f = { 0.0f, 0.0f, 0.0f, 0.0f, 0, 0, 0 };
    floatv loss = zero, loss_carry = zero, weight = zero, weight_carry = zero;
    intv correct = (intv)(0);
    const ulong end = slice_end(rows);
    for (ulong n = slice_begin(rows) + get_local_id(0); n < end;
         n += get_local_size(0)) {
        const size_t base = (size_t)n * classes;
        const float sample_weight = sample_weights
            ? sample_weights[sample_weights_offset + n] : 1.0f;
        /* A row of one chunk is loaded once, for the check and the terms. */
        const int one_chunk = classes <= VECTOR_WIDTH;
        floatv x_only = zero, y_only = zero;
        uint bad;
        if (one_chunk) {
            x_only = chunk_of(x + base, 0, classes);
            y_only = chunk_of(targets + base, 0, classes);
            bad = any(chunk_bad(x_only, y_only, flags))
                ? first_bad(x + base, targets + base, classes, flags) : 0;
        } else {
            bad = check_row(x + base, targets + base, classes, flags);
        }
        if (bad) {
            row_bad[n] = bad;
            if (!f.first_bad)
                f.first_bad = n + 1;
        } else {
            f.count += per_element ? classes : 1;
            /* Unweighted rows weigh their count, set after the loop. */
            if (!per_element && sample_weights)
                kahan_add(&f.weight, &f.weight_carry, sample_weight);
        }
        if (bad || (flags & F_WEIGHTS_ONLY)) {
            for (uint k = 0; k < classes; k += VECTOR_WIDTH) {
                if (gradient && bad)
                    store_chunk(gradient + base, k, classes, zero);
                if (element_loss && bad)
                    store_float_chunk(element_loss + base, k, classes, zero);
                if (!bad && per_element)
                    vector_kahan_add(&weight, &weight_carry,
                                     select(zero,
                                            sample_weight *
                                                weights_of(element_weights
                                                               ? element_weights +
                                                                     base
                                                               : 0,
                                                           k, classes, 1.0f),
                                            live_lanes(classes - k)));
            }
            if (row_loss)
                row_loss[n] = 0.0f;
            continue;
        }
        floatv mine = zero;
        for (uint k = 0; k < classes; k += VECTOR_WIDTH) {
            const intv live = live_lanes(classes - k);
            const floatv ew = weights_of(element_weights ? element_weights + base
                                                         : 0,
                                         k, classes, 1.0f);
            const floatv xv = one_chunk ? x_only : chunk_of(x + base, k, classes);
            const floatv y = one_chunk ? y_only
                                       : chunk_of(targets + base, k, classes);
            const floatv ys = y * (1.0f - smoothing) + 0.5f * smoothing;
            const floatv pw = weights_of(pos_weight, k, classes, 1.0f);
            const floatv w = sample_weight * ew;
            if (per_element)
                vector_kahan_add(&weight, &weight_carry, select(zero, w, live));
            correct -= live & ((xv > threshold) == (y >= 0.5f));
            floatv slope;
            const floatv term = gradient ? chunk_term(xv, ys, pw, &o, &slope)
                                         : chunk_term(xv, ys, pw, &o, 0);
            const floatv value = select(zero, w * term, live);
            mine += value;
            vector_kahan_add(&loss, &loss_carry, value * row_share);
            if (element_loss)
                store_float_chunk(element_loss + base, k, classes,
                                  w * term);
            if (gradient) {
                floatv d = w * slope * scale;
                if (upstream && per_element)
                    d *= weights_of(upstream + base, k, classes, 1.0f);
                else if (upstream)
                    d *= upstream[n];
                if (!per_element)
                    d /= classes;
                store_chunk(gradient + base, k, classes, d);
            }
        }
        if (row_loss)
            row_loss[n] = per_element ? sum_of(mine) : sum_of(mine) / classes;
    }
    f.loss = sum_of(loss) - sum_of(loss_carry);
    if (per_element)
        f.weight = sum_of(weight) - sum_of(weight_carry);
    else if (!sample_weights)
        f.weight = (float)f.count;
    if (flags & F_ACCURACY)
        f.correct = vector_count(correct);
    store_partial(f, part_loss, part_weight, part_count, part_correct,
                  part_bad, losses, weights, counts, corrects, bads);
}
