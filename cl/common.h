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
inline void store_bf16_vector(__global ushort *p, float16 v)
{
    float lanes[16];
    vstore16(v, 0, lanes);
    for (int i = 0; i < 16; i++)
        p[i] = float_to_bf16(lanes[i]);
}
#else
typedef float storage_t;
#define LOAD(p, i) ((p)[i])
#define STORE(p, i, v) ((p)[i] = (v))
#endif

/*
 * Rows whose classes are contiguous are also read as vectors of
 * VECTOR_WIDTH values: CPU compilers map float16 to whole registers and
 * POCL's SLEEF library gives exp and log on them; scalar code leaves a
 * CPU at one value per instruction. LOADV / STOREV move one vector of
 * storage values at element i.
 */
#define VECTOR_WIDTH 16
typedef float16 floatv;
typedef int16 intv;
#if defined(STORAGE_F16)
#define LOADV(p, i) vload_half16(0, (p) + (i))
#define STOREV(p, i, v) vstore_half16_rte((v), 0, (p) + (i))
#elif defined(STORAGE_BF16)
#define LOADV(p, i) as_float16(convert_uint16(vload16(0, (p) + (i))) << 16)
#define STOREV(p, i, v) store_bf16_vector((p) + (i), (v))
#else
#define LOADV(p, i) vload16(0, (p) + (i))
#define STOREV(p, i, v) vstore16((v), 0, (p) + (i))
#endif

/* Asks for the cache line at p ahead of its use, where the host asked
 * for it (CPU devices) and the compiler is clang (POCL, Intel); nothing
 * elsewhere. A prefetch never faults, so p may be past the buffer. */
#if defined(PREFETCH_ROWS) && defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#define PREFETCH_WRITE(p) __builtin_prefetch((p), 1)
#else
#define PREFETCH(p) ((void)0)
#define PREFETCH_WRITE(p) ((void)0)
#endif

/* Chunks of VECTOR_WIDTH classes from c on, padded with zeros past
 * `classes`, and the horizontal folds of a vector. */
inline intv lane_index(void)
{
    return (intv)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/* The lanes of a chunk that hold classes below `count`. */
inline intv live_lanes(uint count)
{
    return lane_index() < (int)count;
}

inline floatv storage_tail(__global const storage_t *p, uint count)
{
    float lanes[VECTOR_WIDTH];
    for (uint i = 0; i < VECTOR_WIDTH; i++)
        lanes[i] = i < count ? LOAD(p, i) : 0.0f;
    return vload16(0, lanes);
}

inline floatv float_tail(__global const float *p, uint count)
{
    float lanes[VECTOR_WIDTH];
    for (uint i = 0; i < VECTOR_WIDTH; i++)
        lanes[i] = i < count ? p[i] : 0.0f;
    return vload16(0, lanes);
}

inline void store_tail(__global storage_t *p, uint count, floatv v)
{
    float lanes[VECTOR_WIDTH];
    vstore16(v, 0, lanes);
    for (uint i = 0; i < count; i++)
        STORE(p, i, lanes[i]);
}

/* Classes c to c + VECTOR_WIDTH of an array, padded past `classes`. */
inline floatv chunk_of(__global const storage_t *p, uint c, uint classes)
{
    return c + VECTOR_WIDTH <= classes ? LOADV(p, c)
                                       : storage_tail(p + c, classes - c);
}

inline floatv weights_of(__global const float *p, uint c, uint classes,
                         float otherwise)
{
    if (!p)
        return (floatv)(otherwise);
    return c + VECTOR_WIDTH <= classes ? vload16(0, p + c)
                                       : float_tail(p + c, classes - c);
}

inline float sum_of(floatv v)
{
    const float8 a = v.lo + v.hi;
    const float4 b = a.lo + a.hi;
    const float2 c = b.lo + b.hi;
    return c.x + c.y;
}

inline float max_of(floatv v)
{
    const float8 a = fmax(v.lo, v.hi);
    const float4 b = fmax(a.lo, a.hi);
    const float2 c = fmax(b.lo, b.hi);
    return fmax(c.x, c.y);
}

inline int min_of(intv v)
{
    const int8 a = min(v.lo, v.hi);
    const int4 b = min(a.lo, a.hi);
    const int2 c = min(b.lo, b.hi);
    return min(c.x, c.y);
}

/* The sum of a vector of counts. */
inline uint vector_count(intv counts)
{
    const int8 a = counts.lo + counts.hi;
    const int4 b = a.lo + a.hi;
    const int2 c = b.lo + b.hi;
    return (uint)(c.x + c.y);
}

/*
 * exp and log1p on the ranges the vector rows need, in plain arithmetic
 * that any compiler keeps in vector registers. POCL's library versions
 * cost 2 to 4 times more on a CPU and bound the rows (README,
 * performance log 9). The polynomials are least-squares fits made for
 * clxent (minimax-weighted, on Chebyshev nodes); tests/cl_math.c checks
 * both on each device against the float64 libm over their ranges.
 */

/* exp(x) for x <= 0, within 1.01 ulp. Results below FLT_MIN are 0; NaN
 * fails the compare, so it is neither clamped nor zeroed and stays NaN.
 * Round x / ln 2 to n with the 1.5 * 2^23 shifter, take r = x - n ln 2
 * in two parts, e^r = 1 + r + r^2 q(r) on |r| <= ln 2 / 2, and 2^n from
 * the shifter's low bits put in the exponent field. */
inline floatv exp_nonpositive(floatv x)
{
    const floatv shifter = (floatv)(12582912.0f);
    const intv tiny = x < -87.33654f; /* ln FLT_MIN */
    const floatv t = fma(select(x, (floatv)(-87.33654f), tiny),
                         (floatv)(1.44269504088896341f), shifter);
    const floatv n = t - shifter;
    floatv r = fma(n, (floatv)(-0.693145751953125f), x);
    r = fma(n, (floatv)(-1.428606765330187045e-06f), r);
    floatv q = (floatv)(0.0013814611593261361f);
    q = fma(q, r, (floatv)(0.008368710055947304f));
    q = fma(q, r, (floatv)(0.04166838899254799f));
    q = fma(q, r, (floatv)(0.1666652113199234f));
    q = fma(q, r, (floatv)(0.4999999403953552f));
    const floatv e_r = fma(q, r * r, r) + 1.0f;
    const floatv two_n = as_float16((as_int16(t) + 127) << 23);
    return select(e_r * two_n, (floatv)(0.0f), tiny);
}

/* log1p(u) for u in [sqrt 1/2 - 1, 1], within 2.3 ulp (2.2 seen; below 0
 * through log_normal's tests). Above sqrt 2 - 1,
 * log1p(u) = ln 2 + log1p((u - 1) / 2), so f stays in
 * [sqrt 1/2 - 1, sqrt 2 - 1], where log1p(f) = f - f^2 / 2 + f^3 q(f). */
inline floatv log1p_unit(floatv u)
{
    const intv upper = u > 0.41421356f;
    const floatv f = select(u, (u - 1.0f) * 0.5f, upper);
    floatv q = (floatv)(0.08700393885374069f);
    q = fma(q, f, (floatv)(-0.14267480373382568f));
    q = fma(q, f, (floatv)(0.14914777874946594f));
    q = fma(q, f, (floatv)(-0.1657758504152298f));
    q = fma(q, f, (floatv)(0.19963063299655914f));
    q = fma(q, f, (floatv)(-0.2500133812427521f));
    q = fma(q, f, (floatv)(0.3333390951156616f));
    const floatv f2 = f * f;
    const floatv k = select((floatv)(0.0f), (floatv)(0.693147180559945f),
                            upper);
    return k + fma(f2 * f, q, fma((floatv)(-0.5f), f2, f));
}

/* expm1(x) for x <= 0, within 2 ulp, from e = exp_nonpositive(x), which
 * every caller has at hand: above -1/2 the Taylor polynomial to x^9
 * (its first dropped term is under 1e-9 of the result), below it e - 1,
 * which no longer cancels. NaN takes e - 1 and stays NaN. */
inline floatv expm1_nonpositive(floatv x, floatv e)
{
    floatv q = (floatv)(2.7557319e-06f); /* 1 / 9! */
    q = fma(q, x, (floatv)(2.4801587e-05f));
    q = fma(q, x, (floatv)(1.9841270e-04f));
    q = fma(q, x, (floatv)(1.3888889e-03f));
    q = fma(q, x, (floatv)(8.3333333e-03f));
    q = fma(q, x, (floatv)(4.1666667e-02f));
    q = fma(q, x, (floatv)(1.6666667e-01f));
    q = fma(q, x, (floatv)(0.5f));
    return select(e - 1.0f, fma(x * x, q, x), x >= -0.5f);
}

/* log(x) for normal x up to 1, within 3 ulp, NaN kept: x = m 2^k with
 * m in [sqrt 1/2, sqrt 2), taken from the bits (the exponent of x over
 * sqrt 1/2), then k ln 2 + log1p(m - 1), where log1p_unit's polynomial
 * covers m - 1 and m - 1 is exact. */
inline floatv log_normal(floatv x)
{
    const intv bits = as_int16(x);
    const intv k = (bits - 0x3f3504f3) >> 23;
    const floatv m = as_float16(bits - (k << 23));
    const floatv y = fma(convert_float16(k), (floatv)(0.693147180559945f),
                         log1p_unit(m - 1.0f));
    return select(y, x, isnan(x));
}

/* base^exponent; the focal exponents 1 and 2 (Keras's default) exactly. */
inline floatv vector_power(floatv base, float exponent)
{
    if (exponent == 1.0f)
        return base;
    if (exponent == 2.0f)
        return base * base;
    return pow(base, (floatv)(exponent));
}

inline void store_chunk(__global storage_t *p, uint c, uint classes, floatv v)
{
    if (c + VECTOR_WIDTH <= classes)
        STOREV(p, c, v);
    else
        store_tail(p + c, classes - c, v);
}

inline void store_float_chunk(__global float *p, uint c, uint classes,
                              floatv v)
{
    float lanes[VECTOR_WIDTH];
    if (c + VECTOR_WIDTH <= classes) {
        vstore16(v, 0, p + c);
        return;
    }
    vstore16(v, 0, lanes);
    for (uint i = 0; i < classes - c; i++)
        p[c + i] = lanes[i];
}

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

/* The folded values of a slice of rows, for cl/reduce.cl and for kernels
 * that fold their own rows. Sums are compensated (Kahan) so that a
 * long slice of small losses keeps its digits. */
typedef struct fold {
    float loss;
    float loss_carry;
    float weight;
    float weight_carry;
    ulong count;
    ulong correct;
    ulong first_bad; /* row + 1 of the first bad row, 0 when none */
} fold;

inline void kahan_add(float *sum, float *carry, float value)
{
    const float y = value - *carry;
    const float t = *sum + y;
    *carry = (t - *sum) - y;
    *sum = t;
}

/* Tree-folds the lanes' values, any number of them, in a fixed order;
 * lane 0 gets the result. */
inline fold fold_group(fold f, __local float *losses, __local float *weights,
                       __local ulong *counts, __local ulong *corrects,
                       __local ulong *bads)
{
    const uint lane = get_local_id(0), lanes = get_local_size(0);
    losses[lane] = f.loss;
    weights[lane] = f.weight;
    counts[lane] = f.count;
    corrects[lane] = f.correct;
    bads[lane] = f.first_bad;
    barrier(CLK_LOCAL_MEM_FENCE);
    uint width = 1;
    while (width < lanes)
        width *= 2;
    for (width /= 2; width > 0; width /= 2) {
        if (lane < width && lane + width < lanes) {
            const uint other = lane + width;
            losses[lane] += losses[other];
            weights[lane] += weights[other];
            counts[lane] += counts[other];
            corrects[lane] += corrects[other];
            /* A zero means no bad row; otherwise the smaller row wins. */
            if (bads[other] && (!bads[lane] || bads[other] < bads[lane]))
                bads[lane] = bads[other];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const fold total = { losses[0], 0.0f, weights[0], 0.0f, counts[0],
                         corrects[0], bads[0] };
    return total;
}

#define FOLD_SCRATCH                                                          \
    __local float *losses, __local float *weights, __local ulong *counts,     \
        __local ulong *corrects, __local ulong *bads

#define PART_ARRAYS                                                           \
    __global float *part_loss, __global float *part_weight,                   \
        __global ulong *part_count, __global ulong *part_correct,             \
        __global ulong *part_bad

/* Adds one row to a work-item's fold; its rows come in increasing order,
 * so the first bad one stays. */
inline void fold_row(fold *f, ulong row, float loss, float weight, uint count,
                     uint correct, uint bad)
{
    kahan_add(&f->loss, &f->loss_carry, loss);
    kahan_add(&f->weight, &f->weight_carry, weight);
    f->count += count;
    f->correct += correct;
    if (bad && !f->first_bad)
        f->first_bad = row + 1;
}

/* The contiguous rows [begin, end) of this work-group: the partials come
 * in row order, so the first bad row is the first part's that has one. */
inline ulong slice_begin(ulong rows)
{
    const ulong groups = get_num_groups(0);
    return get_group_id(0) * ((rows + groups - 1) / groups);
}

inline ulong slice_end(ulong rows)
{
    const ulong groups = get_num_groups(0);
    return min(rows, slice_begin(rows) + (rows + groups - 1) / groups);
}

/* Folds the group's items and, where `store`, stores the group's
 * partial. Every item of the group must call it, rows or none, storing
 * or not, so that its barriers stay uniform. */
inline void store_partial(uint store, fold f, PART_ARRAYS, FOLD_SCRATCH)
{
    f = fold_group(f, losses, weights, counts, corrects, bads);
    if (!store || get_local_id(0) != 0)
        return;
    const size_t group = get_group_id(0);
    part_loss[group] = f.loss;
    part_weight[group] = f.weight;
    part_count[group] = f.count;
    part_correct[group] = f.correct;
    part_bad[group] = f.first_bad;
}

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
