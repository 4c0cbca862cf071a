/*
 * The sigmoid family: binary and multi-label crossentropy and binary
 * focal crossentropy, elementwise over the `classes` outputs of a row,
 * with the gradient and the accuracy count in the same visit. One row per
 * work-item: a row is short (K outputs) and is validated before any of
 * its outputs is written.
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

/* log(1 + exp(v)) without overflow. */
inline float softplus(float v)
{
    return fmax(v, 0.0f) + log1p(exp(-fabs(v)));
}

inline float sigmoid(float v)
{
    const float e = exp(-fabs(v));
    return v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* The crossentropy of one element and its derivative by x. */
inline float2 binary_term(float x, float y, float pos_weight,
                          const sigmoid_options *o)
{
    if (o->flags & F_LOGITS) {
        const float p = sigmoid(x);
        const float loss = pos_weight * y * softplus(-x) +
                           (1.0f - y) * softplus(x);
        return (float2)(loss, -pos_weight * y * (1.0f - p) + (1.0f - y) * p);
    }
    /* 1 - p from x itself: in float, 1 - (1 - eps) is not eps. */
    const float p = clamp(x, o->epsilon, 1.0f - o->epsilon);
    const float q = clamp(1.0f - x, o->epsilon, 1.0f - o->epsilon);
    const int clipped = x < o->epsilon || x > 1.0f - o->epsilon;
    const float loss = -(pos_weight * y * log(p) + (1.0f - y) * log(q));
    const float slope = -pos_weight * y / p + (1.0f - y) / q;
    return (float2)(loss, clipped ? 0.0f : slope);
}

/*
 * Keras's focal form: (1 - p_t)^gamma times the crossentropy, p_t from
 * the sigmoid of the logits or the unclipped probability, times the
 * class balance when asked.
 */
inline float2 focal_binary_term(float x, float y, float pos_weight,
                                const sigmoid_options *o)
{
    const float2 ce = binary_term(x, y, pos_weight, o);
    const int logits = o->flags & F_LOGITS;
    const float p = logits ? sigmoid(x) : x;
    const float dp = logits ? p * (1.0f - p) : 1.0f;
    const float rest = 1.0f - (y * p + (1.0f - y) * (1.0f - p));
    const float modulation = pow(rest, o->gamma);
    float d_modulation = 0.0f;
    if (o->gamma > 0.0f && rest > 0.0f)
        d_modulation = -o->gamma * pow(rest, o->gamma - 1.0f) *
                       (2.0f * y - 1.0f) * dp;
    float balance = 1.0f;
    if (o->flags & F_BALANCE)
        balance = o->alpha * y + (1.0f - o->alpha) * (1.0f - y);
    return (float2)(balance * modulation * ce.x,
                    balance * (d_modulation * ce.x + modulation * ce.y));
}

/* The first bad target or input of a row, as a BAD() code, or 0. */
inline uint check_row(__global const storage_t *x,
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
    __global float *row_loss, ulong row_loss_offset,
    __global float *row_weight, __global uint *row_count,
    __global uint *row_correct, __global uint *row_bad, ulong rows,
    uint classes, uint flags, float smoothing, float epsilon, float gamma,
    float alpha, float threshold)
{
    const sigmoid_options o = { flags, smoothing, epsilon, gamma, alpha };
    const int per_element = flags & F_PER_ELEMENT;
    const float scale = host_scale * (device_scale ? device_scale[0] : 1.0f);
    for (ulong n = get_global_id(0); n < rows; n += get_global_size(0)) {
        const size_t base = (size_t)n * classes;
        const float sample_weight = sample_weights
            ? sample_weights[sample_weights_offset + n] : 1.0f;
        row_out out = { 0.0f, 0.0f, 0, 0, 0 };
        out.bad = check_row(x + x_offset + base,
                            targets + targets_offset + base, classes, flags);
        float loss = 0.0f, weight = 0.0f;
        for (uint k = 0; k < classes; k++) {
            const size_t i = base + k;
            const float ew = element_weights
                ? element_weights[element_weights_offset + i] : 1.0f;
            weight += ew;
            if (out.bad || (flags & F_WEIGHTS_ONLY)) {
                if (gradient && out.bad)
                    STORE(gradient, gradient_offset + i, 0.0f);
                if (element_loss && out.bad)
                    element_loss[element_loss_offset + i] = 0.0f;
                continue;
            }
            const float xv = LOAD(x, x_offset + i);
            const float y = LOAD(targets, targets_offset + i);
            const float ys = y * (1.0f - smoothing) + 0.5f * smoothing;
            const float pw = pos_weight ? pos_weight[pos_weight_offset + k]
                                        : 1.0f;
            const float2 term = (flags & F_FOCAL)
                ? focal_binary_term(xv, ys, pw, &o)
                : binary_term(xv, ys, pw, &o);
            const float value = sample_weight * ew * term.x;
            loss += value;
            if (element_loss)
                element_loss[element_loss_offset + i] = value;
            out.correct += ((xv > threshold) == (y >= 0.5f)) ? 1 : 0;
            if (gradient) {
                float d = sample_weight * ew * term.y * scale;
                if (upstream)
                    d *= upstream[upstream_offset + (per_element ? i : n)];
                if (!per_element)
                    d /= classes;
                STORE(gradient, gradient_offset + i, d);
            }
        }
        if (!out.bad) {
            out.count = per_element ? classes : 1;
            out.weight = per_element ? sample_weight * weight : sample_weight;
            out.loss = per_element ? loss : loss / classes;
        }
        if (!(flags & F_ACCURACY))
            out.correct = 0;
        store_row(row_loss + row_loss_offset, row_weight, row_count,
                  row_correct, row_bad, n, out);
    }
}
