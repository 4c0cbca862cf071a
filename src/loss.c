/* Loss descriptions, argument checks and the launch of a computation. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Kernel flags, as cl/softmax.cl and cl/sigmoid.cl read them. */
#define F_LOGITS       1u
#define F_FOCAL        2u
#define F_IGNORE       4u /* softmax */
#define F_BALANCE      4u /* sigmoid */
#define F_ACCURACY     8u
#define F_WEIGHTS_ONLY 16u
#define F_CHECK_FINITE 32u
#define F_PER_ELEMENT  64u
#define F_HARD_TARGETS 128u

/* Local words a lane of a softmax row group needs, at least the size of
 * pass_a and pass_b in cl/softmax.cl. */
#define PASS_SHARE_WORDS 12

/* Reduction numbers of cl/reduce.cl and its two finalize modes. */
#define FINAL_LOSS        0u
#define FINAL_DENOMINATOR 1u

clxent_loss clxent_loss_defaults(clxent_loss_kind kind)
{
    clxent_loss loss;
    memset(&loss, 0, sizeof loss);
    loss.kind = kind;
    loss.reduction = CLXENT_REDUCTION_MEAN;
    loss.epsilon = 1e-7f;
    loss.gamma = 2.0f;
    loss.alpha = 0.25f;
    loss.top_k = 1;
    loss.ignore_class = -100; /* PyTorch's ignore_index */
    loss.threshold = NAN;
    return loss;
}

clxent_device_args clxent_device_args_defaults(void)
{
    clxent_device_args args;
    memset(&args, 0, sizeof args);
    args.dtype = CLXENT_F32;
    args.label_dtype = CLXENT_I32;
    args.upstream_scale = 1.0f;
    return args;
}

clxent_host_args clxent_host_args_defaults(void)
{
    clxent_host_args args;
    memset(&args, 0, sizeof args);
    args.dtype = CLXENT_F32;
    args.label_dtype = CLXENT_I32;
    args.upstream_scale = 1.0f;
    return args;
}

static int is_sparse(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_SPARSE_CATEGORICAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL;
}

static int is_sigmoid(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_BINARY || kind == CLXENT_LOSS_BINARY_FOCAL;
}

static int is_focal(clxent_loss_kind kind)
{
    return kind == CLXENT_LOSS_CATEGORICAL_FOCAL ||
           kind == CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL ||
           kind == CLXENT_LOSS_BINARY_FOCAL;
}

size_t dtype_size(clxent_dtype dtype)
{
    switch (dtype) {
    case CLXENT_F16:
    case CLXENT_BF16:
        return 2;
    case CLXENT_F32:
    case CLXENT_I32:
        return 4;
    default:
        return 8;
    }
}

static int multiply(size_t a, size_t b, size_t *out)
{
    if (a && b > (size_t)-1 / a)
        return 0;
    *out = a * b;
    return 1;
}

static clxent_status check_shape(clxent_context *ctx, const clxent_loss *loss,
                                 const clxent_shape *shape, plan *p)
{
    const size_t spatial = shape->spatial ? shape->spatial : 1;
    memset(p, 0, sizeof *p);
    p->sparse = is_sparse(loss->kind);
    p->sigmoid = is_sigmoid(loss->kind);
    if (shape->rows == 0 || shape->classes == 0)
        return fail(ctx, CLXENT_ERROR_INVALID_SHAPE,
                    "rows and classes must be at least 1 (got %zu x %zu)",
                    shape->rows, shape->classes);
    if (shape->classes > (1u << 30) || spatial > 0xffffffffu)
        return fail(ctx, CLXENT_ERROR_INVALID_SHAPE,
                    "classes are limited to 2^30 and positions to 2^32 - 1");
    if (p->sigmoid && spatial != 1)
        return fail(ctx, CLXENT_ERROR_INVALID_SHAPE,
                    "the sigmoid family takes spatial 1: flatten the "
                    "positions into the outputs");
    if (!multiply(shape->rows, spatial, &p->rows) ||
        !multiply(p->rows, shape->classes, &p->elements) ||
        !multiply(p->elements, 8, &(size_t){ 0 }))
        return fail(ctx, CLXENT_ERROR_SIZE_OVERFLOW,
                    "%zu x %zu x %zu elements overflow size_t", shape->rows,
                    shape->classes, spatial);
    if (p->sigmoid)
        p->rows = shape->rows;
    p->loss_values = 1;
    if (loss->reduction == CLXENT_REDUCTION_NONE)
        p->loss_values =
            p->sigmoid && loss->per_element ? p->elements : p->rows;
    return CLXENT_OK;
}

static int in_range(float value, float low, float high)
{
    return value >= low && value <= high; /* false for NaN */
}

static clxent_status check_options(clxent_context *ctx, const clxent_loss *loss)
{
    const char *bad = NULL;
    if ((unsigned)loss->kind >= CLXENT_LOSS_KIND_COUNT)
        return fail(ctx, CLXENT_ERROR_INVALID_LOSS, "unknown loss kind %d",
                    (int)loss->kind);
    if ((unsigned)loss->reduction >= CLXENT_REDUCTION_COUNT)
        return fail(ctx, CLXENT_ERROR_INVALID_REDUCTION, "unknown reduction %d",
                    (int)loss->reduction);
    if (!in_range(loss->label_smoothing, 0.0f, 1.0f))
        bad = "label_smoothing must be in [0, 1]";
    else if (!(loss->epsilon > 0.0f && loss->epsilon < 0.5f))
        bad = "epsilon must be in (0, 0.5)";
    else if (is_focal(loss->kind) && !in_range(loss->gamma, 0.0f, 1e4f))
        bad = "gamma must be finite and at least 0";
    else if (is_focal(loss->kind) && !in_range(loss->alpha, 0.0f, 1.0f))
        bad = "alpha must be in [0, 1]";
    else if (!in_range(loss->z_loss, 0.0f, INFINITY) ||
             !in_range(loss->logit_cap, 0.0f, INFINITY))
        bad = "z_loss and logit_cap must be at least 0";
    else if (!loss->from_logits &&
             (loss->z_loss > 0.0f || loss->logit_cap > 0.0f))
        bad = "z_loss and logit_cap need logits (from_logits)";
    else if (is_sigmoid(loss->kind) &&
             (loss->z_loss > 0.0f || loss->logit_cap > 0.0f))
        bad = "z_loss and logit_cap belong to the softmax family";
    else if (loss->top_k == 0)
        bad = "top_k must be at least 1";
    else if (isinf(loss->threshold))
        bad = "threshold must be finite (NaN picks the default)";
    if (bad)
        return fail(ctx, CLXENT_ERROR_INVALID_OPTION, "%s", bad);
    return CLXENT_OK;
}

static clxent_status check_dtypes(clxent_context *ctx, const clxent_loss *loss,
                                  clxent_dtype dtype, clxent_dtype label_dtype)
{
    if (dtype == CLXENT_F64 && !ctx->traits.has_fp64)
        return fail(ctx, CLXENT_ERROR_NO_DOUBLE_SUPPORT,
                    "f64 storage needs a device with cl_khr_fp64");
    if (dtype != CLXENT_F32)
        return fail(ctx, CLXENT_ERROR_UNSUPPORTED_DTYPE,
                    "storage type %d is not built yet; use CLXENT_F32",
                    (int)dtype);
    if (is_sparse(loss->kind) && label_dtype != CLXENT_I32 &&
        label_dtype != CLXENT_I64)
        return fail(ctx, CLXENT_ERROR_UNSUPPORTED_DTYPE,
                    "labels must be CLXENT_I32 or CLXENT_I64");
    return CLXENT_OK;
}

clxent_status check_request(clxent_context *ctx, const clxent_loss *loss,
                            const clxent_shape *shape, clxent_dtype dtype,
                            clxent_dtype label_dtype, plan *p)
{
    clxent_status s;
    if ((s = check_options(ctx, loss)) ||
        (s = check_shape(ctx, loss, shape, p)) ||
        (s = check_dtypes(ctx, loss, dtype, label_dtype)))
        return s;
    return CLXENT_OK;
}

clxent_status check_buffer(clxent_context *ctx, const clxent_buffer *b,
                           size_t count, size_t size, const char *name,
                           int required)
{
    cl_context owner = NULL;
    size_t bytes = 0, needed = 0;
    if (!b->mem) {
        if (!required)
            return CLXENT_OK;
        return fail(ctx, CLXENT_ERROR_NULL_ARGUMENT, "%s is NULL", name);
    }
    if (clGetMemObjectInfo(b->mem, CL_MEM_CONTEXT, sizeof owner, &owner,
                           NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(b->mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL) !=
            CL_SUCCESS ||
        owner != ctx->cl)
        return fail(ctx, CLXENT_ERROR_INVALID_BUFFER,
                    "%s is not a buffer of the context's OpenCL context", name);
    if (b->offset > (size_t)-1 - count ||
        !multiply(b->offset + count, size, &needed) || needed > bytes)
        return fail(ctx, CLXENT_ERROR_BUFFER_TOO_SMALL,
                    "%s holds %zu bytes; offset %zu plus %zu values of %zu "
                    "bytes do not fit",
                    name, bytes, b->offset, count, size);
    return CLXENT_OK;
}

/* A buffer that does not belong to this loss is a mistake worth naming. */
static clxent_status reject(clxent_context *ctx, const clxent_buffer *b,
                            const char *name, const char *why)
{
    if (!b->mem)
        return CLXENT_OK;
    return fail(ctx, CLXENT_ERROR_INVALID_OPTION, "%s %s", name, why);
}

static clxent_status check_buffers(clxent_context *ctx, const clxent_loss *loss,
                                   const clxent_shape *shape, const plan *p,
                                   const clxent_device_args *a)
{
    const size_t value = dtype_size(a->dtype);
    const size_t label = dtype_size(a->label_dtype);
    const size_t classes = shape->classes;
    const int none = loss->reduction == CLXENT_REDUCTION_NONE;
    const int focal_softmax = is_focal(loss->kind) && !p->sigmoid;
    clxent_status s;
    if ((s = check_buffer(ctx, &a->predictions, p->elements, value,
                          "predictions", 1)) ||
        (s = check_buffer(ctx, &a->targets, p->sparse ? p->rows : p->elements,
                          p->sparse ? label : value, "targets", 1)) ||
        (s = check_buffer(ctx, &a->class_weights, classes, 4, "class_weights",
                          0)) ||
        (s = check_buffer(ctx, &a->class_alpha, classes, 4, "class_alpha",
                          0)) ||
        (s = check_buffer(ctx, &a->sample_weights, p->rows, 4, "sample_weights",
                          0)) ||
        (s = check_buffer(ctx, &a->element_weights, p->elements, 4,
                          "element_weights", 0)) ||
        (s = check_buffer(ctx, &a->pos_weight, classes, 4, "pos_weight", 0)) ||
        (s = check_buffer(ctx, &a->upstream, p->loss_values, 4, "upstream",
                          0)) ||
        (s = check_buffer(ctx, &a->loss, p->loss_values, 4, "loss", 0)) ||
        (s = check_buffer(ctx, &a->gradient, p->elements, value, "gradient",
                          0)) ||
        (s = check_buffer(ctx, &a->correct, 1, 8, "correct", 0)))
        return s;
    if (!none &&
        (s = reject(ctx, &a->upstream, "upstream", "needs reduction NONE")))
        return s;
    if (p->sigmoid) {
        if ((s = reject(ctx, &a->class_weights, "class_weights",
                        "belong to the softmax family")) ||
            (s = reject(ctx, &a->class_alpha, "class_alpha",
                        "belongs to the softmax focal kinds")))
            return s;
    } else if ((s = reject(ctx, &a->element_weights, "element_weights",
                           "belong to the sigmoid family")) ||
               (s = reject(ctx, &a->pos_weight, "pos_weight",
                           "belongs to the sigmoid family")) ||
               (!focal_softmax &&
                (s = reject(ctx, &a->class_alpha, "class_alpha",
                            "belongs to the softmax focal kinds"))))
        return s;
    if (!a->loss.mem && !a->gradient.mem && !a->correct.mem)
        return fail(ctx, CLXENT_ERROR_NULL_ARGUMENT,
                    "no output: give loss, gradient or correct");
    if (!isfinite(a->upstream_scale))
        return fail(ctx, CLXENT_ERROR_INVALID_OPTION,
                    "upstream_scale must be finite");
    return CLXENT_OK;
}

static size_t round_up(size_t value, size_t multiple)
{
    return (value + multiple - 1) / multiple * multiple;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* The largest power of two a kernel accepts as its group, up to `wanted`. */
static size_t group_for(clxent_context *ctx, cl_kernel kernel, size_t wanted)
{
    size_t allowed = wanted;
    clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                             sizeof allowed, &allowed, NULL);
    size_t lanes = 1;
    while (lanes * 2 <= min_size(allowed, wanted))
        lanes *= 2;
    return lanes;
}

clxent_status launch(clxent_context *ctx, cl_kernel kernel, size_t global,
                     size_t local, cl_uint wait_count,
                     const cl_event *wait_list, cl_event *done)
{
    const cl_int code =
        clEnqueueNDRangeKernel(ctx->queue, kernel, 1, NULL, &global, &local,
                               wait_count, wait_list, done);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clEnqueueNDRangeKernel");
    return CLXENT_OK;
}

/* One computation as the kernels see it. */
typedef struct job {
    const clxent_loss *loss;
    const clxent_shape *shape;
    const clxent_device_args *args;
    plan p;
    cl_uint flags;
    float host_scale;
    cl_mem device_scale;
    cl_mem row_loss; /* user's loss buffer for NONE, else scratch */
    size_t row_loss_offset;
    size_t folded_parts; /* partials the main kernel folded, 0: none */
    cl_uint wait_count;
    const cl_event *wait_list;
} job;

static void add_rows(kernel_args *k, clxent_context *ctx)
{
    for (int i = ROW_WEIGHT; i < ROW_ARRAYS; i++)
        arg_mem(k, ctx->scratch.rows[i].mem);
}

static void add_buffer(kernel_args *k, const clxent_buffer *b)
{
    const cl_ulong offset = b->offset;
    arg_mem(k, b->mem);
    ARG(k, offset);
}

static void add_fold(kernel_args *k, clxent_context *ctx, size_t lanes)
{
    for (int i = 0; i < ROW_ARRAYS; i++)
        arg_mem(k, ctx->scratch.parts[i]);
    arg_local(k, lanes * sizeof(cl_float));
    arg_local(k, lanes * sizeof(cl_float));
    for (int i = 0; i < 3; i++)
        arg_local(k, lanes * sizeof(cl_ulong));
}

/* The softmax entries by layout (items, groups, split, lanes) and target
 * type (dense, int32 labels, int64 labels). */
enum { LAYOUT_ITEMS, LAYOUT_GROUPS, LAYOUT_SPLIT, LAYOUT_LANES };
/* Rows a lanes work-item takes at once: cl/common.h's VECTOR_WIDTH. */
#define LANE_ROWS 16
static const kernel_id softmax_kernels[4][3] = {
    { KERNEL_SOFTMAX_ITEMS_DENSE, KERNEL_SOFTMAX_ITEMS_INT32,
      KERNEL_SOFTMAX_ITEMS_INT64 },
    { KERNEL_SOFTMAX_GROUPS_DENSE, KERNEL_SOFTMAX_GROUPS_INT32,
      KERNEL_SOFTMAX_GROUPS_INT64 },
    { KERNEL_SOFTMAX_SPLIT_DENSE, KERNEL_SOFTMAX_SPLIT_INT32,
      KERNEL_SOFTMAX_SPLIT_INT64 },
    { KERNEL_SOFTMAX_LANES_DENSE, KERNEL_SOFTMAX_LANES_INT32,
      KERNEL_SOFTMAX_LANES_INT64 },
};

/* cl/softmax.cl's pass_a (9 words) and pass_b (3 words), as the split
 * rows store them. */
#define PASS_A_BYTES 36
#define PASS_B_BYTES 12
#define SPLIT_A      0u
#define SPLIT_B      1u
#define SPLIT_C      2u

/* How many work-groups share each row of a group layout: enough for
 * split_groups a compute unit, while each lane keeps split_classes
 * classes; 1 when the rows alone are enough or the table never splits. */
static size_t split_segments(const clxent_context *ctx, size_t rows,
                             size_t classes)
{
    const size_t want = ctx->traits.compute_units * ctx->shape.split_groups;
    const size_t lane_share = ctx->shape.row_lanes * ctx->shape.split_classes;
    if (!ctx->shape.split_groups || rows >= want || classes < 2 * lane_share)
        return 1;
    return min_size((want + rows - 1) / rows, classes / lane_share);
}

/*
 * The three phases of a split row on one kernel whose other arguments
 * are set: pass A shares, pass B shares where anything needs them, then
 * the gradient and the row (cl/softmax.cl, split_visit).
 */
static clxent_status launch_split(clxent_context *ctx, const job *j,
                                  kernel_args *k, cl_uint flags,
                                  cl_uint segments, size_t global, size_t local,
                                  cl_event *done)
{
    const size_t shares = j->p.rows * segments;
    const cl_uint with_b =
        !(flags & F_WEIGHTS_ONLY) &&
        ((flags & (F_ACCURACY | F_FOCAL)) || !(flags & F_LOGITS));
    const cl_uint phases[3] = { SPLIT_A, SPLIT_B, SPLIT_C };
    clxent_status status = ensure_scratch(
        ctx, &ctx->scratch.shares, shares * (PASS_A_BYTES + PASS_B_BYTES));
    if (status != CLXENT_OK)
        return status;
    ARG(k, segments);
    const cl_uint phase_arg = k->next;
    ARG(k, phases[0]);
    ARG(k, with_b);
    arg_mem(k, ctx->scratch.shares.mem);
    for (int i = 0; i < 3 && status == CLXENT_OK; i++) {
        if (phases[i] == SPLIT_B && !with_b)
            continue;
        k->next = phase_arg;
        ARG(k, phases[i]);
        if (k->status != CL_SUCCESS)
            return fail_opencl(ctx, k->status, "clSetKernelArg (split)");
        status = launch(
            ctx, k->kernel, global, local, i == 0 ? j->wait_count : 0,
            i == 0 ? j->wait_list : NULL, phases[i] == SPLIT_C ? done : NULL);
    }
    return status;
}

static clxent_status launch_softmax(clxent_context *ctx, job *j, cl_uint flags,
                                    cl_event *done)
{
    const clxent_device_args *a = j->args;
    const clxent_loss *loss = j->loss;
    const cl_uint classes = (cl_uint)j->shape->classes;
    const cl_uint spatial = j->shape->spatial ? (cl_uint)j->shape->spatial : 1;
    /* Contiguous rows take the vector row where the shape says so,
     * whatever the row count: a group's lanes share a row only in turn on
     * a CPU, one scalar class each, 20x slower (README, log 16). */
    const int vector_row = spatial == 1 && ctx->shape.vector_items;
    const int wide = spatial == 1 && classes >= ctx->shape.min_wide_classes &&
                     j->p.rows < ctx->shape.min_item_rows && !vector_row;
    const cl_uint segments =
        wide ? (cl_uint)split_segments(ctx, j->p.rows, classes) : 1;
    /* Sixteen rows an item, one a vector lane, where the rows are too
     * narrow for vectors of their own or lie across the channels. */
    const int lanes = !wide && ctx->shape.lane_classes &&
                      !(flags & F_WEIGHTS_ONLY) &&
                      (spatial > 1 || classes <= ctx->shape.lane_classes);
    const int layout = segments > 1 ? LAYOUT_SPLIT
                       : wide       ? LAYOUT_GROUPS
                       : lanes      ? LAYOUT_LANES
                                    : LAYOUT_ITEMS;
    /* The units that work-items take: rows, or groups of lanes of them
     * (of one sample's positions in a channels-first tensor). */
    const size_t work =
        !lanes ? j->p.rows
        : spatial > 1
            ? j->p.rows / spatial * ((spatial + LANE_ROWS - 1) / LANE_ROWS)
            : (j->p.rows + LANE_ROWS - 1) / LANE_ROWS;
    const int targets = !j->p.sparse ? 0 : a->label_dtype == CLXENT_I64 ? 2 : 1;
    cl_kernel kernel;
    clxent_status status =
        get_kernel(ctx, softmax_kernels[layout][targets], a->dtype, &kernel);
    if (status != CLXENT_OK)
        return status;

    size_t local =
        wide ? group_for(ctx, kernel, ctx->shape.row_lanes)
             : min_size(ctx->shape.items_group, group_for(ctx, kernel, 4096));
    const size_t units = ctx->traits.compute_units;
    /* Few rows: item groups small enough that each compute unit gets one
     * (a CPU runs a work-group on one thread). */
    if (!wide && (vector_row || lanes) && work < units * local)
        local = work > units ? (work + units - 1) / units : 1;
    /* Items of contiguous rows, and lanes items of any, fold them into
     * one partial a group, in row order, so reduce_rows has nothing left
     * to do: at most reduce_parts groups then. */
    const cl_uint fold_rows =
        (layout == LAYOUT_ITEMS && spatial == 1) || layout == LAYOUT_LANES;
    const size_t most = fold_rows ? min_size(units * ctx->shape.groups_per_unit,
                                             ctx->shape.reduce_parts)
                                  : units * ctx->shape.groups_per_unit;
    const size_t global = layout == LAYOUT_SPLIT ? j->p.rows * segments * local
                          : wide
                              ? min_size(j->p.rows, most) * local
                              : round_up(min_size(work, most * local), local);
    const cl_ulong rows = j->p.rows;
    const cl_long ignore = loss->ignore_class;
    const cl_uint top_k = loss->top_k;
    const clxent_buffer none = { NULL, 0 };
    const int weights_only = (flags & F_WEIGHTS_ONLY) != 0;
    const clxent_buffer gradient = weights_only ? none : a->gradient;
    const clxent_buffer row_loss = { j->row_loss, j->row_loss_offset };
    kernel_args k = { kernel, 0, CL_SUCCESS };
    add_buffer(&k, &a->predictions);
    add_buffer(&k, &a->targets);
    add_buffer(&k, &a->class_weights);
    add_buffer(&k, &a->class_alpha);
    add_buffer(&k, &a->sample_weights);
    add_buffer(&k, weights_only ? &none : &a->upstream);
    arg_mem(&k, weights_only ? NULL : j->device_scale);
    ARG(&k, j->host_scale);
    add_buffer(&k, &gradient);
    add_buffer(&k, &row_loss);
    add_rows(&k, ctx);
    ARG(&k, rows);
    ARG(&k, classes);
    ARG(&k, spatial);
    ARG(&k, flags);
    ARG(&k, ignore);
    ARG(&k, loss->label_smoothing);
    ARG(&k, loss->epsilon);
    ARG(&k, loss->gamma);
    ARG(&k, loss->alpha);
    ARG(&k, loss->z_loss);
    ARG(&k, loss->logit_cap);
    ARG(&k, top_k);
    /* Room for one pass share (cl/softmax.cl's pass_a, 9 words) a lane. */
    arg_local(&k, (wide ? local : 1) * PASS_SHARE_WORDS * sizeof(cl_float));
    if (layout == LAYOUT_ITEMS)
        ARG(&k, fold_rows);
    if (layout == LAYOUT_ITEMS || layout == LAYOUT_LANES)
        add_fold(&k, ctx, local);
    j->folded_parts = fold_rows ? global / local : 0;
    if (k.status != CL_SUCCESS)
        return fail_opencl(ctx, k.status, "clSetKernelArg (softmax)");
    trace(ctx, TRACE_DISPATCH, "softmax %s: %zu rows x %u classes, %zu x %zu",
          layout == LAYOUT_SPLIT    ? "split"
          : layout == LAYOUT_GROUPS ? "groups"
          : layout == LAYOUT_LANES  ? "lanes"
                                    : "items",
          j->p.rows, classes, global / local, local);
    if (layout != LAYOUT_SPLIT)
        return launch(ctx, kernel, global, local, j->wait_count, j->wait_list,
                      done);
    return launch_split(ctx, j, &k, flags, segments, global, local, done);
}

/* Each work-group folds its own slice of rows into one partial, so there
 * are at most reduce_parts groups; their items stride over the slice. */
static clxent_status launch_sigmoid(clxent_context *ctx, job *j, cl_uint flags,
                                    cl_event *done)
{
    const clxent_device_args *a = j->args;
    const clxent_loss *loss = j->loss;
    cl_kernel kernel;
    clxent_status status = get_kernel(ctx, KERNEL_SIGMOID, a->dtype, &kernel);
    if (status != CLXENT_OK)
        return status;
    const size_t local =
        min_size(ctx->shape.items_group, group_for(ctx, kernel, 4096));
    const size_t most =
        min_size(ctx->traits.compute_units * ctx->shape.groups_per_unit,
                 ctx->shape.reduce_parts);
    const size_t groups = min_size((j->p.rows + local - 1) / local, most);
    const int weights_only = (flags & F_WEIGHTS_ONLY) != 0;
    const int none_out = loss->reduction == CLXENT_REDUCTION_NONE &&
                         !weights_only && a->loss.mem;
    const int element_out = none_out && loss->per_element;
    const clxent_buffer none = { NULL, 0 };
    const clxent_buffer row_loss = { j->row_loss, j->row_loss_offset };
    const cl_ulong rows = j->p.rows;
    const cl_uint classes = (cl_uint)j->shape->classes;
    const cl_uint flat_outputs = (cl_uint)ctx->shape.flat_outputs;
    const cl_uint flat_strided = (cl_uint)ctx->shape.flat_strided;
    const float threshold = isnan(loss->threshold)
                                ? (loss->from_logits ? 0.0f : 0.5f)
                                : loss->threshold;
    kernel_args k = { kernel, 0, CL_SUCCESS };
    add_buffer(&k, &a->predictions);
    add_buffer(&k, &a->targets);
    add_buffer(&k, &a->pos_weight);
    add_buffer(&k, &a->sample_weights);
    add_buffer(&k, &a->element_weights);
    add_buffer(&k, weights_only ? &none : &a->upstream);
    arg_mem(&k, weights_only ? NULL : j->device_scale);
    ARG(&k, j->host_scale);
    add_buffer(&k, weights_only ? &none : &a->gradient);
    add_buffer(&k, element_out ? &a->loss : &none);
    add_buffer(&k, none_out && !element_out ? &row_loss : &none);
    arg_mem(&k, ctx->scratch.rows[ROW_BAD].mem);
    ARG(&k, rows);
    ARG(&k, classes);
    ARG(&k, flags);
    ARG(&k, loss->label_smoothing);
    ARG(&k, loss->epsilon);
    ARG(&k, loss->gamma);
    ARG(&k, loss->alpha);
    ARG(&k, threshold);
    ARG(&k, flat_outputs);
    ARG(&k, flat_strided);
    add_fold(&k, ctx, local);
    if (k.status != CL_SUCCESS)
        return fail_opencl(ctx, k.status, "clSetKernelArg (sigmoid)");
    trace(ctx, TRACE_DISPATCH, "sigmoid: %zu rows x %u outputs, %zu x %zu",
          j->p.rows, classes, groups, local);
    j->folded_parts = groups;
    return launch(ctx, kernel, groups * local, local, j->wait_count,
                  j->wait_list, done);
}

/*
 * Folds the row arrays, or the partials the main kernel folded itself:
 * into the loss, count and error outputs (FINAL_LOSS), or into
 * 1 / denominator for the gradient pass.
 */
static clxent_status launch_reduction(clxent_context *ctx, const job *j,
                                      cl_uint what, cl_event *done)
{
    cl_kernel rows_kernel, final_kernel;
    clxent_status status =
        get_kernel(ctx, KERNEL_REDUCE_ROWS, CLXENT_F32, &rows_kernel);
    if (status == CLXENT_OK)
        status = get_kernel(ctx, KERNEL_FINALIZE, CLXENT_F32, &final_kernel);
    if (status != CLXENT_OK)
        return status;
    const size_t lanes = group_for(ctx, rows_kernel, ctx->shape.reduce_lanes);
    const size_t final_lanes =
        group_for(ctx, final_kernel, ctx->shape.reduce_lanes);
    const cl_ulong rows = j->p.rows;
    const cl_ulong parts = j->folded_parts
                               ? j->folded_parts
                               : min_size(ctx->shape.reduce_parts,
                                          (j->p.rows + lanes - 1) / lanes);
    const int final = what == FINAL_LOSS;
    const cl_mem row_loss = j->row_loss;
    const cl_ulong row_loss_offset = j->row_loss_offset;

    kernel_args k = { rows_kernel, 0, CL_SUCCESS };
    if (!j->folded_parts) {
        arg_mem(&k, row_loss);
        ARG(&k, row_loss_offset);
        for (int i = ROW_WEIGHT; i < ROW_ARRAYS; i++)
            arg_mem(&k, ctx->scratch.rows[i].mem);
        ARG(&k, rows);
        add_fold(&k, ctx, lanes);
        if (k.status != CL_SUCCESS)
            return fail_opencl(ctx, k.status, "clSetKernelArg (reduce_rows)");
        status = launch(ctx, rows_kernel, parts * lanes, lanes, 0, NULL, NULL);
        if (status != CLXENT_OK)
            return status;
    }

    const clxent_device_args *a = j->args;
    const clxent_buffer none = { NULL, 0 };
    const cl_uint reduction = j->loss->reduction;
    const cl_uint empty_is_nan = j->loss->empty_mean_is_nan != 0;
    const cl_uint classes = (cl_uint)j->shape->classes;
    const cl_uint spatial = j->shape->spatial ? (cl_uint)j->shape->spatial : 1;
    const cl_uint elementwise = j->p.sigmoid;
    k = (kernel_args){ final_kernel, 0, CL_SUCCESS };
    for (int i = 0; i < ROW_ARRAYS; i++)
        arg_mem(&k, ctx->scratch.parts[i]);
    ARG(&k, parts);
    ARG(&k, reduction);
    ARG(&k, what);
    ARG(&k, empty_is_nan);
    add_buffer(&k, final ? &a->loss : &none);
    add_buffer(&k, final ? &a->correct : &none);
    arg_mem(&k, ctx->scratch.scale);
    arg_mem(&k, ctx->scratch.error);
    arg_mem(&k, ctx->scratch.rows[ROW_BAD].mem);
    ARG(&k, classes);
    ARG(&k, spatial);
    ARG(&k, elementwise);
    arg_local(&k, final_lanes * sizeof(cl_float));
    arg_local(&k, final_lanes * sizeof(cl_float));
    for (int i = 0; i < 3; i++)
        arg_local(&k, final_lanes * sizeof(cl_ulong));
    if (k.status != CL_SUCCESS)
        return fail_opencl(ctx, k.status, "clSetKernelArg (finalize)");
    return launch(ctx, final_kernel, final_lanes, final_lanes, 0, NULL, done);
}

static cl_uint kernel_flags(const clxent_loss *loss, const plan *p,
                            const clxent_device_args *a)
{
    cl_uint flags = 0;
    if (loss->from_logits)
        flags |= F_LOGITS;
    if (is_focal(loss->kind))
        flags |= F_FOCAL;
    if (a->correct.mem)
        flags |= F_ACCURACY;
    if (loss->check_finite)
        flags |= F_CHECK_FINITE;
    if (p->sparse && loss->use_ignore_class)
        flags |= F_IGNORE;
    if (p->sigmoid && loss->class_balancing)
        flags |= F_BALANCE;
    if (p->sigmoid && loss->per_element)
        flags |= F_PER_ELEMENT;
    if (p->sigmoid && loss->hard_targets)
        flags |= F_HARD_TARGETS;
    return flags;
}

/*
 * Whether the gradient of a mean needs its denominator from a first pass:
 * not when it is simply the number of loss values.
 */
static int needs_denominator_pass(const clxent_loss *loss, const plan *p,
                                  const clxent_device_args *a)
{
    const int weighted = a->sample_weights.mem || a->class_weights.mem ||
                         a->element_weights.mem || !p->sparse;
    const int ignoring = p->sparse && loss->use_ignore_class;
    if (!a->gradient.mem)
        return 0;
    if (loss->reduction == CLXENT_REDUCTION_MEAN)
        return ignoring;
    if (loss->reduction == CLXENT_REDUCTION_WEIGHTED_MEAN)
        return weighted || ignoring;
    return 0;
}

static clxent_status launch_family(clxent_context *ctx, job *j, cl_uint flags,
                                   cl_event *done)
{
    if (j->p.sigmoid)
        return launch_sigmoid(ctx, j, flags, done);
    return launch_softmax(ctx, j, flags, done);
}

clxent_status clxent_enqueue(clxent_context *context, const clxent_loss *loss,
                             const clxent_shape *shape,
                             const clxent_device_args *args, cl_uint wait_count,
                             const cl_event *wait_list, cl_event *done)
{
    clxent_context *ctx = context;
    job j;
    clxent_status s;
    if (!ctx)
        return CLXENT_ERROR_NULL_ARGUMENT;
    if (!loss || !shape || !args || (wait_count && !wait_list))
        return fail(ctx, CLXENT_ERROR_NULL_ARGUMENT,
                    "loss, shape and args are required");
    if ((s = check_request(ctx, loss, shape, args->dtype, args->label_dtype,
                           &j.p)) ||
        (s = check_buffers(ctx, loss, shape, &j.p, args)) ||
        (s = ensure_row_scratch(ctx, j.p.rows)))
        return s;

    j.loss = loss;
    j.shape = shape;
    j.args = args;
    j.flags = kernel_flags(loss, &j.p, args);
    j.host_scale = args->upstream_scale;
    j.device_scale = NULL;
    j.row_loss = ctx->scratch.rows[ROW_LOSS].mem;
    j.row_loss_offset = 0;
    j.folded_parts = 0;
    j.wait_count = wait_count;
    j.wait_list = wait_list;
    /* With NONE the row losses are the output itself, except for per
     * element binary losses, whose elements the kernel writes apart. */
    if (loss->reduction == CLXENT_REDUCTION_NONE && args->loss.mem &&
        !(j.p.sigmoid && loss->per_element)) {
        j.row_loss = args->loss.mem;
        j.row_loss_offset = args->loss.offset;
    }
    if (needs_denominator_pass(loss, &j.p, args)) {
        if ((s = launch_family(ctx, &j, j.flags | F_WEIGHTS_ONLY, NULL)) ||
            (s = launch_reduction(ctx, &j, FINAL_DENOMINATOR, NULL)))
            return s;
        j.device_scale = ctx->scratch.scale;
        j.wait_count = 0;
        j.wait_list = NULL;
    } else if (loss->reduction == CLXENT_REDUCTION_MEAN ||
               loss->reduction == CLXENT_REDUCTION_WEIGHTED_MEAN) {
        const size_t values =
            j.p.sigmoid && loss->per_element ? j.p.elements : j.p.rows;
        j.host_scale /= (float)values;
    }
    if ((s = launch_family(ctx, &j, j.flags, NULL)))
        return s;
    return launch_reduction(ctx, &j, FINAL_LOSS, done);
}

clxent_status clxent_finish(clxent_context *context)
{
    cl_long error[2] = { 0, 0 };
    if (!context)
        return CLXENT_ERROR_NULL_ARGUMENT;
    /* The queue is in order (clxent_open refuses others), so the blocking
     * read of the error word returns when everything before it is done:
     * one round trip to the device's threads, not two. */
    cl_int code =
        clEnqueueReadBuffer(context->queue, context->scratch.error, CL_TRUE, 0,
                            sizeof error, error, 0, NULL, NULL);
    if (code != CL_SUCCESS)
        return fail_opencl(context, code, "waiting for the queue");
    if (error[0] == 0)
        return CLXENT_OK;

    const cl_long zero[2] = { 0, 0 };
    code = clEnqueueWriteBuffer(context->queue, context->scratch.error, CL_TRUE,
                                0, sizeof zero, zero, 0, NULL, NULL);
    if (code != CL_SUCCESS)
        return fail_opencl(context, code, "clearing the error word");
    const clxent_status status = (clxent_status)error[0];
    fail(context, status, "%s: first at index %lld",
         clxent_status_string(status), (long long)error[1]);
    context->last_error.index = error[1];
    return status;
}
