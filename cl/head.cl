/*
 * Small steps of the linear head (src/head.c) that CLBlast has no routine
 * for: folding the per-chunk results in chunk order, and moving the row
 * index of an error found inside a chunk to the index in the whole batch.
 * Each runs as a single work-item: the chunk count is small.
 */

/* The clxent status the host passes; the default lets the file compile
 * alone. */
#ifndef STATUS_INVALID_LABEL
#define STATUS_INVALID_LABEL (-9)
#endif

/* Sums the chunks' losses (compensated, in chunk order, so the bits do
 * not depend on timing) and their correct counts. */
__kernel void head_totals(__global const float *chunk_loss,
                          __global const ulong *chunk_correct, ulong chunks,
                          float divisor, __global float *loss,
                          ulong loss_offset, __global ulong *correct,
                          ulong correct_offset)
{
    float sum = 0.0f, carry = 0.0f;
    ulong count = 0;
    for (ulong c = 0; c < chunks; c++) {
        const float y = chunk_loss[c] - carry;
        const float t = sum + y;
        carry = (t - sum) - y;
        sum = t;
        count += chunk_correct[c];
    }
    if (loss)
        loss[loss_offset] = sum / divisor;
    if (correct)
        correct[correct_offset] = count;
}

/*
 * Runs after each chunk. `state` is 0 while the context's error word held
 * nothing when the head began and no chunk has reported yet; the first
 * error a chunk reports gets the chunk's first row (labels) or first
 * element (everything else) added, once.
 */
__kernel void head_shift_error(__global long *error, __global uint *state,
                               uint snapshot, ulong first_row,
                               ulong first_element)
{
    if (snapshot) {
        state[0] = error[0] != 0;
        return;
    }
    if (state[0] || error[0] == 0)
        return;
    error[1] += error[0] == STATUS_INVALID_LABEL ? (long)first_row
                                                  : (long)first_element;
    state[0] = 1;
}
