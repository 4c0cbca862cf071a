/*
 * The softmax family: categorical and sparse categorical crossentropy,
 * their focal forms, z-loss and logit soft-capping, with the gradient and
 * top-k accuracy of each row in the same visit.
 *
 * A row is one (sample, position): its class c sits at base + c * stride.
 * Two work shapes share one row body: one row per work-item (`_items`,
 * for channels-first tensors and narrow rows, where neighbouring items
 * read neighbouring addresses) and one row per work-group (`_groups`,
 * whose lanes stride over the classes of a wide row).
 *
 * A row is visited up to four times; every visit after the first finds
 * it in cache when it fits. Logits: (A) online max and sum of exp with
 * the target sums, (rank) the top-k count, (B) the focal sums, (C) the
 * gradient. Probabilities: (A) the row sum, (B) loss and the
 * renormalisation sum, (C) the gradient.
 */
#include "common.h"

#define F_LOGITS 1u
#define F_FOCAL 2u
#define F_IGNORE 4u
#define F_ACCURACY 8u
#define F_WEIGHTS_ONLY 16u
#define F_CHECK_FINITE 32u

typedef struct softmax_options {
    uint classes;
    uint stride;
    uint flags;
    uint top_k;
    float smoothing;
    float epsilon;
    float gamma;
    float alpha;
    float z_loss;
    float cap;
} softmax_options;

/* One row: where it lives and what goes with it. */
typedef struct softmax_row {
    __global const storage_t *x;
    __global const storage_t *targets; /* NULL for sparse labels */
    __global storage_t *gradient;      /* NULL when not asked for */
    __global const float *class_weights;
    __global const float *class_alpha;
    long label;
    uint lane;
    uint lanes;
} softmax_row;

inline float raw_target(const softmax_row *row, uint c, uint stride)
{
    if (row->targets)
        return LOAD(row->targets, (size_t)c * stride);
    return c == row->label ? 1.0f : 0.0f;
}

inline float smoothed(float target, const softmax_options *o)
{
    return target * (1.0f - o->smoothing) + o->smoothing / o->classes;
}

inline float class_weight(const softmax_row *row, uint c)
{
    return row->class_weights ? row->class_weights[c] : 1.0f;
}

/* Focal weight of a class: alpha (per class or scalar) times its weight. */
inline float focal_weight(const softmax_row *row, uint c,
                          const softmax_options *o)
{
    const float alpha = row->class_alpha ? row->class_alpha[c] : o->alpha;
    return alpha * class_weight(row, c);
}

inline float capped(float v, const softmax_options *o)
{
    return o->cap > 0.0f ? o->cap * tanh(v / o->cap) : v;
}

/* d capped / d x, from the capped value itself. */
inline float cap_slope(float capped_value, const softmax_options *o)
{
    if (o->cap <= 0.0f)
        return 1.0f;
    const float t = capped_value / o->cap;
    return 1.0f - t * t;
}

/*
 * The focal term of one class from its log-probability: the loss
 * -k (1-p)^g log p, and h = p dL/dp, the piece the softmax Jacobian needs.
 * 1 - p comes from expm1 so that p near 1 keeps its digits.
 */
inline float2 focal_term(float k, float log_p, float gamma)
{
    const float p = exp(log_p);
    const float rest = -expm1(log_p);
    const float modulation = pow(rest, gamma);
    float slope = 0.0f;
    if (gamma > 0.0f && rest > 0.0f)
        slope = gamma * pow(rest, gamma - 1.0f) * p * log_p;
    return (float2)(-k * modulation * log_p, -k * (modulation - slope));
}

/* Sums that pass A collects. */
typedef struct pass_a {
    float max;          /* logits: running max of the capped logits */
    float exp_sum;      /* logits: sum exp(v - max); probabilities: sum x */
    float target_mass;  /* sum w y' */
    float target_dot;   /* sum w y' (v - max) */
    float weight;       /* sum w y with raw targets */
    float best_target;  /* dense accuracy: largest target */
    uint best_class;
    uint first_bad;     /* first non-finite class, or UINT_MAX */
} pass_a;

inline pass_a visit_a(const softmax_row *row, const softmax_options *o)
{
    pass_a a = { -INFINITY, 0.0f, 0.0f, 0.0f, 0.0f, -INFINITY, UINT_MAX,
                 UINT_MAX };
    const int logits = o->flags & F_LOGITS;
    for (uint c = row->lane; c < o->classes; c += row->lanes) {
        const float x = LOAD(row->x, (size_t)c * o->stride);
        if ((o->flags & F_CHECK_FINITE) && !isfinite(x))
            a.first_bad = min(a.first_bad, c);
        const float y = raw_target(row, c, o->stride);
        const float wy = class_weight(row, c) * smoothed(y, o);
        a.weight += class_weight(row, c) * y;
        if (row->targets && y > a.best_target) {
            a.best_target = y;
            a.best_class = c;
        }
        if (!logits) {
            a.exp_sum += x;
            continue;
        }
        const float v = capped(x, o);
        if (v > a.max) {
            if (a.max != -INFINITY) {
                a.exp_sum *= exp(a.max - v);
                a.target_dot -= a.target_mass * (v - a.max);
            }
            a.max = v;
        }
        a.exp_sum += exp(v - a.max);
        a.target_mass += wy;
        a.target_dot += wy * (v - a.max);
    }
    return a;
}

/* Folds the lanes' pass-A sums into the row's. */
inline pass_a merge_a(pass_a a, const softmax_row *row, __local float *scratch)
{
    const uint lane = row->lane, lanes = row->lanes;
    const float row_max = group_max(a.max, scratch, lane, lanes);
    if (a.max != -INFINITY && a.max != row_max) {
        a.exp_sum *= exp(a.max - row_max);
        a.target_dot -= a.target_mass * (row_max - a.max);
    }
    a.max = row_max;
    a.exp_sum = group_sum(a.exp_sum, scratch, lane, lanes);
    a.target_mass = group_sum(a.target_mass, scratch, lane, lanes);
    a.target_dot = group_sum(a.target_dot, scratch, lane, lanes);
    a.weight = group_sum(a.weight, scratch, lane, lanes);
    a.first_bad = group_min_uint(a.first_bad, scratch, lane, lanes);
    const float best = group_max(a.best_target, scratch, lane, lanes);
    const uint mine = a.best_target == best ? a.best_class : UINT_MAX;
    a.best_class = group_min_uint(mine, scratch, lane, lanes);
    a.best_target = best;
    return a;
}

/* Rows whose true class is among the top_k raw scores (lower index wins
 * ties); the raw scores rank like the capped or renormalised ones. */
inline uint is_top_k(const softmax_row *row, uint truth,
                     const softmax_options *o, __local float *scratch)
{
    if (truth >= o->classes)
        return 0;
    const float x_true = LOAD(row->x, (size_t)truth * o->stride);
    uint beaten_by = 0;
    for (uint c = row->lane; c < o->classes; c += row->lanes) {
        const float x = LOAD(row->x, (size_t)c * o->stride);
        beaten_by += (x > x_true || (x == x_true && c < truth)) ? 1 : 0;
    }
    beaten_by = group_sum_uint(beaten_by, scratch, row->lane, row->lanes);
    return beaten_by < o->top_k ? 1 : 0;
}

/* Pass B for probabilities: the clipped log-probability of one class,
 * and g = dL/dp (zero where the clip bites). */
inline float2 probability_term(const softmax_row *row, uint c, float row_sum,
                               const softmax_options *o)
{
    const float q = LOAD(row->x, (size_t)c * o->stride) / row_sum;
    const float p = clamp(q, o->epsilon, 1.0f - o->epsilon);
    const int clipped = q < o->epsilon || q > 1.0f - o->epsilon;
    const float log_p = log(p);
    const float y = smoothed(raw_target(row, c, o->stride), o);
    if (!(o->flags & F_FOCAL)) {
        const float k = class_weight(row, c) * y;
        return (float2)(-k * log_p, clipped ? 0.0f : -k / p);
    }
    const float k = focal_weight(row, c, o) * y;
    const float modulation = pow(1.0f - p, o->gamma);
    float slope = 0.0f;
    if (o->gamma > 0.0f)
        slope = o->gamma * pow(1.0f - p, o->gamma - 1.0f) * log_p;
    return (float2)(-k * modulation * log_p,
                    clipped ? 0.0f : -k * (modulation / p - slope));
}

inline void zero_gradient(const softmax_row *row, const softmax_options *o)
{
    if (!row->gradient)
        return;
    for (uint c = row->lane; c < o->classes; c += row->lanes)
        STORE(row->gradient, (size_t)c * o->stride, 0.0f);
}

/* Loss of a row from probabilities; writes its gradient scaled by
 * grad_scale when asked. */
inline float probability_row(const softmax_row *row, float row_sum,
                             float grad_scale, const softmax_options *o,
                             __local float *scratch)
{
    float loss = 0.0f, g_dot_q = 0.0f;
    for (uint c = row->lane; c < o->classes; c += row->lanes) {
        const float2 term = probability_term(row, c, row_sum, o);
        loss += term.x;
        g_dot_q += term.y * (LOAD(row->x, (size_t)c * o->stride) / row_sum);
    }
    loss = group_sum(loss, scratch, row->lane, row->lanes);
    if (!row->gradient)
        return loss;
    g_dot_q = group_sum(g_dot_q, scratch, row->lane, row->lanes);
    const float scale = grad_scale / row_sum;
    for (uint c = row->lane; c < o->classes; c += row->lanes) {
        const float g = probability_term(row, c, row_sum, o).y;
        STORE(row->gradient, (size_t)c * o->stride, (g - g_dot_q) * scale);
    }
    return loss;
}

/* Loss of a row from logits, after pass A; writes its gradient. */
inline float logit_row(const softmax_row *row, pass_a a, float grad_scale,
                       const softmax_options *o, __local float *scratch)
{
    const float log_sum = log(a.exp_sum);
    const float lse = a.max + log_sum;
    const int focal = o->flags & F_FOCAL;
    float loss = a.target_mass * log_sum - a.target_dot;
    float h_sum = -a.target_mass;
    if (focal) {
        float2 sums = (float2)(0.0f, 0.0f);
        for (uint c = row->lane; c < o->classes; c += row->lanes) {
            const float v = capped(LOAD(row->x, (size_t)c * o->stride), o);
            const float k = focal_weight(row, c, o) *
                            smoothed(raw_target(row, c, o->stride), o);
            if (k != 0.0f)
                sums += focal_term(k, v - lse, o->gamma);
        }
        loss = group_sum(sums.x, scratch, row->lane, row->lanes);
        h_sum = group_sum(sums.y, scratch, row->lane, row->lanes);
    }
    loss += o->z_loss * lse * lse;
    if (!row->gradient)
        return loss;
    for (uint c = row->lane; c < o->classes; c += row->lanes) {
        const float v = capped(LOAD(row->x, (size_t)c * o->stride), o);
        const float log_p = v - lse;
        const float p = exp(log_p);
        const float y = smoothed(raw_target(row, c, o->stride), o);
        float h;
        if (focal)
            h = focal_term(focal_weight(row, c, o) * y, log_p, o->gamma).y;
        else
            h = -class_weight(row, c) * y;
        float d = h - p * h_sum + 2.0f * o->z_loss * lse * p;
        d *= cap_slope(v, o) * grad_scale;
        STORE(row->gradient, (size_t)c * o->stride, d);
    }
    return loss;
}

/* The scale of a row's gradient: upstream times 1/denominator times the
 * sample weight. */
inline float gradient_scale(float host_scale, __global const float *device_scale,
                            __global const float *upstream, ulong r,
                            float sample_weight)
{
    float scale = host_scale * sample_weight;
    if (device_scale)
        scale *= device_scale[0];
    if (upstream)
        scale *= upstream[r];
    return scale;
}

inline row_out softmax_visit(softmax_row *row, float sample_weight,
                             float grad_scale, const softmax_options *o,
                             __local float *scratch)
{
    row_out out = { 0.0f, 0.0f, 0, 0, 0 };
    const int sparse = row->targets == 0;
    if (sparse && (o->flags & F_IGNORE) && row->label == LONG_MIN) {
        zero_gradient(row, o);
        return out;
    }
    if (sparse && (row->label < 0 || row->label >= o->classes)) {
        out.bad = BAD(BAD_LABEL, 0);
        zero_gradient(row, o);
        return out;
    }
    if (sparse && (o->flags & F_WEIGHTS_ONLY)) {
        out.count = 1;
        out.weight = sample_weight * class_weight(row, (uint)row->label);
        return out;
    }

    const pass_a a = merge_a(visit_a(row, o), row, scratch);
    if (a.first_bad != UINT_MAX) {
        out.bad = BAD(BAD_NON_FINITE, a.first_bad);
        zero_gradient(row, o);
        return out;
    }
    out.count = 1;
    out.weight = sample_weight * a.weight;
    if (o->flags & F_WEIGHTS_ONLY)
        return out;

    if (o->flags & F_ACCURACY) {
        const uint truth = sparse ? (uint)row->label : a.best_class;
        out.correct = is_top_k(row, truth, o, scratch);
    }
    float loss;
    if (o->flags & F_LOGITS)
        loss = logit_row(row, a, grad_scale, o, scratch);
    else
        loss = probability_row(row, a.exp_sum, grad_scale, o, scratch);
    out.loss = sample_weight * loss;
    return out;
}

/* Everything a kernel entry receives, in one list for all six entries. */
#define SOFTMAX_PARAMETERS(TargetType)                                        \
    __global const storage_t *x, ulong x_offset,                              \
    __global const TargetType *targets, ulong targets_offset,                 \
    __global const float *class_weights, ulong class_weights_offset,          \
    __global const float *class_alpha, ulong class_alpha_offset,              \
    __global const float *sample_weights, ulong sample_weights_offset,        \
    __global const float *upstream, ulong upstream_offset,                    \
    __global const float *device_scale, float host_scale,                     \
    __global storage_t *gradient, ulong gradient_offset,                      \
    __global float *row_loss, ulong row_loss_offset,                          \
    __global float *row_weight, __global uint *row_count,                     \
    __global uint *row_correct, __global uint *row_bad,                       \
    ulong rows, uint classes, uint spatial, uint flags, long ignore_class,    \
    float smoothing, float epsilon, float gamma, float alpha, float z_loss,   \
    float cap, uint top_k, __local float *scratch

/*
 * The body of every entry. `sparse_labels` is the label array or NULL,
 * `dense` the dense target array or NULL. Rows go to work-items
 * (lanes == 1) or to whole work-groups.
 */
#define SOFTMAX_BODY(sparse_labels, dense, row_index, row_step, lane, lanes)  \
    const softmax_options o = { classes, spatial, flags, top_k, smoothing,   \
                                epsilon, gamma, alpha, z_loss, cap };         \
    x += x_offset;                                                            \
    if (class_weights) class_weights += class_weights_offset;                 \
    if (class_alpha) class_alpha += class_alpha_offset;                       \
    if (sample_weights) sample_weights += sample_weights_offset;              \
    if (upstream) upstream += upstream_offset;                                \
    if (gradient) gradient += gradient_offset;                                \
    row_loss += row_loss_offset;                                              \
    for (ulong r = (row_index); r < rows; r += (row_step)) {                  \
        const ulong n = r / spatial, s = r % spatial;                         \
        const size_t base = (size_t)n * classes * spatial + s;               \
        softmax_row row = { x + base, 0, 0, class_weights, class_alpha, 0,   \
                            (lane), (lanes) };                                \
        if (dense)                                                            \
            row.targets = (__global const storage_t *)(dense) + base;         \
        if (sparse_labels) {                                                  \
            row.label = (long)(sparse_labels)[r];                             \
            if ((flags & F_IGNORE) && row.label == ignore_class)              \
                row.label = LONG_MIN;                                         \
        }                                                                     \
        if (gradient)                                                         \
            row.gradient = gradient + base;                                   \
        const float sw = sample_weights ? sample_weights[r] : 1.0f;          \
        const float gs = gradient_scale(host_scale, device_scale, upstream,   \
                                        r, sw);                               \
        const row_out out = softmax_visit(&row, sw, gs, &o, scratch);        \
        if ((lane) == 0)                                                      \
            store_row(row_loss, row_weight, row_count, row_correct, row_bad,  \
                      r, out);                                                \
    }

#define SOFTMAX_ENTRIES(suffix, TargetType, sparse_expr, dense_expr)         \
    __kernel void softmax_items_##suffix(SOFTMAX_PARAMETERS(TargetType))      \
    {                                                                         \
        targets += targets_offset;                                            \
        SOFTMAX_BODY(sparse_expr, dense_expr, get_global_id(0),               \
                     get_global_size(0), 0, 1)                                \
    }                                                                         \
    __kernel void softmax_groups_##suffix(SOFTMAX_PARAMETERS(TargetType))     \
    {                                                                         \
        targets += targets_offset;                                            \
        SOFTMAX_BODY(sparse_expr, dense_expr, get_group_id(0),                \
                     get_num_groups(0), get_local_id(0), get_local_size(0))   \
    }

SOFTMAX_ENTRIES(dense, storage_t, (__global const int *)0, targets)
SOFTMAX_ENTRIES(int32, int, targets, (__global const storage_t *)0)
SOFTMAX_ENTRIES(int64, long, targets, (__global const storage_t *)0)
