/*
 * Deterministic reductions of the per-row results: each work-group folds
 * a fixed, contiguous slice of rows into one partial (here, or in a main
 * kernel that folds its own rows, cl/sigmoid.cl), then one work-group
 * folds the partials in a fixed order. No atomics, so the bits are the
 * same from run to run on a device.
 */
#include "common.h"

/* The clxent statuses finalize records; the host passes the real values. */
#ifndef STATUS_INVALID_LABEL
#define STATUS_INVALID_LABEL (-9)
#define STATUS_INVALID_TARGET (-10)
#define STATUS_NON_FINITE_INPUT (-11)
#endif

/* Reductions the finalize step can produce, as the host numbers them. */
#define REDUCE_NONE 0u
#define REDUCE_SUM 1u
#define REDUCE_MEAN 2u
#define REDUCE_WEIGHTED_MEAN 3u

/* What finalize writes. */
#define FINAL_LOSS 0u         /* the reduced loss, counts, errors */
#define FINAL_DENOMINATOR 1u  /* 1 / denominator for the gradient pass */

/* Folds rows into one partial per work-group; also the first bad row's
 * code, found again by finalize from the row arrays. */
__kernel void reduce_rows(__global const float *row_loss,
                          ulong row_loss_offset,
                          __global const float *row_weight,
                          __global const uint *row_count,
                          __global const uint *row_correct,
                          __global const uint *row_bad, ulong rows,
                          PART_ARRAYS, FOLD_SCRATCH)
{
    const ulong end = slice_end(rows);
    row_loss += row_loss_offset;

    fold f = { 0.0f, 0.0f, 0.0f, 0.0f, 0, 0, 0 };
    for (ulong r = slice_begin(rows) + get_local_id(0); r < end;
         r += get_local_size(0))
        fold_row(&f, r, row_loss[r], row_weight[r], row_count[r],
                 row_correct[r], row_bad[r]);
    store_partial(1, f, part_loss, part_weight, part_count, part_correct,
                  part_bad, losses, weights, counts, corrects, bads);
}

/*
 * The error word of a context: [0] the clxent status code (0 none),
 * [1] the index it names. The first error since the host last cleared
 * it stays.
 */
inline void record_error(__global long *error, __global const uint *row_bad,
                         ulong bad_row, uint classes, uint spatial,
                         uint elementwise)
{
    if (!bad_row || error[0] != 0)
        return;
    const ulong r = bad_row - 1;
    const uint code = row_bad[r] >> BAD_CODE_SHIFT;
    const ulong offset = row_bad[r] & BAD_OFFSET_MASK;
    long status;
    long index;
    if (elementwise) {
        /* Sigmoid family: rows of `classes` outputs, element indices. */
        status = code == BAD_LABEL ? STATUS_INVALID_TARGET
                                   : STATUS_NON_FINITE_INPUT;
        index = (long)(r * classes + offset);
    } else if (code == BAD_LABEL) {
        status = STATUS_INVALID_LABEL;
        index = (long)r;
    } else {
        /* A class inside a (sample, position) row of N x C x S. A later
         * position of the same sample can hold a lower class, which comes
         * first in memory: the error names the first element. */
        const ulong n = r / spatial;
        ulong first = offset * spatial + r % spatial;
        for (ulong q = r + 1; q < (n + 1) * spatial; q++)
            if (row_bad[q] >> BAD_CODE_SHIFT == BAD_NON_FINITE)
                first = min(first, (ulong)(row_bad[q] & BAD_OFFSET_MASK) *
                                           spatial + q % spatial);
        status = STATUS_NON_FINITE_INPUT;
        index = (long)(n * classes * spatial + first);
    }
    error[0] = status;
    error[1] = index;
}

__kernel void finalize(__global const float *part_loss,
                       __global const float *part_weight,
                       __global const ulong *part_count,
                       __global const ulong *part_correct,
                       __global const ulong *part_bad, ulong parts,
                       uint reduction, uint what, uint empty_is_nan,
                       __global float *loss,
                       ulong loss_offset, __global ulong *correct,
                       ulong correct_offset, __global float *scale,
                       __global long *error, __global const uint *row_bad,
                       uint classes, uint spatial, uint elementwise,
                       FOLD_SCRATCH)
{
    fold f = { 0.0f, 0.0f, 0.0f, 0.0f, 0, 0, 0 };
    for (ulong i = get_local_id(0); i < parts; i += get_local_size(0)) {
        kahan_add(&f.loss, &f.loss_carry, part_loss[i]);
        kahan_add(&f.weight, &f.weight_carry, part_weight[i]);
        f.count += part_count[i];
        f.correct += part_correct[i];
        if (part_bad[i] && !f.first_bad)
            f.first_bad = part_bad[i];
    }
    f = fold_group(f, losses, weights, counts, corrects, bads);
    if (get_local_id(0) != 0)
        return;

    float denominator = 1.0f;
    if (reduction == REDUCE_MEAN)
        denominator = (float)f.count;
    else if (reduction == REDUCE_WEIGHTED_MEAN)
        denominator = f.weight;
    const float empty = empty_is_nan ? NAN : 0.0f;
    if (what == FINAL_DENOMINATOR) {
        scale[0] = denominator != 0.0f ? 1.0f / denominator : 0.0f;
        return;
    }
    if (loss && reduction != REDUCE_NONE)
        loss[loss_offset] = denominator != 0.0f
                                ? f.loss / denominator
                                : empty;
    if (correct)
        correct[correct_offset] = f.correct;
    record_error(error, row_bad, f.first_bad, classes, spatial, elementwise);
}
