/*
 * The sigmoid family: binary and multi-label crossentropy and binary
 * focal crossentropy, elementwise over the `classes` outputs of a row,
 * with the gradient and the accuracy count in the same visit. Rows are
 * short (K outputs), so where every output weighs the same and nothing
 * per row is asked the rows of a block are one flat run of outputs;
 * otherwise each row is visited alone. Either way a row is validated
 * before any of its outputs is written. A row's results are a few bytes
 * against its K inputs, so each work-group folds its slice of rows into
 * its partial itself, and the host skips reduce_rows.
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
__attribute__((always_inline)) inline floatv
binary_term(floatv x, floatv y, floatv pos_weight, const sigmoid_options *o,
            floatv *slope)
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
__attribute__((always_inline)) inline floatv
focal_binary_term(floatv x, floatv y, floatv pos_weight,
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

/* The arrays of a call, each already at its offset; optional ones NULL. */
typedef struct sigmoid_io {
    __global const storage_t *x;
    __global const storage_t *targets;
    __global const float *pos_weight;
    __global const float *sample_weights;
    __global const float *element_weights;
    __global const float *upstream;
    __global storage_t *gradient;
    __global float *element_loss;
    __global float *row_loss;
    __global uint *row_bad;
} sigmoid_io;

/* What a work-item has summed so far: compensated per lane, folded
 * across lanes once at the end. Outputs of flat blocks each weigh 1 and
 * are only counted. */
typedef struct item_sums {
    floatv loss, loss_carry, weight, weight_carry;
    intv correct;
    ulong flat_outputs;
    fold f;
} item_sums;

/* One row, any options: checked first, zero outputs when bad. */
__attribute__((always_inline)) inline void
visit_row(const sigmoid_io *io, ulong n, uint classes,
          const sigmoid_options *o, float scale, float threshold,
          item_sums *s)
{
    const uint flags = o->flags;
    const int per_element = flags & F_PER_ELEMENT;
    /* A row's loss is the mean of its outputs unless they count alone. */
    const float row_share = per_element ? 1.0f : 1.0f / classes;
    const floatv zero = (floatv)(0.0f);
    const size_t base = (size_t)n * classes;
    __global const storage_t *x = io->x + base;
    __global const storage_t *targets = io->targets + base;
    __global const float *element_weights =
        io->element_weights ? io->element_weights + base : 0;
    const float sample_weight = io->sample_weights ? io->sample_weights[n]
                                                   : 1.0f;
    /* A row of one chunk is loaded once, for the check and the terms. */
    const int one_chunk = classes <= VECTOR_WIDTH;
    floatv x_only = zero, y_only = zero;
    uint bad;
    if (one_chunk) {
        x_only = chunk_of(x, 0, classes);
        y_only = chunk_of(targets, 0, classes);
        bad = any(chunk_bad(x_only, y_only, flags))
            ? first_bad(x, targets, classes, flags) : 0;
    } else {
        bad = check_row(x, targets, classes, flags);
    }
    if (bad) {
        io->row_bad[n] = bad;
        if (!s->f.first_bad)
            s->f.first_bad = n + 1;
    } else {
        s->f.count += per_element ? classes : 1;
        /* Unweighted rows weigh their count, set after the loop. */
        if (!per_element && io->sample_weights)
            kahan_add(&s->f.weight, &s->f.weight_carry, sample_weight);
    }
    /* Per sample a bad value spoils its row; per element only itself,
     * and the row's other outputs count (ok below). */
    const int spoiled = bad && !per_element;
    intv good = (intv)(0);
    if (spoiled || (flags & F_WEIGHTS_ONLY)) {
        for (uint k = 0; k < classes; k += VECTOR_WIDTH) {
            if (io->gradient && spoiled)
                store_chunk(io->gradient + base, k, classes, zero);
            if (io->element_loss && spoiled)
                store_float_chunk(io->element_loss + base, k, classes, zero);
            if (spoiled || !per_element)
                continue;
            intv ok = live_lanes(classes - k);
            if (bad)
                ok &= ~chunk_bad(chunk_of(x, k, classes),
                                 chunk_of(targets, k, classes), flags);
            good -= ok;
            vector_kahan_add(
                &s->weight, &s->weight_carry,
                select(zero,
                       sample_weight *
                           weights_of(element_weights, k, classes, 1.0f),
                       ok));
        }
        if (bad && !spoiled)
            s->f.count += vector_count(good);
        if (io->row_loss)
            io->row_loss[n] = 0.0f;
        return;
    }
    floatv mine = zero;
    for (uint k = 0; k < classes; k += VECTOR_WIDTH) {
        const floatv ew = weights_of(element_weights, k, classes, 1.0f);
        const floatv xv = one_chunk ? x_only : chunk_of(x, k, classes);
        const floatv y = one_chunk ? y_only : chunk_of(targets, k, classes);
        intv ok = live_lanes(classes - k);
        if (bad)
            ok &= ~chunk_bad(xv, y, flags);
        const floatv ys = y * (1.0f - o->smoothing) + 0.5f * o->smoothing;
        const floatv pw = weights_of(io->pos_weight, k, classes, 1.0f);
        const floatv w = sample_weight * ew;
        if (per_element)
            vector_kahan_add(&s->weight, &s->weight_carry,
                             select(zero, w, ok));
        good -= ok;
        s->correct -= ok & ((xv > threshold) == (y >= 0.5f));
        floatv slope;
        const floatv term = io->gradient ? chunk_term(xv, ys, pw, o, &slope)
                                         : chunk_term(xv, ys, pw, o, 0);
        const floatv value = select(zero, w * term, ok);
        mine += value;
        vector_kahan_add(&s->loss, &s->loss_carry, value * row_share);
        if (io->element_loss)
            store_float_chunk(io->element_loss + base, k, classes, value);
        if (io->gradient) {
            floatv d = w * slope * scale;
            if (io->upstream && per_element)
                d *= weights_of(io->upstream + base, k, classes, 1.0f);
            else if (io->upstream)
                d *= io->upstream[n];
            if (!per_element)
                d /= classes;
            if (bad)
                d = select(zero, d, ok);
            store_chunk(io->gradient + base, k, classes, d);
        }
    }
    if (bad)
        s->f.count += vector_count(good);
    if (io->row_loss)
        io->row_loss[n] = per_element ? sum_of(mine) : sum_of(mine) / classes;
}

/*
 * Rows [begin, end) as one flat run of outputs, when every output of a
 * row weighs the same and nothing per row is asked (see sigmoid_rows):
 * chunks then cross rows, and a row of 16 costs no more than 16 outputs
 * of a long row. Returns 0, having added and written nothing, when a
 * value of the block is bad; the caller then visits its rows one by one.
 * With a gradient the check runs first: the gradient may overwrite x.
 */
__attribute__((always_inline)) inline int
visit_flat_block(const sigmoid_io *io, ulong begin, ulong end, uint classes,
                 const sigmoid_options *o, float gradient_scale,
                 float threshold, item_sums *s)
{
    const floatv zero = (floatv)(0.0f);
    const size_t base = (size_t)begin * classes;
    const uint outputs = (uint)(end - begin) * classes;
    __global const storage_t *x = io->x + base;
    __global const storage_t *targets = io->targets + base;
    if (io->gradient) {
        intv bad = (intv)(0);
        for (uint i = 0; i < outputs; i += VECTOR_WIDTH)
            bad |= chunk_bad(chunk_of(x, i, outputs),
                             chunk_of(targets, i, outputs), o->flags);
        if (any(bad))
            return 0;
    }
    intv bad = (intv)(0), correct = (intv)(0);
    floatv sum = zero;
    for (uint i = 0; i < outputs; i += VECTOR_WIDTH) {
        const intv live = live_lanes(outputs - i);
        const floatv xv = chunk_of(x, i, outputs);
        const floatv y = chunk_of(targets, i, outputs);
        if (!io->gradient)
            bad |= chunk_bad(xv, y, o->flags);
        const floatv ys = y * (1.0f - o->smoothing) + 0.5f * o->smoothing;
        /* Whole chunks of a row here (see sigmoid_rows), so one load. */
        const floatv pw = weights_of(io->pos_weight, i % classes, classes, 1.0f);
        correct -= live & ((xv > threshold) == (y >= 0.5f));
        floatv slope;
        const floatv term = io->gradient ? chunk_term(xv, ys, pw, o, &slope)
                                         : chunk_term(xv, ys, pw, o, 0);
        sum += select(zero, term, live);
        if (io->gradient)
            store_chunk(io->gradient + base, i, outputs,
                        slope * gradient_scale);
    }
    if (any(bad))
        return 0;
    const int per_element = o->flags & F_PER_ELEMENT;
    vector_kahan_add(&s->loss, &s->loss_carry,
                     per_element ? sum : sum / classes);
    s->correct += correct;
    s->f.count += per_element ? outputs : end - begin;
    s->flat_outputs += outputs;
    return 1;
}

/*
 * Rows go to work-groups in contiguous slices. In the general path the
 * items of a group take its rows in turn. In the flat path the rows go in
 * blocks of flat_outputs outputs (src/tuning.c): on a CPU a block is a
 * few cache lines of each array, which the check leaves in L1 for the
 * terms, and each item takes a contiguous share of the slice, so that a
 * thread streams; with flat_strided (GPUs) a block is a chunk or so and
 * the items take blocks in turn, so that neighbouring lanes read
 * neighbouring addresses. row_bad is written for bad rows only: finalize
 * reads the first bad row's entry and no other.
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
    float gamma, float alpha, float threshold, uint flat_outputs,
    uint flat_strided, PART_ARRAYS, FOLD_SCRATCH)
{
    const sigmoid_options o = { flags, smoothing, epsilon, gamma, alpha };
    const int per_element = flags & F_PER_ELEMENT;
    const float scale = host_scale * (device_scale ? device_scale[0] : 1.0f);
    const floatv zero = (floatv)(0.0f);
    const sigmoid_io io = {
        x + x_offset,
        targets + targets_offset,
        pos_weight ? pos_weight + pos_weight_offset : 0,
        sample_weights ? sample_weights + sample_weights_offset : 0,
        element_weights ? element_weights + element_weights_offset : 0,
        upstream ? upstream + upstream_offset : 0,
        gradient ? gradient + gradient_offset : 0,
        element_loss ? element_loss + element_loss_offset : 0,
        row_loss ? row_loss + row_loss_offset : 0,
        row_bad,
    };
    item_sums s = { zero, zero, zero, zero, (intv)(0), 0,
                    { 0.0f, 0.0f, 0.0f, 0.0f, 0, 0, 0 } };
    /* Flat when every output weighs 1, nothing per row is written, and a
     * class weight chunk never crosses a row. */
    const int flat = !sample_weights && !element_weights && !upstream &&
        !element_loss && !row_loss && !(flags & F_WEIGHTS_ONLY) &&
        (!pos_weight || classes % VECTOR_WIDTH == 0);
    const ulong begin = slice_begin(rows), end = slice_end(rows);
    if (flat && begin < end) {
        const ulong lanes = get_local_size(0), lane = get_local_id(0);
        const ulong block = max(1u, flat_outputs / classes);
        const ulong share = (end - begin + lanes - 1) / lanes;
        const ulong first = begin + lane * (flat_strided ? block : share);
        const ulong last = flat_strided ? end : min(end, first + share);
        const ulong step = flat_strided ? lanes * block : block;
        const float gradient_scale = per_element ? scale : scale / classes;
        for (ulong b = first; b < last; b += step) {
            const ulong b_end = min(last, b + block);
            if (!visit_flat_block(&io, b, b_end, classes, &o, gradient_scale,
                                  threshold, &s))
                for (ulong n = b; n < b_end; n++)
                    visit_row(&io, n, classes, &o, scale, threshold, &s);
        }
    } else {
        for (ulong n = begin + get_local_id(0); n < end;
             n += get_local_size(0))
            visit_row(&io, n, classes, &o, scale, threshold, &s);
    }
    fold f = s.f;
    f.loss = sum_of(s.loss) - sum_of(s.loss_carry);
    if (per_element)
        f.weight = sum_of(s.weight) - sum_of(s.weight_carry) +
                   (float)s.flat_outputs;
    else if (!sample_weights)
        f.weight = (float)f.count;
    if (flags & F_ACCURACY)
        f.correct = vector_count(s.correct);
    store_partial(1, f, part_loss, part_weight, part_count, part_correct,
                  part_bad, losses, weights, counts, corrects, bads);
}
