/*
 * The softmax family: categorical and sparse categorical crossentropy,
 * their focal forms, z-loss and logit soft-capping, with the gradient and
 * top-k accuracy of each row in the same visit.
 *
 * A row is one (sample, position): its class c sits at base + c * stride.
 * Three work shapes share one row body: one row per work-item (`_items`,
 * for channels-first tensors and narrow rows, where neighbouring items
 * read neighbouring addresses), one row per work-group (`_groups`, whose
 * lanes stride over the classes of a wide row), and one row over several
 * work-groups (`_split`, for a few very wide rows on a GPU).
 *
 * A row is visited up to five times; every visit after the first finds
 * it in cache when it fits. Logits: (A) the max and sum of exp with the
 * target sums (online in one visit on scalar rows, a max visit then a
 * sums visit on vector rows), (rank) the top-k count, (B) the focal
 * sums, (C) the gradient. Probabilities: (A) the row sum, (B) loss and
 * the renormalisation sum, (C) the gradient; on vector rows B and C's
 * terms only where a target is not zero.
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
    int ignored;
    int vector; /* takes the vector path: one row per item, contiguous */
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

/* d capped / d x = 1 / cosh(x / cap)^2, from the raw logit: 1 - tanh^2
 * would cancel where the cap saturates. */
inline float cap_slope(float x, const softmax_options *o)
{
    if (o->cap <= 0.0f)
        return 1.0f;
    const float c = cosh(x / o->cap);
    return 1.0f / (c * c);
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

/* The clipped log-probability term of one class from probabilities, and
 * g = dL/dp, zero where the clip bites (the row sum still carries it). */
inline float2 probability_term(const softmax_row *row, uint c, float row_sum,
                               const softmax_options *o)
{
    const float q = LOAD(row->x, (size_t)c * o->stride) / row_sum;
    const float p = clamp(q, o->epsilon, 1.0f - o->epsilon);
    const int clipped = q < o->epsilon || q > 1.0f - o->epsilon;
    /* At the top clip, 1 - eps rounds in float (1 - 1e-7 is 1 - 1.19e-7):
     * take log(1 - eps) and 1 - p from eps itself. */
    const int top = q > 1.0f - o->epsilon;
    const float log_p = top ? log1p(-o->epsilon) : log(p);
    const float rest = top ? o->epsilon : 1.0f - p;
    const float y = smoothed(raw_target(row, c, o->stride), o);
    if (!(o->flags & F_FOCAL)) {
        const float k = class_weight(row, c) * y;
        return (float2)(-k * log_p, clipped ? 0.0f : -k / p);
    }
    const float k = focal_weight(row, c, o) * y;
    const float modulation = pow(rest, o->gamma);
    float slope = 0.0f;
    if (o->gamma > 0.0f)
        slope = o->gamma * pow(rest, o->gamma - 1.0f) * log_p;
    return (float2)(-k * modulation * log_p,
                    clipped ? 0.0f : -k * (modulation / p - slope));
}

/*
 * One lane's share of pass A: the online softmax (max and the sum of
 * exp below it), the target sums, the dense argmax and the first
 * non-finite class. Shares merge in any grouping, so lanes fold in a tree.
 */
/*
 * The targets' sums are kept apart from the smoothing's: with wide rows
 * the ls / C terms are far below the label's, and added to it they would
 * round away.
 */
typedef struct pass_a {
    float max;          /* logits: running max of the capped logits */
    float exp_sum;      /* logits: sum exp(v - max); probabilities: sum x */
    float target_mass;  /* sum w y (raw targets: also the applied weight) */
    float target_dot;   /* sum w y (v - max) */
    float class_mass;   /* sum w */
    float class_dot;    /* sum w (v - max) */
    float best_target;  /* dense accuracy: largest target */
    uint best_class;
    uint first_bad;     /* first non-finite class, or UINT_MAX */
} pass_a;

/* sum w y' and sum w y' (v - max), with y' = y (1 - ls) + ls / C. */
inline float smoothed_mass(pass_a a, const softmax_options *o)
{
    return (1.0f - o->smoothing) * a.target_mass +
           o->smoothing / o->classes * a.class_mass;
}

inline float smoothed_dot(pass_a a, const softmax_options *o)
{
    return (1.0f - o->smoothing) * a.target_dot +
           o->smoothing / o->classes * a.class_dot;
}

/* Brings a share to a larger running max. */
inline pass_a rebase(pass_a a, float max)
{
    if (a.max != -INFINITY && a.max != max) {
        a.exp_sum *= exp(a.max - max);
        a.target_dot -= a.target_mass * (max - a.max);
        a.class_dot -= a.class_mass * (max - a.max);
    }
    a.max = max;
    return a;
}

inline pass_a merge_a(pass_a a, pass_a b)
{
    const float max = fmax(a.max, b.max);
    a = rebase(a, max);
    b = rebase(b, max);
    a.exp_sum += b.exp_sum;
    a.target_mass += b.target_mass;
    a.target_dot += b.target_dot;
    a.class_mass += b.class_mass;
    a.class_dot += b.class_dot;
    if (b.best_target > a.best_target ||
        (b.best_target == a.best_target && b.best_class < a.best_class)) {
        a.best_target = b.best_target;
        a.best_class = b.best_class;
    }
    a.first_bad = min(a.first_bad, b.first_bad);
    return a;
}

inline pass_a visit_a(const softmax_row *row, const softmax_options *o,
                      int active)
{
    pass_a a = { -INFINITY, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, -INFINITY,
                 UINT_MAX, UINT_MAX };
    const int logits = o->flags & F_LOGITS;
    for (uint c = row->lane; active && c < o->classes; c += row->lanes) {
        const float x = LOAD(row->x, (size_t)c * o->stride);
        if ((o->flags & F_CHECK_FINITE) && !isfinite(x))
            a.first_bad = min(a.first_bad, c);
        const float y = raw_target(row, c, o->stride);
        const float w = class_weight(row, c);
        if (row->targets && y > a.best_target) {
            a.best_target = y;
            a.best_class = c;
        }
        if (!logits) {
            a.exp_sum += x;
            a.target_mass += w * y;
            continue;
        }
        const float v = capped(x, o);
        if (v > a.max)
            a = rebase(a, v);
        a.exp_sum += exp(v - a.max);
        a.target_mass += w * y;
        a.target_dot += w * y * (v - a.max);
        a.class_mass += w;
        a.class_dot += w * (v - a.max);
    }
    return a;
}

/*
 * Pass B, one lane's share: the loss terms that need the row's
 * normaliser (focal, probabilities), their gradient sum (h for logits,
 * g q for probabilities) and the classes that beat the true one.
 */
typedef struct pass_b {
    float loss;
    float dot;
    uint beaten_by;
} pass_b;

inline pass_b visit_b(const softmax_row *row, pass_a a, uint truth,
                      const softmax_options *o, int active)
{
    pass_b b = { 0.0f, 0.0f, 0 };
    float2 carry = (float2)(0.0f, 0.0f);
    const int logits = o->flags & F_LOGITS;
    const int accuracy = (o->flags & F_ACCURACY) && truth < o->classes;
    const int focal = o->flags & F_FOCAL;
    const float log_sum = log(a.exp_sum);
    const float x_true = accuracy ? LOAD(row->x, (size_t)truth * o->stride)
                                  : 0.0f;
    if (!active || (!accuracy && logits && !focal))
        return b;
    for (uint c = row->lane; c < o->classes; c += row->lanes) {
        const float x = LOAD(row->x, (size_t)c * o->stride);
        if (accuracy)
            b.beaten_by += (x > x_true || (x == x_true && c < truth)) ? 1 : 0;
        float2 term = (float2)(0.0f, 0.0f);
        if (!logits) {
            term = probability_term(row, c, a.exp_sum, o);
            term.y *= x / a.exp_sum;
        } else if (focal) {
            const float k = focal_weight(row, c, o) *
                            smoothed(raw_target(row, c, o->stride), o);
            if (k != 0.0f)
                term = focal_term(k, (capped(x, o) - a.max) - log_sum,
                                  o->gamma);
        }
        /* Compensated: the label's term dwarfs the smoothing's. */
        const float2 y = term - carry;
        const float2 t = (float2)(b.loss, b.dot) + y;
        carry = (t - (float2)(b.loss, b.dot)) - y;
        b.loss = t.x;
        b.dot = t.y;
    }
    return b;
}

inline pass_b merge_b(pass_b a, pass_b b)
{
    a.loss += b.loss;
    a.dot += b.dot;
    a.beaten_by += b.beaten_by;
    return a;
}

/*
 * Tree folds of the lanes' shares; lanes == 1 touches no barrier. Every
 * lane of a group calls both once per row, whatever the row holds:
 * barriers under uniform branches would make POCL's work-group compiler
 * duplicate code without bound.
 */
#define GROUP_MERGE(name, type, merge)                                        \
    inline type name(type mine, __local type *slots, uint lane, uint lanes)  \
    {                                                                         \
        if (lanes == 1)                                                       \
            return mine;                                                      \
        slots[lane] = mine;                                                   \
        barrier(CLK_LOCAL_MEM_FENCE);                                         \
        for (uint width = lanes / 2; width > 0; width /= 2) {                 \
            if (lane < width)                                                 \
                slots[lane] = merge(slots[lane], slots[lane + width]);        \
            barrier(CLK_LOCAL_MEM_FENCE);                                     \
        }                                                                     \
        const type all = slots[0];                                            \
        barrier(CLK_LOCAL_MEM_FENCE);                                         \
        return all;                                                           \
    }

/* The host gives each lane 12 words of local memory (PASS_SHARE_WORDS in
 * src/loss.c); a share that outgrew them would overrun it. */
typedef char pass_a_fits_the_host_slots[sizeof(pass_a) <= 48 ? 1 : -1];
typedef char pass_b_fits_the_host_slots[sizeof(pass_b) <= 48 ? 1 : -1];
/* Split rows keep shares in global memory at PASS_A_BYTES and
 * PASS_B_BYTES (src/loss.c). */
typedef char pass_a_is_9_words[sizeof(pass_a) == 36 ? 1 : -1];
typedef char pass_b_is_3_words[sizeof(pass_b) == 12 ? 1 : -1];

GROUP_MERGE(group_merge_a, pass_a, merge_a)
GROUP_MERGE(group_merge_b, pass_b, merge_b)

/* Pass C: the gradient of an active row, scaled; zeros for the others. */
inline void write_gradient(const softmax_row *row, pass_a a, pass_b b,
                           float grad_scale, const softmax_options *o,
                           int active)
{
    /* log p from (v - max) - log(sum): max + log(sum) would round to the
     * ulp of the logits, 1e-3 at logits of 1e4. */
    const float log_sum = log(a.exp_sum);
    const float lse = a.max + log_sum;
    const int focal = o->flags & F_FOCAL;
    const float h_sum = focal ? b.dot : -smoothed_mass(a, o);
    for (uint c = row->lane; c < o->classes; c += row->lanes) {
        const size_t at = (size_t)c * o->stride;
        float d = 0.0f;
        if (active && !(o->flags & F_LOGITS)) {
            const float g = probability_term(row, c, a.exp_sum, o).y;
            d = (g - b.dot) * grad_scale / a.exp_sum;
        } else if (active) {
            const float x = LOAD(row->x, at);
            const float v = capped(x, o);
            const float log_p = (v - a.max) - log_sum;
            const float p = exp(log_p);
            const float y = smoothed(raw_target(row, c, o->stride), o);
            float h = -class_weight(row, c) * y;
            if (focal)
                h = focal_term(focal_weight(row, c, o) * y, log_p, o->gamma).y;
            d = h - p * h_sum + 2.0f * o->z_loss * lse * p;
            d *= cap_slope(x, o) * grad_scale;
        }
        STORE(row->gradient, at, d);
    }
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

/*
 * The vector row: one row per work-item, classes contiguous; the common
 * case on a CPU. The same passes as above on VECTOR_WIDTH classes at a
 * time, with no data-dependent branch inside a chunk: for logits the max
 * first, then the sums below it, so no running max needs a rebase. A
 * short last chunk is padded and its dead lanes are masked out of every
 * sum.
 */
inline floatv vector_capped(floatv x, const softmax_options *o)
{
    return o->cap > 0.0f ? o->cap * tanh(x / o->cap) : x;
}

inline floatv vector_cap_slope(floatv x, const softmax_options *o)
{
    if (o->cap <= 0.0f)
        return (floatv)(1.0f);
    const floatv c = cosh(x / o->cap);
    return 1.0f / (c * c);
}

/* kahan_add lane by lane: the label's term dwarfs the smoothing's. */
inline void vector_kahan_add(floatv *sum, floatv *carry, floatv value)
{
    const floatv y = value - *carry;
    const floatv t = *sum + y;
    *carry = (t - *sum) - y;
    *sum = t;
}

/* focal_term on a chunk: the loss, and h through `h`; zero where k is.
 * p is exp(log_p), which every caller has at hand. */
inline floatv vector_focal(floatv k, floatv log_p, floatv p, float gamma,
                           floatv *h)
{
    const floatv rest = -expm1_nonpositive(log_p, p);
    const floatv modulation = vector_power(rest, gamma);
    floatv slope = (floatv)(0.0f);
    if (gamma > 0.0f)
        slope = select(slope,
                       gamma * vector_power(rest, gamma - 1.0f) * p * log_p,
                       rest > 0.0f);
    const intv used = k != 0.0f;
    *h = select((floatv)(0.0f), -k * (modulation - slope), used);
    return select((floatv)(0.0f), -k * modulation * log_p, used);
}

inline floatv vector_smoothed(floatv target, const softmax_options *o)
{
    return target * (1.0f - o->smoothing) + o->smoothing / o->classes;
}

inline floatv vector_focal_weight(const softmax_row *row, uint c,
                                  const softmax_options *o)
{
    const uint classes = o->classes;
    return weights_of(row->class_alpha, c, classes, o->alpha) *
           weights_of(row->class_weights, c, classes, 1.0f);
}

inline floatv vector_target(const softmax_row *row, uint c,
                            const softmax_options *o)
{
    if (row->targets)
        return chunk_of(row->targets, c, o->classes);
    return select((floatv)(0.0f), (floatv)(1.0f),
                  lane_index() == (int)(row->label - c));
}

/* The first non-finite class, after a chunk said there is one. */
inline uint first_non_finite(const softmax_row *row, const softmax_options *o)
{
    for (uint c = 0; c < o->classes; c++)
        if (!isfinite(LOAD(row->x, c)))
            return c;
    return UINT_MAX;
}

/*
 * The chunks that can hold a non-zero target: from the first to the last
 * chunk with one (NaN counts), every chunk under label smoothing, none
 * for an inactive row. Outside it y' = 0, so the focal sums and the h
 * term of the gradient vanish there, and passes B and C skip their
 * target loads and focal math; p H still reaches every class.
 */
typedef struct target_span {
    uint first;
    uint last; /* start of the last chunk, inclusive */
} target_span;

inline int in_span(target_span span, uint c)
{
    return c >= span.first && c <= span.last;
}

/*
 * Rows with a gradient keep exp(v - max) of each whole chunk whose
 * targets are all zero in the gradient buffer: there h = 0 (focal terms
 * too), and pass C costs a multiply instead of an exp. Only for logits
 * in float storage (half types would round p), without label smoothing
 * (no target is zero), a cap (its slope needs the logits) or accuracy
 * (its rank pass reads logits that an in-place gradient has overwritten
 * by then). Pass B reads logits only where a target is not zero.
 */
inline int stashes_exp(const softmax_row *row, const softmax_options *o)
{
#if defined(STORAGE_F16) || defined(STORAGE_BF16)
    return 0;
#else
    return row->gradient && (o->flags & F_LOGITS) && o->smoothing == 0.0f &&
           !(o->cap > 0.0f) && !(o->flags & F_ACCURACY);
#endif
}

/* Whether every target of the whole chunk at c is zero. */
inline int zero_targets(const softmax_row *row, uint c)
{
    if (!row->targets)
        return c != ((uint)row->label & ~(VECTOR_WIDTH - 1u));
    return !any(LOADV(row->targets, c) != 0.0f);
}

/* The lanes' sums of pass A on a vector row. */
typedef struct vector_sums {
    floatv exp_sum, class_mass, class_dot, target_mass, target_dot;
    floatv best;     /* dense targets: largest target of each lane */
    intv best_class; /* and its class */
} vector_sums;

/*
 * Adds the chunk at class c to the sums: v - max in `d` for `logits`,
 * the probabilities themselves otherwise, whose row sum needs no exp and
 * whose loss needs no dot (each caller passes a constant, which folds
 * away). `live` masks the padding of a short last chunk. Called once
 * with every lane live for the whole chunks, where the masks fold away,
 * and once for the tail.
 */
__attribute__((always_inline)) inline void
sum_chunk(vector_sums *s, const softmax_row *row, uint c, floatv d,
          intv live, const softmax_options *o, target_span *span, int stash,
          int logits)
{
    const floatv zero = (floatv)(0.0f);
    const floatv w = weights_of(row->class_weights, c, o->classes, 1.0f);
    const floatv e = logits ? exp_nonpositive(d) : d;
    s->exp_sum += select(zero, e, live);
    /* The class sums only matter under label smoothing. */
    if (logits && o->smoothing != 0.0f) {
        s->class_mass += select(zero, w, live);
        s->class_dot += select(zero, w * d, live);
    }
    if (!row->targets) {
        if (stash && zero_targets(row, c))
            STOREV(row->gradient, c, e);
        return;
    }
    /* A chunk of zero targets adds nothing to the target sums; its test
     * is zero_targets' for a whole chunk (the tail never stashes). */
    const floatv y = chunk_of(row->targets, c, o->classes);
    if (any(live & (y != 0.0f))) {
        span->first = min(span->first, c);
        span->last = max(span->last, c);
        s->target_mass += select(zero, w * y, live);
        if (logits)
            s->target_dot += select(zero, w * y * d, live);
    } else if (stash) {
        STOREV(row->gradient, c, e);
    }
    /* The largest target names the true class, for accuracy only. */
    if (!(o->flags & F_ACCURACY))
        return;
    const intv better = live & (y > s->best);
    s->best = select(s->best, y, better);
    s->best_class = select(s->best_class, (int)c + lane_index(), better);
}

/* The lanes' sums folded into a's, and the label's terms of a sparse
 * row. */
inline pass_a fold_sums(pass_a a, vector_sums s, const softmax_row *row,
                        const softmax_options *o)
{
    a.exp_sum = sum_of(s.exp_sum);
    a.class_mass = sum_of(s.class_mass);
    a.class_dot = sum_of(s.class_dot);
    if (row->targets) {
        a.target_mass = sum_of(s.target_mass);
        a.target_dot = sum_of(s.target_dot);
        a.best_target = max_of(s.best);
        /* The first class among the lanes that hold the largest target. */
        const int first = min_of(select((intv)(INT_MAX), s.best_class,
                                        s.best == a.best_target));
        a.best_class = first == INT_MAX ? UINT_MAX : (uint)first;
    } else {
        const float w = row->class_weights ? row->class_weights[row->label]
                                           : 1.0f;
        a.target_mass = w;
        if (o->flags & F_LOGITS)
            a.target_dot =
                w * (capped(LOAD(row->x, row->label), o) - a.max);
    }
    return a;
}

/* Pass A on a vector row of probabilities: the row sum, the target sums
 * and the finite check, in one read. */
inline pass_a vector_sum_probabilities(pass_a a, const softmax_row *row,
                                       const softmax_options *o,
                                       target_span *span)
{
    const uint classes = o->classes;
    const uint whole = classes & ~(VECTOR_WIDTH - 1u);
    vector_sums s = { 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, -INFINITY, INT_MAX };
    intv finite = (intv)(-1);
    for (uint c = 0; c < whole; c += VECTOR_WIDTH) {
        PREFETCH(row->x + classes + c);
        if (row->targets)
            PREFETCH(row->targets + classes + c);
        const floatv x = LOADV(row->x, c);
        finite &= isfinite(x);
        sum_chunk(&s, row, c, x, (intv)(-1), o, span, 0, 0);
    }
    if (whole < classes) {
        const floatv x = storage_tail(row->x + whole, classes - whole);
        finite &= isfinite(x);
        sum_chunk(&s, row, whole, x, live_lanes(classes - whole), o, span, 0,
                  0);
    }
    if ((o->flags & F_CHECK_FINITE) && !all(finite))
        a.first_bad = first_non_finite(row, o);
    return fold_sums(a, s, row, o);
}

/*
 * Pass A on a vector row. Logits take two reads: the row's max with no
 * horizontal step inside the loop, then the sums below it, so nothing is
 * rescaled. The second read finds the row in cache (L1 for a thousand
 * classes).
 */
inline pass_a vector_visit_a(const softmax_row *row, const softmax_options *o,
                             int active, target_span *span)
{
    pass_a a = { -INFINITY, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, -INFINITY,
                 UINT_MAX, UINT_MAX };
    const uint classes = o->classes;
    const uint whole = classes & ~(VECTOR_WIDTH - 1u);
    const int check = o->flags & F_CHECK_FINITE;
    const intv all_live = (intv)(-1);
    span->first = UINT_MAX;
    span->last = 0;
    if (!active)
        return a;
    if (o->smoothing != 0.0f) {
        span->first = 0;
        span->last = UINT_MAX;
    } else if (!row->targets) {
        span->first = span->last = (uint)row->label & ~(VECTOR_WIDTH - 1u);
    }
    if (!(o->flags & F_LOGITS))
        return vector_sum_probabilities(a, row, o, span);

    /* The max; select(top, v, v > top) skips NaN as fmax does, in one
     * instruction where fmax takes three. */
    intv finite = all_live;
    floatv top = (floatv)(-INFINITY);
    for (uint c = 0; c < whole; c += VECTOR_WIDTH) {
        const floatv x = LOADV(row->x, c);
        if (check)
            finite &= isfinite(x);
        const floatv v = vector_capped(x, o);
        top = select(top, v, v > top);
    }
    const intv tail_live = live_lanes(classes - whole);
    const floatv x_tail = whole < classes
        ? storage_tail(row->x + whole, classes - whole) : (floatv)(0.0f);
    if (whole < classes) {
        finite &= isfinite(x_tail);
        const floatv v = vector_capped(x_tail, o);
        top = select(top, v, tail_live & (v > top));
    }
    if (check && !all(finite))
        a.first_bad = first_non_finite(row, o);
    a.max = max_of(top);

    vector_sums s = { 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, -INFINITY, INT_MAX };
    /* Sparse labels with no smoothing, class weights or cap need only the
     * exp sum: a loop of its own, which compilers do not derive from the
     * general one (its uniform tests stay inside the loop), and half the
     * instructions of it. */
    const int exp_sum_only = !row->targets && o->smoothing == 0.0f &&
                             !row->class_weights && !(o->cap > 0.0f);
    /* Each chunk also asks for the same chunk of the row this thread
     * reads next (see SOFTMAX_BODY), spread over the loop's arithmetic. */
    const int stash = stashes_exp(row, o);
    for (uint c = 0; exp_sum_only && c < whole; c += VECTOR_WIDTH) {
        PREFETCH(row->x + classes + c);
        const floatv e = exp_nonpositive(LOADV(row->x, c) - a.max);
        s.exp_sum += e;
        if (stash && zero_targets(row, c))
            STOREV(row->gradient, c, e);
    }
    for (uint c = 0; !exp_sum_only && c < whole; c += VECTOR_WIDTH) {
        PREFETCH(row->x + classes + c);
        if (row->targets)
            PREFETCH(row->targets + classes + c);
        sum_chunk(&s, row, c, vector_capped(LOADV(row->x, c), o) - a.max,
                  all_live, o, span, stash, 1);
    }
    if (whole < classes)
        sum_chunk(&s, row, whole, vector_capped(x_tail, o) - a.max,
                  tail_live, o, span, 0, 1);
    return fold_sums(a, s, row, o);
}

/* probability_term on a chunk of probabilities x with weights k (zero
 * outside the span and past the row), 1 / row sum in `inverse`: the loss,
 * and g through `g`, or g q for pass B's sum where `times_q`: with p = q
 * where the clip does not bite, that needs no division. */
inline floatv vector_probability_term(floatv x, floatv k, floatv inverse,
                                      const softmax_options *o, floatv *g,
                                      int times_q)
{
    const float eps = o->epsilon;
    const floatv q = x * inverse;
    const floatv p = clamp(q, eps, 1.0f - eps);
    const intv top = q > 1.0f - eps;
    const intv clipped = top | (q < eps);
    /* p >= eps: log_normal's range unless eps itself is subnormal. */
    const floatv log_p = select(eps >= FLT_MIN ? log_normal(p) : log(p),
                                (floatv)(log1p(-eps)), top);
    if (!(o->flags & F_FOCAL)) {
        *g = select(times_q ? -k : -k / p, (floatv)(0.0f), clipped);
        return -k * log_p;
    }
    const floatv rest = select(1.0f - p, (floatv)(eps), top);
    const floatv modulation = vector_power(rest, o->gamma);
    floatv slope = (floatv)(0.0f);
    if (o->gamma > 0.0f)
        slope = o->gamma * vector_power(rest, o->gamma - 1.0f) * log_p;
    *g = select(times_q ? -k * (modulation - slope * p)
                        : -k * (modulation / p - slope),
                (floatv)(0.0f), clipped);
    return -k * modulation * log_p;
}

/* The weight k of each class of the chunk at c in pass B's terms: the
 * focal or class weight times y', zero past the row. */
inline floatv term_weight(const softmax_row *row, uint c,
                                 const softmax_options *o)
{
    const floatv y = vector_smoothed(vector_target(row, c, o), o);
    const floatv w = (o->flags & F_FOCAL)
        ? vector_focal_weight(row, c, o)
        : weights_of(row->class_weights, c, o->classes, 1.0f);
    return select((floatv)(0.0f), w * y, live_lanes(o->classes - c));
}

/* Pass B on a vector row: the focal or probability sums, over the target
 * span only (a class outside it adds 0 to both), and the classes that
 * beat the true one. Sums are compensated lane by lane, as visit_b's. */
inline pass_b vector_visit_b(const softmax_row *row, pass_a a, uint truth,
                             target_span span, const softmax_options *o)
{
    pass_b b = { 0.0f, 0.0f, 0 };
    const uint classes = o->classes;
    const int accuracy = (o->flags & F_ACCURACY) && truth < classes;
    const float log_sum = log(a.exp_sum);
    if (accuracy) {
        const float x_true = LOAD(row->x, truth);
        intv beaten = (intv)(0);
        for (uint c = 0; c < classes; c += VECTOR_WIDTH) {
            const floatv x = chunk_of(row->x, c, classes);
            beaten -= live_lanes(classes - c) &
                      ((x > x_true) | ((x == x_true) &
                                       ((int)c + lane_index() < (int)truth)));
        }
        b.beaten_by = vector_count(beaten);
    }
    const int logits = o->flags & F_LOGITS;
    if (logits && !(o->flags & F_FOCAL))
        return b;
    floatv loss = 0.0f, dot = 0.0f, loss_carry = 0.0f, dot_carry = 0.0f;
    for (uint c = span.first; c < classes && c <= span.last;
         c += VECTOR_WIDTH) {
        const floatv k = term_weight(row, c, o);
        if (!any(k != 0.0f))
            continue;
        floatv h, term;
        const floatv x = chunk_of(row->x, c, classes);
        if (logits) {
            const floatv log_p = (vector_capped(x, o) - a.max) - log_sum;
            term = vector_focal(k, log_p, exp_nonpositive(log_p), o->gamma,
                                &h);
        } else {
            /* The gradient's sum takes g q. */
            term = vector_probability_term(x, k, (floatv)(1.0f / a.exp_sum),
                                           o, &h, 1);
        }
        vector_kahan_add(&loss, &loss_carry, term);
        vector_kahan_add(&dot, &dot_carry, h);
    }
    b.loss = sum_of(loss);
    b.dot = sum_of(dot);
    return b;
}

/* One chunk of pass C in full: h_c - p_c H (+ z-loss), times the cap's
 * slope and the row's scale; zeros for an inactive row. */
inline void gradient_chunk(const softmax_row *row, uint c, pass_a a,
                           float log_sum, float p_scale, target_span span,
                           float grad_scale, const softmax_options *o,
                           int active)
{
    const uint classes = o->classes;
    floatv d = (floatv)(0.0f);
    if (active) {
        const floatv x = chunk_of(row->x, c, classes);
        const floatv log_p = (vector_capped(x, o) - a.max) - log_sum;
        const floatv p = exp_nonpositive(log_p);
        floatv h = (floatv)(0.0f);
        if (in_span(span, c)) {
            const floatv y = vector_smoothed(vector_target(row, c, o), o);
            if (!(o->flags & F_FOCAL))
                h = -weights_of(row->class_weights, c, classes, 1.0f) * y;
            else
                vector_focal(vector_focal_weight(row, c, o) * y, log_p, p,
                             o->gamma, &h);
        }
        d = h + p * p_scale;
        d *= vector_cap_slope(x, o) * grad_scale;
    }
    store_chunk(row->gradient, c, classes, d);
}

/*
 * Pass C on a vector row of probabilities: (g_c - sum g q) / S. g_c = 0
 * outside the target span, so a chunk there is one number, and the
 * chunks in it read their probabilities before they write.
 */
inline void vector_probability_gradient(const softmax_row *row, pass_a a,
                                        pass_b b, target_span span,
                                        float grad_scale,
                                        const softmax_options *o, int active)
{
    const uint classes = o->classes;
    const float scale = grad_scale / a.exp_sum;
    const floatv outside = (floatv)(active ? -b.dot * scale : 0.0f);
    for (uint c = 0; c < classes; c += VECTOR_WIDTH) {
        floatv d = outside;
        if (active && in_span(span, c)) {
            floatv g;
            vector_probability_term(chunk_of(row->x, c, classes),
                                    term_weight(row, c, o),
                                    (floatv)(1.0f / a.exp_sum), o, &g, 0);
            d = (g - b.dot) * scale;
        }
        store_chunk(row->gradient, c, classes, d);
    }
}

/*
 * Pass C on a vector row. h_c = 0 outside the target span (focal terms
 * too: their weight there is 0), so without a cap a whole chunk there is
 * p times one number: a loop of its own (as in pass A), and
 * gradient_chunk takes the span and the tail. Neither writes a chunk that
 * the other still reads, so the gradient may overwrite the logits.
 */
inline void vector_gradient(const softmax_row *row, pass_a a, pass_b b,
                            target_span span, float grad_scale,
                            const softmax_options *o, int active)
{
    if (!(o->flags & F_LOGITS)) {
        vector_probability_gradient(row, a, b, span, grad_scale, o, active);
        return;
    }
    const uint classes = o->classes;
    const float log_sum = log(a.exp_sum);
    const float lse = a.max + log_sum;
    const float h_sum = (o->flags & F_FOCAL) ? b.dot : -smoothed_mass(a, o);
    const float p_scale = 2.0f * o->z_loss * lse - h_sum;
    const uint whole = classes & ~(VECTOR_WIDTH - 1u);
    if (!active || o->cap > 0.0f) {
        for (uint c = 0; c < classes; c += VECTOR_WIDTH)
            gradient_chunk(row, c, a, log_sum, p_scale, span, grad_scale, o,
                           active);
        return;
    }
    const float p_times = p_scale * grad_scale;
    if (stashes_exp(row, o)) {
        /* p = e / sum, from pass A's stash where it left one. */
        const float e_times = p_times / a.exp_sum;
        for (uint c = 0; c < whole; c += VECTOR_WIDTH) {
            if (zero_targets(row, c))
                STOREV(row->gradient, c, LOADV(row->gradient, c) * e_times);
            else
                gradient_chunk(row, c, a, log_sum, p_scale, span, grad_scale,
                               o, 1);
        }
        if (whole < classes)
            gradient_chunk(row, whole, a, log_sum, p_scale, span, grad_scale,
                           o, 1);
        return;
    }
    for (uint c = 0; c < whole; c += VECTOR_WIDTH) {
        PREFETCH_WRITE(row->gradient + classes + c);
        if (in_span(span, c))
            continue;
        const floatv log_p = (LOADV(row->x, c) - a.max) - log_sum;
        STOREV(row->gradient, c, exp_nonpositive(log_p) * p_times);
    }
    for (uint c = span.first; c <= span.last && c < whole; c += VECTOR_WIDTH)
        gradient_chunk(row, c, a, log_sum, p_scale, span, grad_scale, o, 1);
    if (whole < classes)
        gradient_chunk(row, whole, a, log_sum, p_scale, span, grad_scale, o,
                       1);
}

/*
 * Lane rows: sixteen rows at once, one a vector lane, for rows too
 * narrow to fill vectors of their own (a few dozen classes) and for
 * channels-first tensors, where sixteen neighbouring positions of one
 * sample are contiguous in every class. Class c of all sixteen is one
 * load there and a gather for narrow rows; every pass is the scalar
 * row's (visit_a, visit_b, write_gradient) with the row's numbers in
 * lanes, the max taken first as on vector rows, and no horizontal step.
 * A group past the end of the rows, or of a sample's positions, repeats
 * its last live row in the dead lanes, whose results are dropped.
 */
typedef struct lane_rows {
    __global const storage_t *x;
    __global const storage_t *targets; /* NULL for sparse labels */
    __global storage_t *gradient;      /* NULL when not asked for */
    __global const float *class_weights;
    __global const float *class_alpha;
    size_t first;   /* element of class 0 of lane 0 */
    uint step;      /* elements from one lane's row to the next's */
    uint stride;    /* elements from one class to the next */
    uint last;      /* the last live lane */
    floatv *cache;  /* x of each class, where gathered once (else NULL) */
    floatv *target_cache; /* and the dense targets */
    intv label;     /* sparse: the label, -1 where it is bad or ignored */
    intv ignored, bad_label;
    floatv sample_weight, grad_scale;
} lane_rows;

/* Class c of each lane's row of p (x, targets or gradient): one load, a
 * gather of sixteen lanes built in registers (through memory it stalls
 * each load on the sixteen stores before it), or a short group's. */
__attribute__((always_inline)) inline floatv
lane_load(__global const storage_t *p, const lane_rows *l, uint c)
{
    const size_t at = l->first + (size_t)c * l->stride;
    const size_t s = l->step;
    if (l->step == 1 && l->last == VECTOR_WIDTH - 1)
        return LOADV(p, at);
    if (l->last == VECTOR_WIDTH - 1) {
        __global const storage_t *q = p + at;
        return (floatv)(LOAD(q, 0), LOAD(q, s), LOAD(q, 2 * s),
                        LOAD(q, 3 * s), LOAD(q, 4 * s), LOAD(q, 5 * s),
                        LOAD(q, 6 * s), LOAD(q, 7 * s), LOAD(q, 8 * s),
                        LOAD(q, 9 * s), LOAD(q, 10 * s), LOAD(q, 11 * s),
                        LOAD(q, 12 * s), LOAD(q, 13 * s), LOAD(q, 14 * s),
                        LOAD(q, 15 * s));
    }
    float v[VECTOR_WIDTH];
    for (uint i = 0; i < VECTOR_WIDTH; i++)
        v[i] = LOAD(p, at + (size_t)min(i, l->last) * l->step);
    return vload16(0, v);
}

__attribute__((always_inline)) inline void
lane_store(__global storage_t *p, const lane_rows *l, uint c, floatv value)
{
    const size_t at = l->first + (size_t)c * l->stride;
    if (l->step == 1 && l->last == VECTOR_WIDTH - 1) {
        STOREV(p, at, value);
        return;
    }
    float v[VECTOR_WIDTH];
    vstore16(value, 0, v);
    for (uint i = 0; i <= l->last; i++)
        STORE(p, at + (size_t)i * l->step, v[i]);
}

/* Asks for class c of the group four ahead of this one, where a class's
 * sixteen rows are contiguous (channels-first); the gathers of narrow
 * rows read one contiguous stream, which the hardware follows. */
inline void lane_prefetch(const lane_rows *l, uint c)
{
    if (l->step != 1)
        return;
    const size_t ahead = l->first + (size_t)c * l->stride + 4 * VECTOR_WIDTH;
    PREFETCH(l->x + ahead);
    if (l->targets)
        PREFETCH(l->targets + ahead);
}

/* Narrow rows gather each class of x and of dense targets once into the
 * caches, a vector a class, for every pass to read: a gather costs a
 * load a lane. */
#define LANE_CACHE 32

__attribute__((always_inline)) inline floatv lane_x(const lane_rows *l,
                                                    uint c)
{
    return l->cache ? l->cache[c] : lane_load(l->x, l, c);
}

inline floatv lane_target(const lane_rows *l, uint c)
{
    if (l->targets && l->target_cache)
        return l->target_cache[c];
    if (l->targets)
        return lane_load(l->targets, l, c);
    return select((floatv)(0.0f), (floatv)(1.0f), l->label == (int)c);
}

inline float lane_class_weight(const lane_rows *l, uint c)
{
    return l->class_weights ? l->class_weights[c] : 1.0f;
}

/* The weight k of class c's term in pass B: focal or class weight. */
inline float lane_term_weight(const lane_rows *l, uint c,
                              const softmax_options *o)
{
    if (!(o->flags & F_FOCAL))
        return lane_class_weight(l, c);
    const float alpha = l->class_alpha ? l->class_alpha[c] : o->alpha;
    return alpha * lane_class_weight(l, c);
}

/* pass_a with the rows in lanes; x_true is the true class's input and,
 * for sparse labels, k_true its weight in pass B (lane_term_weight). */
typedef struct lane_a {
    floatv max, exp_sum, target_mass, target_dot, class_mass, class_dot;
    floatv best_target, x_true, k_true;
    intv best_class, first_bad; /* INT_MAX for none */
} lane_a;

/* Sparse labels without smoothing: y' is 0 but at the label, so pass B's
 * terms and pass C's h (g for probabilities) come from that class alone,
 * once a row instead of once a class. */
inline int label_only(const lane_rows *l, const softmax_options *o)
{
    return !l->targets && o->smoothing == 0.0f;
}

inline lane_a lane_visit_a(const lane_rows *l, const softmax_options *o)
{
    const floatv zero = (floatv)(0.0f);
    lane_a a = { (floatv)(-INFINITY), zero, zero, zero, zero, zero,
                 (floatv)(-INFINITY), zero, zero, (intv)(INT_MAX),
                 (intv)(INT_MAX) };
    const int logits = o->flags & F_LOGITS;
    const int check = o->flags & F_CHECK_FINITE;
    const int accuracy = o->flags & F_ACCURACY;
    for (uint c = 0; logits && c < o->classes; c++) {
        lane_prefetch(l, c);
        const floatv x = lane_x(l, c);
        if (check)
            a.first_bad = select(a.first_bad, (intv)((int)c),
                                 !isfinite(x) & (a.first_bad == INT_MAX));
        const floatv v = vector_capped(x, o);
        a.max = select(a.max, v, v > a.max);
    }
    for (uint c = 0; c < o->classes; c++) {
        if (!logits)
            lane_prefetch(l, c);
        const floatv x = lane_x(l, c);
        const floatv y = lane_target(l, c);
        const float w = lane_class_weight(l, c);
        a.target_mass += w * y;
        if (!logits) {
            if (check)
                a.first_bad = select(a.first_bad, (intv)((int)c),
                                     !isfinite(x) & (a.first_bad == INT_MAX));
            a.exp_sum += x;
        } else {
            const floatv d = vector_capped(x, o) - a.max;
            a.exp_sum += exp_nonpositive(d);
            a.target_dot += w * y * d;
            if (o->smoothing != 0.0f) {
                a.class_mass += w;
                a.class_dot += w * d;
            }
        }
        if (accuracy && l->targets) {
            const intv better = y > a.best_target;
            a.best_target = select(a.best_target, y, better);
            a.best_class = select(a.best_class, (intv)((int)c), better);
        } else if (!l->targets) {
            const intv truth = l->label == (int)c;
            a.x_true = select(a.x_true, x, truth);
            a.k_true = select(a.k_true, (floatv)(lane_term_weight(l, c, o)),
                              truth);
        }
    }
    return a;
}

/* pass_b with the rows in lanes; `beaten` counts down from 0, h_true is
 * the true class's h (g for probabilities) where label_only. */
typedef struct lane_b {
    floatv loss, dot, h_true;
    intv beaten;
} lane_b;

/* The true class of each lane for accuracy, INT_MAX for none. */
inline intv lane_truth(const lane_rows *l, lane_a a)
{
    return l->targets ? a.best_class
                      : select(l->label, (intv)(INT_MAX), l->label < 0);
}

inline lane_b lane_visit_b(const lane_rows *l, lane_a *a,
                           const softmax_options *o)
{
    const floatv zero = (floatv)(0.0f);
    lane_b b = { zero, zero, zero, (intv)(0) };
    const int logits = o->flags & F_LOGITS;
    if (o->flags & F_ACCURACY) {
        const intv truth = lane_truth(l, *a);
        for (uint c = 0; l->targets && c < o->classes; c++)
            a->x_true = select(a->x_true, lane_x(l, c),
                               truth == (int)c);
        for (uint c = 0; c < o->classes; c++) {
            const floatv x = lane_x(l, c);
            b.beaten += (x > a->x_true) |
                        ((x == a->x_true) & ((intv)((int)c) < truth));
        }
    }
    const floatv log_sum = log(a->exp_sum);
    const floatv inverse = 1.0f / a->exp_sum;
    if (label_only(l, o)) {
        const floatv k = a->k_true, x = a->x_true;
        if (!logits) {
            b.loss = vector_probability_term(x, k, 1.0f / a->exp_sum, o,
                                             &b.h_true, 0);
            b.dot = b.h_true * (x / a->exp_sum);
        } else if (o->flags & F_FOCAL) {
            const floatv log_p = (vector_capped(x, o) - a->max) - log_sum;
            b.loss = vector_focal(k, log_p, exp_nonpositive(log_p), o->gamma,
                                  &b.h_true);
            b.dot = b.h_true;
        } else {
            b.h_true = -k;
        }
        return b;
    }
    if (logits && !(o->flags & F_FOCAL))
        return b;
    floatv loss_carry = zero, dot_carry = zero;
    for (uint c = 0; c < o->classes; c++) {
        const floatv k =
            lane_term_weight(l, c, o) * vector_smoothed(lane_target(l, c), o);
        const floatv x = lane_x(l, c);
        floatv h, term;
        if (logits) {
            const floatv log_p = (vector_capped(x, o) - a->max) - log_sum;
            term = vector_focal(k, log_p, exp_nonpositive(log_p), o->gamma,
                                &h);
        } else {
            term = vector_probability_term(x, k, inverse, o, &h, 1);
        }
        vector_kahan_add(&b.loss, &loss_carry, term);
        vector_kahan_add(&b.dot, &dot_carry, h);
    }
    return b;
}

inline floatv lane_smoothed_mass(lane_a a, const softmax_options *o)
{
    return (1.0f - o->smoothing) * a.target_mass +
           o->smoothing / o->classes * a.class_mass;
}

/* Pass C with the rows in lanes, zeros where a row is not active. */
inline void lane_gradient(const lane_rows *l, lane_a a, lane_b b,
                          intv active, const softmax_options *o)
{
    const int logits = o->flags & F_LOGITS;
    const int focal = o->flags & F_FOCAL;
    const floatv log_sum = log(a.exp_sum);
    const floatv lse = a.max + log_sum;
    const floatv h_sum = focal ? b.dot : -lane_smoothed_mass(a, o);
    const floatv p_scale = 2.0f * o->z_loss * lse - h_sum;
    const floatv inverse = 1.0f / a.exp_sum;
    const floatv probability_scale = l->grad_scale * inverse;
    const int one_class = label_only(l, o);
    for (uint c = 0; c < o->classes; c++) {
        const intv truth = l->label == (int)c;
        floatv d;
        if (one_class && !logits) {
            d = (select((floatv)(0.0f), b.h_true, truth) - b.dot) *
                probability_scale;
            lane_store(l->gradient, l, c, select((floatv)(0.0f), d, active));
            continue;
        }
        const floatv x = lane_x(l, c);
        const floatv y = vector_smoothed(lane_target(l, c), o);
        const floatv k = lane_term_weight(l, c, o) * y;
        if (!logits) {
            floatv g;
            vector_probability_term(x, k, inverse, o, &g, 0);
            d = (g - b.dot) * probability_scale;
        } else {
            const floatv log_p = (vector_capped(x, o) - a.max) - log_sum;
            const floatv p = exp_nonpositive(log_p);
            floatv h = -k;
            if (one_class)
                h = select((floatv)(0.0f), b.h_true, truth);
            else if (focal)
                vector_focal(k, log_p, p, o->gamma, &h);
            d = (h + p * p_scale) * vector_cap_slope(x, o) * l->grad_scale;
        }
        lane_store(l->gradient, l, c, select((floatv)(0.0f), d, active));
    }
}

/* The sixteen rows' results, as row_result's: zeros but the bad code
 * where a row is ignored or bad. */
typedef struct lane_out {
    floatv loss, weight;
    intv count, correct, bad; /* count and correct 1 or 0 */
} lane_out;

inline lane_out lane_results(const lane_rows *l, lane_a a, lane_b b,
                             const softmax_options *o)
{
    const floatv log_sum = log(a.exp_sum);
    floatv loss = b.loss;
    if (o->flags & F_LOGITS) {
        const floatv lse = a.max + log_sum;
        if (!(o->flags & F_FOCAL))
            loss = lane_smoothed_mass(a, o) * log_sum -
                   ((1.0f - o->smoothing) * a.target_dot +
                    o->smoothing / o->classes * a.class_dot);
        loss += o->z_loss * lse * lse;
    }
    const intv truth = lane_truth(l, a);
    /* As row_result's: a row with no true class counts no class above. */
    const intv hit = (o->flags & F_ACCURACY) ? (truth == INT_MAX) |
                                                   (-b.beaten < (int)o->top_k)
                                             : (intv)(0);
    /* An ignored row's inputs are not looked at, as visits_a's. */
    const intv non_finite = ~l->ignored & (a.first_bad != INT_MAX);
    const intv counted = ~l->ignored & ~l->bad_label & ~non_finite;
    const floatv zero = (floatv)(0.0f);
    lane_out out;
    out.loss = select(zero, l->sample_weight * loss, counted);
    out.weight = select(zero, l->sample_weight * a.target_mass, counted);
    out.count = counted & 1;
    out.correct = counted & hit & 1;
    out.bad = select(select((intv)(0),
                            (intv)(BAD_NON_FINITE << BAD_CODE_SHIFT) |
                                a.first_bad,
                            non_finite),
                     (intv)(BAD_LABEL << BAD_CODE_SHIFT), l->bad_label);
    return out;
}

/* Rows r to r + live - 1 folded into f in row order: only the loss and
 * a bad row's code stored, as VISIT_AND_FOLD, and every row's code, zero
 * or not, where `every_code` (the error of an N x C x S tensor reads the
 * codes of the positions after its first bad row). A whole group with no
 * bad row folds its sums at once. */
inline void lane_output(lane_out out, ulong r, uint live, int every_code,
                        fold *f, __global float *row_loss,
                        __global uint *row_bad)
{
    if (live == VECTOR_WIDTH && !any(out.bad != 0)) {
        if (every_code)
            vstore16((uint16)(0), 0, row_bad + r);
        vstore16(out.loss, 0, row_loss + r);
        kahan_add(&f->loss, &f->loss_carry, sum_of(out.loss));
        kahan_add(&f->weight, &f->weight_carry, sum_of(out.weight));
        f->count += vector_count(out.count);
        f->correct += vector_count(out.correct);
        return;
    }
    float loss[VECTOR_WIDTH], weight[VECTOR_WIDTH];
    int count[VECTOR_WIDTH], correct[VECTOR_WIDTH], bad[VECTOR_WIDTH];
    vstore16(out.loss, 0, loss);
    vstore16(out.weight, 0, weight);
    vstore16(out.count, 0, count);
    vstore16(out.correct, 0, correct);
    vstore16(out.bad, 0, bad);
    for (uint i = 0; i < live; i++) {
        row_loss[r + i] = loss[i];
        if (bad[i] || every_code)
            row_bad[r + i] = (uint)bad[i];
        fold_row(f, r + i, loss[i], weight[i], (uint)count[i],
                 (uint)correct[i], (uint)bad[i]);
    }
}

/* Rows r, r + 1, ... of lanes 0 to l->last: labels, weights and scales;
 * a whole group's in vectors. */
inline void lane_setup(lane_rows *l, ulong r, __global const int *labels32,
                       __global const long *labels64,
                       __global const float *sample_weights,
                       __global const float *upstream,
                       __global const float *device_scale, float host_scale,
                       const softmax_options *o, long ignore_class)
{
    const int sparse = labels32 || labels64;
    if (l->last == VECTOR_WIDTH - 1) {
        long16 y = (long16)(0);
        if (labels32)
            y = convert_long16(vload16(0, labels32 + r));
        if (labels64)
            y = vload16(0, labels64 + r);
        long16 ignored = (long16)(0), bad = (long16)(0);
        if (sparse && (o->flags & F_IGNORE))
            ignored = y == ignore_class;
        if (sparse)
            bad = ~ignored & ((y < 0) | (y >= (long)o->classes));
        l->ignored = convert_int16(ignored);
        l->bad_label = convert_int16(bad);
        l->label = sparse ? select(convert_int16(y), (intv)(-1),
                                   l->ignored | l->bad_label)
                          : (intv)(-1);
        l->sample_weight = sample_weights ? vload16(0, sample_weights + r)
                                          : (floatv)(1.0f);
        /* gradient_scale's products, in its order. */
        l->grad_scale = host_scale * l->sample_weight;
        if (device_scale)
            l->grad_scale *= device_scale[0];
        if (upstream)
            l->grad_scale *= vload16(0, upstream + r);
        return;
    }
    int label[VECTOR_WIDTH], ignored[VECTOR_WIDTH], bad[VECTOR_WIDTH];
    float sw[VECTOR_WIDTH], gs[VECTOR_WIDTH];
    for (uint i = 0; i < VECTOR_WIDTH; i++) {
        const ulong row = r + min(i, l->last);
        long y = 0;
        if (labels32)
            y = labels32[row];
        if (labels64)
            y = labels64[row];
        ignored[i] = sparse && (o->flags & F_IGNORE) && y == ignore_class
                         ? -1 : 0;
        bad[i] = sparse && !ignored[i] && (y < 0 || y >= o->classes) ? -1
                                                                     : 0;
        label[i] = sparse && !ignored[i] && !bad[i] ? (int)y : -1;
        sw[i] = sample_weights ? sample_weights[row] : 1.0f;
        gs[i] = gradient_scale(host_scale, device_scale, upstream, row, sw[i]);
    }
    l->label = vload16(0, label);
    l->ignored = vload16(0, ignored);
    l->bad_label = vload16(0, bad);
    l->sample_weight = vload16(0, sw);
    l->grad_scale = vload16(0, gs);
}

inline int label_is_bad(const softmax_row *row, const softmax_options *o)
{
    return row->targets == 0 && !row->ignored &&
           (row->label < 0 || row->label >= o->classes);
}

/* The pass B share of a row that needs one; zeros otherwise. */
inline pass_b visit_b_share(const softmax_row *row, pass_a a, target_span span,
                            const softmax_options *o, int active)
{
    const pass_b none = { 0.0f, 0.0f, 0 };
    const uint truth = row->targets == 0 ? (uint)row->label : a.best_class;
    const int rank = (o->flags & F_ACCURACY) && truth < o->classes;
    if (o->flags & F_WEIGHTS_ONLY)
        return none;
    if (!row->vector)
        return visit_b(row, a, truth, o, active);
    const int sums = (o->flags & F_FOCAL) || !(o->flags & F_LOGITS);
    if (active && (rank || sums))
        return vector_visit_b(row, a, truth, span, o);
    return none;
}

/* A row's results from its merged passes. */
inline row_out row_result(const softmax_row *row, pass_a a, pass_b b,
                          float sample_weight, const softmax_options *o)
{
    row_out out = { 0.0f, 0.0f, 0, 0, 0 };
    const int bad_label = label_is_bad(row, o);
    const int bad_input = a.first_bad != UINT_MAX;
    if (bad_label)
        out.bad = BAD(BAD_LABEL, 0);
    else if (bad_input)
        out.bad = BAD(BAD_NON_FINITE, a.first_bad);
    if (row->ignored || bad_label || bad_input)
        return out;
    out.count = 1;
    out.weight = sample_weight *
                 (row->targets == 0 ? class_weight(row, (uint)row->label)
                                    : a.target_mass);
    if (o->flags & F_WEIGHTS_ONLY)
        return out;
    out.correct = (o->flags & F_ACCURACY) && b.beaten_by < o->top_k;
    float loss = b.loss;
    if (o->flags & F_LOGITS) {
        const float lse = a.max + log(a.exp_sum);
        if (!(o->flags & F_FOCAL))
            loss = smoothed_mass(a, o) * log(a.exp_sum) -
                   smoothed_dot(a, o);
        loss += o->z_loss * lse * lse;
    }
    out.loss = sample_weight * loss;
    return out;
}

/* Whether pass A visits the row's classes: sparse weights need only the
 * label's. */
inline int visits_a(const softmax_row *row, const softmax_options *o)
{
    return !row->ignored && !label_is_bad(row, o) &&
           !(row->targets == 0 && (o->flags & F_WEIGHTS_ONLY));
}

/* One row, start to end, with a fixed sequence of group folds. */
inline row_out softmax_visit(const softmax_row *row, float sample_weight,
                             float grad_scale, const softmax_options *o,
                             __local float *scratch)
{
    const int visit = visits_a(row, o);
    target_span span = { UINT_MAX, 0 };
    const pass_a a = group_merge_a(row->vector
                                       ? vector_visit_a(row, o, visit, &span)
                                       : visit_a(row, o, visit),
                                   (__local pass_a *)scratch, row->lane,
                                   row->lanes);
    const int active =
        !row->ignored && !label_is_bad(row, o) && a.first_bad == UINT_MAX;
    const pass_b b = group_merge_b(visit_b_share(row, a, span, o, active),
                                   (__local pass_b *)scratch, row->lane,
                                   row->lanes);
    if (row->gradient && !(o->flags & F_WEIGHTS_ONLY) && row->vector)
        vector_gradient(row, a, b, span, grad_scale, o, active);
    else if (row->gradient && !(o->flags & F_WEIGHTS_ONLY))
        write_gradient(row, a, b, grad_scale, o, active);
    return row_result(row, a, b, sample_weight, o);
}

/*
 * The split row: a few very wide rows, each over `segments` work-groups,
 * so that a GPU has a group for every compute unit. Three launches of
 * one entry: (A) each group stores its pass A share, (B) each merges its
 * row's A shares in segment order and stores its pass B share, (C) each
 * merges both and writes its classes' gradient, and segment 0 stores the
 * row. The shares merge in a fixed order, so results are deterministic.
 */
#define SPLIT_A 0u
#define SPLIT_B 1u
#define SPLIT_C 2u

inline pass_a merged_a(__global const pass_a *shares, uint count)
{
    pass_a a = shares[0];
    for (uint i = 1; i < count; i++)
        a = merge_a(a, shares[i]);
    return a;
}

inline pass_b merged_b(__global const pass_b *shares, uint count)
{
    pass_b b = shares[0];
    for (uint i = 1; i < count; i++)
        b = merge_b(b, shares[i]);
    return b;
}

/* Every lane folds twice whatever the phase, so barriers stay uniform. */
inline void split_visit(const softmax_row *row, float sample_weight,
                        float grad_scale, const softmax_options *o,
                        __local float *scratch, ulong r, uint segments,
                        uint phase, uint with_b, __global pass_a *shares_a,
                        __global pass_b *shares_b, __global float *row_loss,
                        __global float *row_weight, __global uint *row_count,
                        __global uint *row_correct, __global uint *row_bad)
{
    const int lead = get_local_id(0) == 0;
    const size_t row_shares = (size_t)r * segments;
    const size_t mine = row_shares + get_group_id(0) % segments;
    const target_span span = { UINT_MAX, 0 };
    pass_a a = group_merge_a(visit_a(row, o, phase == SPLIT_A && visits_a(row, o)),
                             (__local pass_a *)scratch, get_local_id(0),
                             get_local_size(0));
    if (phase == SPLIT_A && lead)
        shares_a[mine] = a;
    if (phase != SPLIT_A)
        a = merged_a(shares_a + row_shares, segments);
    const int active =
        !row->ignored && !label_is_bad(row, o) && a.first_bad == UINT_MAX;
    pass_b b = group_merge_b(
        visit_b_share(row, a, span, o, active && phase == SPLIT_B),
        (__local pass_b *)scratch, get_local_id(0), get_local_size(0));
    if (phase == SPLIT_B && lead)
        shares_b[mine] = b;
    if (phase != SPLIT_C)
        return;
    if (with_b)
        b = merged_b(shares_b + row_shares, segments);
    if (row->gradient && !(o->flags & F_WEIGHTS_ONLY))
        write_gradient(row, a, b, grad_scale, o, active);
    if (lead && mine == row_shares)
        store_row(row_loss, row_weight, row_count, row_correct, row_bad, r,
                  row_result(row, a, b, sample_weight, o));
}

/* Everything a kernel entry receives, in one list for all twelve entries. */
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
 * (lanes == 1) or to whole work-groups. A work-item takes a block of
 * contiguous rows, so that a CPU thread, which runs the items of a group
 * in turn, walks rows in order and the vector row's prefetch of the next
 * row is the one it reads next; channel rows (spatial > 1) stride
 * instead, so neighbouring items read neighbouring addresses.
 */
#define SOFTMAX_BODY(sparse_labels, dense, row_first, row_end, row_step,     \
                     lane, lanes, vector_rows, VISIT)                         \
    const softmax_options o = { classes, spatial, flags, top_k, smoothing,   \
                                epsilon, gamma, alpha, z_loss, cap };         \
    x += x_offset;                                                            \
    if (class_weights) class_weights += class_weights_offset;                 \
    if (class_alpha) class_alpha += class_alpha_offset;                       \
    if (sample_weights) sample_weights += sample_weights_offset;              \
    if (upstream) upstream += upstream_offset;                                \
    if (gradient) gradient += gradient_offset;                                \
    row_loss += row_loss_offset;                                              \
    for (ulong r = (row_first); r < (row_end); r += (row_step)) {             \
        const ulong n = r / spatial, s = r % spatial;                         \
        const size_t base = (size_t)n * classes * spatial + s;               \
        softmax_row row = { x + base, 0, 0, class_weights, class_alpha, 0, 0,\
                            (vector_rows) && spatial == 1,                    \
                            (lane), (lanes) };                                \
        if (dense)                                                            \
            row.targets = (__global const storage_t *)(dense) + base;         \
        if (sparse_labels) {                                                  \
            row.label = (long)(sparse_labels)[r];                             \
            row.ignored = (flags & F_IGNORE) && row.label == ignore_class;    \
        }                                                                     \
        if (gradient)                                                         \
            row.gradient = gradient + base;                                   \
        const float sw = sample_weights ? sample_weights[r] : 1.0f;          \
        const float gs = gradient_scale(host_scale, device_scale, upstream,   \
                                        r, sw);                               \
        VISIT;                                                                \
    }

/* The visit of the items entries: the whole row, folded into the item's
 * partial where the host asks (then only the row's loss, the output of
 * reduction NONE, and a bad row's code are stored), else stored. */
#define VISIT_AND_FOLD(fold_rows, f)                                          \
    const row_out out = softmax_visit(&row, sw, gs, &o, scratch);            \
    if (fold_rows) {                                                          \
        row_loss[r] = out.loss;                                               \
        if (out.bad)                                                          \
            row_bad[r] = out.bad;                                             \
        fold_row(&(f), r, out.loss, out.weight, out.count, out.correct,       \
                 out.bad);                                                    \
    } else {                                                                  \
        store_row(row_loss, row_weight, row_count, row_correct, row_bad, r,  \
                  out);                                                       \
    }

/* The visit of the groups entries: the whole row, stored. */
#define VISIT_AND_STORE(lane)                                                 \
    const row_out out = softmax_visit(&row, sw, gs, &o, scratch);            \
    if ((lane) == 0)                                                          \
        store_row(row_loss, row_weight, row_count, row_correct, row_bad, r,  \
                  out)

#define SOFTMAX_ENTRIES(suffix, TargetType, sparse_expr, dense_expr)         \
    __kernel void softmax_items_##suffix(SOFTMAX_PARAMETERS(TargetType),      \
                                         uint fold_rows, PART_ARRAYS,         \
                                         FOLD_SCRATCH)                        \
    {                                                                         \
        const ulong items = get_global_size(0), id = get_global_id(0);        \
        const ulong block = spatial == 1 ? (rows + items - 1) / items : 1;    \
        const ulong first = spatial == 1 ? id * block : id;                   \
        fold f = { 0.0f, 0.0f, 0.0f, 0.0f, 0, 0, 0 };                         \
        targets += targets_offset;                                            \
        SOFTMAX_BODY(sparse_expr, dense_expr, first,                          \
                     spatial == 1 ? min(first + block, rows) : rows,          \
                     spatial == 1 ? 1 : items, 0, 1, 1,                       \
                     VISIT_AND_FOLD(fold_rows, f))                            \
        store_partial(fold_rows, f, part_loss, part_weight, part_count,       \
                      part_correct, part_bad, losses, weights, counts,        \
                      corrects, bads);                                        \
    }                                                                         \
    __kernel void softmax_groups_##suffix(SOFTMAX_PARAMETERS(TargetType))     \
    {                                                                         \
        targets += targets_offset;                                            \
        SOFTMAX_BODY(sparse_expr, dense_expr, get_group_id(0), rows,          \
                     get_num_groups(0), get_local_id(0), get_local_size(0),   \
                     0, VISIT_AND_STORE(get_local_id(0)))                     \
    }                                                                         \
    __kernel void softmax_split_##suffix(SOFTMAX_PARAMETERS(TargetType),      \
                                         uint segments, uint phase,           \
                                         uint with_b, __global float *shares) \
    {                                                                         \
        const uint segment = get_group_id(0) % segments;                      \
        const ulong first = get_group_id(0) / segments;                       \
        __global pass_a *shares_a = (__global pass_a *)shares;                \
        __global pass_b *shares_b =                                           \
            (__global pass_b *)(shares_a + rows * segments);                  \
        targets += targets_offset;                                            \
        SOFTMAX_BODY(sparse_expr, dense_expr, first, first + 1, 1,            \
                     segment * get_local_size(0) + get_local_id(0),           \
                     segments * get_local_size(0), 0,                         \
                     split_visit(&row, sw, gs, &o, scratch, r, segments,      \
                                 phase, with_b, shares_a, shares_b, row_loss, \
                                 row_weight, row_count, row_correct,          \
                                 row_bad))                                    \
    }

SOFTMAX_ENTRIES(dense, storage_t, (__global const int *)0, targets)
SOFTMAX_ENTRIES(int32, int, targets, (__global const storage_t *)0)
SOFTMAX_ENTRIES(int64, long, targets, (__global const storage_t *)0)

/*
 * The lanes entries: each work-item takes a block of contiguous groups
 * of sixteen rows (of sixteen positions of one sample in a
 * channels-first tensor), so that a CPU thread streams through each
 * class in order, and folds them in row order into its partial, as the
 * items entries do for contiguous rows: reduce_rows does not run after
 * them.
 */
#define SOFTMAX_LANES(suffix, TargetType, labels32, labels64, dense)         \
    __kernel void softmax_lanes_##suffix(SOFTMAX_PARAMETERS(TargetType),      \
                                         PART_ARRAYS, FOLD_SCRATCH)           \
    {                                                                         \
        const softmax_options o = { classes, spatial, flags, top_k,           \
                                    smoothing, epsilon, gamma, alpha,         \
                                    z_loss, cap };                            \
        const ulong per_sample = (spatial + VECTOR_WIDTH - 1) / VECTOR_WIDTH; \
        const ulong groups = spatial == 1                                     \
            ? (rows + VECTOR_WIDTH - 1) / VECTOR_WIDTH                        \
            : rows / spatial * per_sample;                                    \
        const ulong items = get_global_size(0), id = get_global_id(0);        \
        const ulong block = (groups + items - 1) / items;                     \
        const ulong first = id * block, end = min(first + block, groups);     \
        fold f = { 0.0f, 0.0f, 0.0f, 0.0f, 0, 0, 0 };                         \
        targets += targets_offset;                                            \
        lane_rows l = { x + x_offset, 0, 0, 0, 0 };                           \
        floatv cache[LANE_CACHE], target_cache[LANE_CACHE];                   \
        if (dense)                                                            \
            l.targets = (__global const storage_t *)(dense);                  \
        if (gradient)                                                         \
            l.gradient = gradient + gradient_offset;                          \
        if (class_weights)                                                    \
            l.class_weights = class_weights + class_weights_offset;          \
        if (class_alpha)                                                      \
            l.class_alpha = class_alpha + class_alpha_offset;                 \
        if (sample_weights)                                                   \
            sample_weights += sample_weights_offset;                          \
        if (upstream)                                                         \
            upstream += upstream_offset;                                      \
        row_loss += row_loss_offset;                                          \
        for (ulong g = first; g < end; g++) {                                 \
            ulong r = g * VECTOR_WIDTH;                                       \
            uint live = (uint)min((ulong)VECTOR_WIDTH, rows - r);             \
            l.first = r * classes;                                            \
            l.step = classes;                                                 \
            l.stride = 1;                                                     \
            if (spatial > 1) {                                                \
                const ulong n = g / per_sample;                               \
                const uint s = (uint)(g % per_sample) * VECTOR_WIDTH;         \
                r = n * spatial + s;                                          \
                live = min((uint)VECTOR_WIDTH, spatial - s);                  \
                l.first = (size_t)n * classes * spatial + s;                  \
                l.step = 1;                                                   \
                l.stride = spatial;                                           \
            }                                                                 \
            l.last = live - 1;                                                \
            l.cache = l.target_cache = 0;                                     \
            if (l.step > 1 && classes <= LANE_CACHE) {                        \
                for (uint c = 0; c < classes; c++)                            \
                    cache[c] = lane_load(l.x, &l, c);                         \
                for (uint c = 0; l.targets && c < classes; c++)               \
                    target_cache[c] = lane_load(l.targets, &l, c);            \
                l.cache = cache;                                              \
                l.target_cache = l.targets ? target_cache : 0;                \
            }                                                                 \
            lane_setup(&l, r, labels32, labels64, sample_weights, upstream,   \
                       device_scale, host_scale, &o, ignore_class);           \
            lane_a a = lane_visit_a(&l, &o);                                  \
            const intv active =                                               \
                ~l.ignored & ~l.bad_label & (a.first_bad == INT_MAX);         \
            const lane_b b = lane_visit_b(&l, &a, &o);                        \
            if (gradient)                                                     \
                lane_gradient(&l, a, b, active, &o);                          \
            lane_output(lane_results(&l, a, b, &o), r, live, spatial > 1,    \
                        &f, row_loss, row_bad);                               \
        }                                                                     \
        store_partial(1, f, part_loss, part_weight, part_count,               \
                      part_correct, part_bad, losses, weights, counts,        \
                      corrects, bads);                                        \
    }

SOFTMAX_LANES(dense, storage_t, (__global const int *)0,
              (__global const long *)0, targets)
SOFTMAX_LANES(int32, int, targets, (__global const long *)0,
              (__global const storage_t *)0)
SOFTMAX_LANES(int64, long, (__global const int *)0, targets,
              (__global const storage_t *)0)
