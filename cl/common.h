/*
 * Shared by every clxent program: the storage type, the per-row scratch
 * layout and the work-group reductions. The library assembles programs
 * with -D defines; the defaults below let each .cl file compile alone.
 */
#ifndef CLXENT_CL_COMMON_H
#define CLXENT_CL_COMMON_H

/* Storage type of predictions, dense targets and gradients; math is float. */
#if defined(STORAGE_F16)
typedef half storage_t;
#define LOAD(p, i) vload_half((i), (p))
#define STORE(p, i, v) vstore_half_rte((v), (i), (p))
#elif defined(STORAGE_BF16)
typedef ushort storage_t;
#define LOAD(p, i) as_float((uint)(p)[i] << 16)
#define STORE(p, i, v) ((p)[i] = float_to_bf16(v))
inline ushort float_to_bf16(float v)
{
    /* Round to nearest even; NaN stays NaN through the quiet bit. */
    const uint bits = as_uint(v);
    if (isnan(v))
        return (ushort)((bits >> 16) | 0x40);
    return (ushort)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
#else
typedef float storage_t;
#define LOAD(p, i) ((p)[i])
#define STORE(p, i, v) ((p)[i] = (v))
#endif

/* Bad-row codes written to row_bad: code in the top two bits, the offset
 * of the bad element inside its row below. */
#define BAD_LABEL 1u
#define BAD_NON_FINITE 2u
#define BAD_CODE_SHIFT 30
#define BAD_OFFSET_MASK 0x3fffffffu
#define BAD(code, offset) (((code) << BAD_CODE_SHIFT) | ((uint)(offset)))

/* The per-row results that the reduction kernels fold. */
typedef struct row_out {
    float loss;
    float weight;
    uint count;
    uint correct;
    uint bad;
} row_out;

/*
 * Work-group reductions over `lanes` work-items. With one lane they are
 * the identity and touch no barrier, so a one-row-per-item kernel calls
 * them freely; with several, every work-item of the group must call them.
 */
inline float group_sum(float value, __local float *scratch, uint lane,
                       uint lanes)
{
    if (lanes == 1)
        return value;
    scratch[lane] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint half_width = lanes / 2; half_width > 0; half_width /= 2) {
        if (lane < half_width)
            scratch[lane] += scratch[lane + half_width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

inline float group_max(float value, __local float *scratch, uint lane,
                       uint lanes)
{
    if (lanes == 1)
        return value;
    scratch[lane] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint half_width = lanes / 2; half_width > 0; half_width /= 2) {
        if (lane < half_width)
            scratch[lane] = fmax(scratch[lane], scratch[lane + half_width]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float best = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return best;
}

/* Smallest value over the group; used for first indices. */
inline uint group_min_uint(uint value, __local float *scratch, uint lane,
                           uint lanes)
{
    if (lanes == 1)
        return value;
    __local uint *slots = (__local uint *)scratch;
    slots[lane] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint half_width = lanes / 2; half_width > 0; half_width /= 2) {
        if (lane < half_width)
            slots[lane] = min(slots[lane], slots[lane + half_width]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const uint best = slots[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return best;
}

inline uint group_sum_uint(uint value, __local float *scratch, uint lane,
                           uint lanes)
{
    if (lanes == 1)
        return value;
    __local uint *slots = (__local uint *)scratch;
    slots[lane] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint half_width = lanes / 2; half_width > 0; half_width /= 2) {
        if (lane < half_width)
            slots[lane] += slots[lane + half_width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const uint total = slots[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

inline void store_row(__global float *row_loss, __global float *row_weight,
                      __global uint *row_count, __global uint *row_correct,
                      __global uint *row_bad, ulong row, row_out out)
{
    row_loss[row] = out.loss;
    row_weight[row] = out.weight;
    row_count[row] = out.count;
    row_correct[row] = out.correct;
    row_bad[row] = out.bad;
}

#endif
