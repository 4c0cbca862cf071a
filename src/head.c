/*
 * The linear head: logits = X W^T + b by CLBlast GEMM, the loss and its
 * gradient on the logits by clxent_enqueue, then dX = dL W, dW = dL^T X
 * and db = 1^T dL by GEMM again, one chunk of rows at a time.
 *
 * Each chunk's loss is a plain SUM whose gradient is already divided by
 * the batch's denominator, so chunks need nothing from each other: dW and
 * db accumulate with beta = 1 in chunk order, and the chunk sums are
 * folded in chunk order at the end. The result is deterministic.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#ifdef CLXENT_HAVE_CLBLAST
#include <clblast_c.h>
#endif

clxent_head_args clxent_head_args_defaults(void)
{
    clxent_head_args args;
    memset(&args, 0, sizeof args);
    args.label_dtype = CLXENT_I32;
    args.upstream_scale = 1.0f;
    return args;
}

#ifndef CLXENT_HAVE_CLBLAST

clxent_status clxent_head_enqueue(clxent_context *context,
                                  const clxent_loss *loss, size_t rows,
                                  size_t hidden, size_t classes,
                                  const clxent_head_args *args,
                                  cl_uint wait_count, const cl_event *wait_list,
                                  cl_event *done)
{
    (void)loss, (void)rows, (void)hidden, (void)classes, (void)args;
    (void)wait_count, (void)wait_list, (void)done;
    if (!context)
        return CLXENT_ERROR_NULL_ARGUMENT;
    return fail(context, CLXENT_ERROR_NOT_AVAILABLE,
                "the linear head needs CLBlast, which this build lacks");
}

#else

/* The chunk budget: a chunk's logits, CLBlast's temporary buffer and the
 * per-row scratch stay under this and an eighth of global memory, which
 * keeps a large-vocabulary head next to a model on the same device. */
#define HEAD_BUDGET_BYTES ((size_t)192 << 20)

/* Bytes of per-row scratch besides the logits: the ones vector and the
 * row arrays of clxent_enqueue. */
#define ROW_EXTRA_BYTES   (sizeof(float) + ROW_ARRAYS * sizeof(cl_uint))

/*
 * The GEMMs of one chunk and block of classes. The bias broadcast and the
 * bias gradient span all classes and run once a chunk.
 */
enum {
    GEMM_BIAS,
    GEMM_FORWARD,
    GEMM_INPUTS,
    GEMM_WEIGHTS,
    GEMM_BIAS_GRAD,
    GEMM_STEPS
};

/* One head computation, as checked. */
typedef struct head_job {
    const clxent_loss *loss;
    const clxent_head_args *args;
    size_t rows, hidden, classes;
    size_t chunk; /* rows per chunk */
    size_t chunks;
    size_t block; /* classes per GEMM block */
    size_t blocks;
    size_t temp_bytes;            /* CLBlast's temporary buffer */
    int column_major[GEMM_STEPS]; /* the form each GEMM step runs in */
    size_t values_per_row;        /* loss values a row has with NONE */
    float divisor;                /* of the summed loss: MEAN's count, else 1 */
    int sparse;
    int gradient; /* some gradient is wanted */
} head_job;

/* A row-major GEMM C = op(A) op(B) + beta C. */
typedef struct gemm {
    int used;
    CLBlastTranspose a_transpose, b_transpose;
    size_t m, n, k;
    float beta; /* alpha is always 1 */
    cl_mem a, b, c;
    size_t a_offset, a_ld, b_offset, b_ld, c_offset, c_ld;
} gemm;

static clxent_status fail_clblast(clxent_context *ctx, CLBlastStatusCode code,
                                  const char *what)
{
    fail(ctx, CLXENT_ERROR_CLBLAST, "CLBlast %s failed with status %d", what,
         (int)code);
    ctx->last_error.opencl_code = code;
    return CLXENT_ERROR_CLBLAST;
}

static gemm make_gemm(CLBlastTranspose a_transpose, size_t m, size_t n,
                      size_t k, float beta)
{
    gemm g;
    memset(&g, 0, sizeof g);
    g.used = 1;
    g.a_transpose = a_transpose;
    g.b_transpose = CLBlastTransposeNo;
    g.m = m, g.n = n, g.k = k;
    g.beta = beta;
    return g;
}

/* Where a chunk and a block of classes start, and their sizes. */
typedef struct tile {
    size_t first, rows;
    size_t first_class, classes;
} tile;

static void bias_gemms(const clxent_context *ctx, const head_job *j,
                       const tile *t, gemm steps[GEMM_STEPS])
{
    const clxent_head_args *a = j->args;
    const size_t c = j->classes;
    const cl_mem logits = ctx->head.buffers[HEAD_LOGITS].mem;
    const cl_mem ones = ctx->head.buffers[HEAD_ONES].mem;
    gemm *g;
    /* logits = 1 b^T, before the blocks add X W^T. */
    if (a->bias.mem && t->first_class == 0) {
        g = &steps[GEMM_BIAS];
        *g = make_gemm(CLBlastTransposeNo, t->rows, c, 1, 0.0f);
        g->a = ones, g->a_ld = 1;
        g->b = a->bias.mem, g->b_offset = a->bias.offset, g->b_ld = c;
        g->c = logits, g->c_ld = c;
    }
    /* db (+)= 1^T dL: column sums as a GEMM, so that no other CLBlast
     * program needs building; the first chunk overwrites. */
    if (a->bias_gradient.mem && t->first_class == 0) {
        g = &steps[GEMM_BIAS_GRAD];
        *g = make_gemm(CLBlastTransposeNo, 1, c, t->rows,
                       t->first == 0 ? 0.0f : 1.0f);
        g->a = ones, g->a_ld = t->rows;
        g->b = logits, g->b_ld = c;
        g->c = a->bias_gradient.mem, g->c_offset = a->bias_gradient.offset;
        g->c_ld = c;
    }
}

/* The GEMMs of one tile; the loss step runs between FORWARD and the rest
 * and leaves dL over the logits. */
static void tile_gemms(const clxent_context *ctx, const head_job *j,
                       const tile *t, gemm steps[GEMM_STEPS])
{
    const clxent_head_args *a = j->args;
    const size_t h = j->hidden, c = j->classes;
    const size_t m = t->rows, cb = t->classes, c0 = t->first_class;
    const cl_mem logits = ctx->head.buffers[HEAD_LOGITS].mem;
    const size_t x_offset = a->inputs.offset + t->first * h;
    const size_t w_offset = a->weights.offset + c0 * h;
    gemm *g;
    memset(steps, 0, GEMM_STEPS * sizeof *steps);
    bias_gemms(ctx, j, t, steps);

    /* logits[:, block] (+)= X W[block]^T */
    g = &steps[GEMM_FORWARD];
    *g = make_gemm(CLBlastTransposeNo, m, cb, h, a->bias.mem ? 1.0f : 0.0f);
    g->b_transpose = CLBlastTransposeYes;
    g->a = a->inputs.mem, g->a_offset = x_offset, g->a_ld = h;
    g->b = a->weights.mem, g->b_offset = w_offset, g->b_ld = h;
    g->c = logits, g->c_offset = c0, g->c_ld = c;

    /* dX (+)= dL[:, block] W[block]; the first block overwrites. */
    if (a->input_gradient.mem) {
        g = &steps[GEMM_INPUTS];
        *g = make_gemm(CLBlastTransposeNo, m, h, cb, c0 == 0 ? 0.0f : 1.0f);
        g->a = logits, g->a_offset = c0, g->a_ld = c;
        g->b = a->weights.mem, g->b_offset = w_offset, g->b_ld = h;
        g->c = a->input_gradient.mem;
        g->c_offset = a->input_gradient.offset + t->first * h, g->c_ld = h;
    }
    /* dW[block] (+)= dL[:, block]^T X; the first chunk overwrites. */
    if (a->weight_gradient.mem) {
        g = &steps[GEMM_WEIGHTS];
        *g = make_gemm(CLBlastTransposeYes, cb, h, m,
                       t->first == 0 ? 0.0f : 1.0f);
        g->a = logits, g->a_offset = c0, g->a_ld = c;
        g->b = a->inputs.mem, g->b_offset = x_offset, g->b_ld = h;
        g->c = a->weight_gradient.mem;
        g->c_offset = a->weight_gradient.offset + c0 * h, g->c_ld = h;
    }
}

/*
 * A row-major C = op(A) op(B) is also the column-major
 * C^T = op(B)^T op(A)^T with A and B swapped. CLBlast may need a
 * temporary copy for one form and none for the other, so the head asks
 * for both and takes the smaller.
 */
static CLBlastStatusCode temp_size(clxent_context *ctx, const gemm *g,
                                   int column_major, size_t *bytes)
{
    if (column_major)
        return CLBlastSGemmTempBufferSize(
            CLBlastLayoutColMajor, g->b_transpose, g->a_transpose, g->n, g->m,
            g->k, g->b_offset, g->b_ld, g->a_offset, g->a_ld, g->c_offset,
            g->c_ld, &ctx->queue, bytes);
    return CLBlastSGemmTempBufferSize(
        CLBlastLayoutRowMajor, g->a_transpose, g->b_transpose, g->m, g->n, g->k,
        g->a_offset, g->a_ld, g->b_offset, g->b_ld, g->c_offset, g->c_ld,
        &ctx->queue, bytes);
}

/* The form of a GEMM with the smaller temporary buffer, and its size. */
static clxent_status settle(clxent_context *ctx, const gemm *g,
                            int *column_major, size_t *bytes)
{
    size_t row_bytes = 0, column_bytes = 0;
    CLBlastStatusCode code = temp_size(ctx, g, 0, &row_bytes);
    if (code == CLBlastSuccess)
        code = temp_size(ctx, g, 1, &column_bytes);
    if (code != CLBlastSuccess)
        return fail_clblast(ctx, code, "GEMM temporary size");
    *column_major = column_bytes < row_bytes;
    *bytes = *column_major ? column_bytes : row_bytes;
    return CLXENT_OK;
}

/* Grows *bytes to the temporary buffers of a tile's GEMMs; the first tile
 * settles each step's form, which every tile then keeps. */
static clxent_status tile_temp(clxent_context *ctx, head_job *j,
                               const gemm steps[GEMM_STEPS], int first,
                               size_t *bytes)
{
    for (int i = 0; i < GEMM_STEPS; i++) {
        size_t size = 0;
        if (!steps[i].used)
            continue;
        if (first) {
            const clxent_status s =
                settle(ctx, &steps[i], &j->column_major[i], &size);
            if (s != CLXENT_OK)
                return s;
        } else {
            const CLBlastStatusCode code =
                temp_size(ctx, &steps[i], j->column_major[i], &size);
            if (code != CLBlastSuccess)
                return fail_clblast(ctx, code, "GEMM temporary size");
        }
        if (size > *bytes)
            *bytes = size;
    }
    return CLXENT_OK;
}

/* The n-th of `count` pieces of `total` in pieces of `size`. */
static void piece(size_t total, size_t size, size_t n, size_t *first,
                  size_t *length)
{
    *first = n * size;
    *length = total - *first < size ? total - *first : size;
}

/*
 * The largest temporary buffer CLBlast asks for over the tiles: the first,
 * second and last chunk and block stand for all of them (offsets and the
 * shorter last piece change what CLBlast copies).
 */
static clxent_status measure_temp(clxent_context *ctx, head_job *j,
                                  size_t chunk, size_t block, size_t *bytes)
{
    const size_t chunks = (j->rows + chunk - 1) / chunk;
    const size_t blocks = (j->classes + block - 1) / block;
    const size_t row_picks[3] = { 0, chunks > 1, chunks - 1 };
    const size_t class_picks[3] = { 0, blocks > 1, blocks - 1 };
    gemm steps[GEMM_STEPS];
    clxent_status s;
    *bytes = 0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) {
            tile t;
            piece(j->rows, chunk, row_picks[r], &t.first, &t.rows);
            piece(j->classes, block, class_picks[c], &t.first_class,
                  &t.classes);
            tile_gemms(ctx, j, &t, steps);
            if ((s = tile_temp(ctx, j, steps, r == 0 && c == 0, bytes)))
                return s;
        }
    return CLXENT_OK;
}

static size_t budget_bytes(const clxent_context *ctx)
{
    const cl_ulong eighth = ctx->traits.global_memory / 8;
    return eighth < HEAD_BUDGET_BYTES ? (size_t)eighth : HEAD_BUDGET_BYTES;
}

/* The caller's chunk, or the most rows whose logits and per-row scratch
 * fit the budget (a multiple of 64 where that leaves some, which GEMM
 * tiles like). */
static size_t first_chunk(const clxent_context *ctx, const head_job *j)
{
    const size_t row_bytes = j->classes * sizeof(float) + ROW_EXTRA_BYTES;
    const size_t largest =
        ctx->traits.max_allocation / (j->classes * sizeof(float));
    size_t chunk = j->args->chunk_rows;
    if (chunk == 0) {
        chunk = budget_bytes(ctx) / row_bytes;
        if (chunk > largest)
            chunk = largest;
        if (chunk >= 128)
            chunk = chunk / 64 * 64;
    }
    if (chunk > j->rows)
        chunk = j->rows;
    return chunk ? chunk : 1;
}

/*
 * Chunk and block sizes within the budget. CLBlast's temporary buffer can
 * hold a copy of every matrix of a GEMM, and W's share of it does not
 * shrink with the chunk: while W's block is over a quarter of the budget
 * the blocks halve, then the chunks do.
 */
static clxent_status choose_tiles(clxent_context *ctx, head_job *j)
{
    const size_t budget = budget_bytes(ctx);
    const size_t row_bytes = j->classes * sizeof(float) + ROW_EXTRA_BYTES;
    const size_t fixed_block = j->args->chunk_classes;
    size_t chunk = first_chunk(ctx, j), block = j->classes;
    clxent_status s;
    if (fixed_block && fixed_block < j->classes)
        block = fixed_block;
    for (;;) {
        if ((s = measure_temp(ctx, j, chunk, block, &j->temp_bytes)))
            return s;
        if (chunk * row_bytes + j->temp_bytes <= budget)
            break;
        const int blocks_may_halve = !fixed_block && block > 1;
        if (blocks_may_halve && block * j->hidden * sizeof(float) > budget / 4)
            block = (block + 1) / 2;
        else if (!j->args->chunk_rows && chunk > 1)
            chunk /= 2;
        else if (blocks_may_halve)
            block = (block + 1) / 2;
        else
            break;
    }
    j->chunk = chunk, j->chunks = (j->rows + chunk - 1) / chunk;
    j->block = block, j->blocks = (j->classes + block - 1) / block;
    return CLXENT_OK;
}

static int multiply(size_t a, size_t b, size_t *out)
{
    if (a && b > (size_t)-1 / a)
        return 0;
    *out = a * b;
    return 1;
}

static clxent_status check_shape(clxent_context *ctx, head_job *j)
{
    size_t product;
    if (!j->rows || !j->hidden || !j->classes)
        return fail(ctx, CLXENT_ERROR_INVALID_SHAPE,
                    "rows, hidden and classes must be at least 1 (got %zu, "
                    "%zu, %zu)",
                    j->rows, j->hidden, j->classes);
    if (!multiply(j->rows, j->hidden, &product) ||
        !multiply(product, 8, &product) ||
        !multiply(j->classes, j->hidden, &product) ||
        !multiply(product, 8, &product))
        return fail(ctx, CLXENT_ERROR_SIZE_OVERFLOW,
                    "the head's sizes overflow size_t");
    return CLXENT_OK;
}

/* The restrictions of the head beyond those of the loss itself. */
static clxent_status check_reduction(clxent_context *ctx, head_job *j)
{
    const clxent_loss *loss = j->loss;
    if (loss->reduction == CLXENT_REDUCTION_WEIGHTED_MEAN)
        return fail(ctx, CLXENT_ERROR_INVALID_OPTION,
                    "the head does not take WEIGHTED_MEAN: use SUM with "
                    "upstream_scale = 1 / sum of weights");
    if (loss->reduction == CLXENT_REDUCTION_MEAN && j->sparse &&
        loss->use_ignore_class)
        return fail(ctx, CLXENT_ERROR_INVALID_OPTION,
                    "the head does not take MEAN with use_ignore_class: use "
                    "SUM with upstream_scale = 1 / rows not ignored");
    return CLXENT_OK;
}

static clxent_status check_buffers(clxent_context *ctx, const head_job *j,
                                   size_t loss_values)
{
    const clxent_head_args *a = j->args;
    const size_t n = j->rows, h = j->hidden, c = j->classes;
    const size_t label = dtype_size(a->label_dtype);
    clxent_status s;
    if ((s = check_buffer(ctx, &a->inputs, n * h, 4, "inputs", 1)) ||
        (s = check_buffer(ctx, &a->weights, c * h, 4, "weights", 1)) ||
        (s = check_buffer(ctx, &a->bias, c, 4, "bias", 0)) ||
        (s = check_buffer(ctx, &a->targets, j->sparse ? n : n * c,
                          j->sparse ? label : 4, "targets", 1)) ||
        (s = check_buffer(ctx, &a->sample_weights, n, 4, "sample_weights",
                          0)) ||
        (s = check_buffer(ctx, &a->class_weights, c, 4, "class_weights", 0)) ||
        (s = check_buffer(ctx, &a->class_alpha, c, 4, "class_alpha", 0)) ||
        (s = check_buffer(ctx, &a->element_weights, n * c, 4, "element_weights",
                          0)) ||
        (s = check_buffer(ctx, &a->pos_weight, c, 4, "pos_weight", 0)) ||
        (s = check_buffer(ctx, &a->loss, loss_values, 4, "loss", 0)) ||
        (s = check_buffer(ctx, &a->upstream, loss_values, 4, "upstream", 0)) ||
        (s = check_buffer(ctx, &a->correct, 1, 8, "correct", 0)) ||
        (s = check_buffer(ctx, &a->input_gradient, n * h, 4, "input_gradient",
                          0)) ||
        (s = check_buffer(ctx, &a->weight_gradient, c * h, 4, "weight_gradient",
                          0)) ||
        (s = check_buffer(ctx, &a->bias_gradient, c, 4, "bias_gradient", 0)))
        return s;
    if (!a->loss.mem && !a->correct.mem && !j->gradient)
        return fail(ctx, CLXENT_ERROR_NULL_ARGUMENT,
                    "no output: give loss, correct or a gradient");
    if (a->upstream.mem && j->loss->reduction != CLXENT_REDUCTION_NONE)
        return fail(ctx, CLXENT_ERROR_INVALID_OPTION,
                    "upstream needs reduction NONE");
    return CLXENT_OK;
}

static clxent_status check_head(clxent_context *ctx, head_job *j)
{
    const clxent_loss *loss = j->loss;
    const clxent_head_args *a = j->args;
    const clxent_shape shape = { j->rows, j->classes, 1 };
    const int none = loss->reduction == CLXENT_REDUCTION_NONE;
    plan p;
    clxent_status s;
    if ((s = check_shape(ctx, j)) ||
        (s = check_request(ctx, loss, &shape, CLXENT_F32, a->label_dtype, &p)))
        return s;
    j->sparse = p.sparse;
    j->values_per_row = p.sigmoid && loss->per_element ? j->classes : 1;
    j->divisor = 1.0f;
    if (loss->reduction == CLXENT_REDUCTION_MEAN)
        j->divisor = (float)(j->rows * j->values_per_row);
    j->gradient =
        a->input_gradient.mem || a->weight_gradient.mem || a->bias_gradient.mem;
    if ((s = check_reduction(ctx, j)) ||
        (s = check_buffers(ctx, j, none ? p.loss_values : 1)))
        return s;
    if (!isfinite(a->upstream_scale))
        return fail(ctx, CLXENT_ERROR_INVALID_OPTION,
                    "upstream_scale must be finite");
    return CLXENT_OK;
}

/* The head's scratch for chunks of j->chunk rows, the ones vector set. */
static clxent_status prepare_scratch(clxent_context *ctx, const head_job *j)
{
    scratch_buffer *b = ctx->head.buffers;
    const float one = 1.0f;
    const cl_mem old_ones = b[HEAD_ONES].mem;
    clxent_status s;
    if ((s = ensure_scratch(ctx, &b[HEAD_LOGITS],
                            j->chunk * j->classes * sizeof(float))) ||
        (s = ensure_scratch(ctx, &b[HEAD_TEMP],
                            j->temp_bytes ? j->temp_bytes : 64)) ||
        (s = ensure_scratch(ctx, &b[HEAD_ONES], j->chunk * sizeof(float))) ||
        (s = ensure_scratch(ctx, &b[HEAD_CHUNK_LOSS],
                            j->chunks * sizeof(float))) ||
        (s = ensure_scratch(ctx, &b[HEAD_CHUNK_CORRECT],
                            j->chunks * sizeof(cl_ulong))) ||
        (s = ensure_scratch(ctx, &b[HEAD_STATE], sizeof(cl_uint))) ||
        (s = ensure_row_scratch(ctx, j->chunk)))
        return s;
    if (b[HEAD_ONES].mem != old_ones)
        ctx->head.ones = 0;
    if (ctx->head.ones >= j->chunk)
        return CLXENT_OK;
    const cl_int code =
        clEnqueueFillBuffer(ctx->queue, b[HEAD_ONES].mem, &one, sizeof one, 0,
                            j->chunk * sizeof(float), 0, NULL, NULL);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clEnqueueFillBuffer (ones)");
    ctx->head.ones = j->chunk;
    return CLXENT_OK;
}

static clxent_status run_gemm(clxent_context *ctx, const head_job *j,
                              const gemm *steps, int step)
{
    const gemm *g = &steps[step];
    const cl_mem temp = ctx->head.buffers[HEAD_TEMP].mem;
    CLBlastStatusCode code;
    if (!g->used)
        return CLXENT_OK;
    if (j->column_major[step])
        code = CLBlastSgemmWithTempBuffer(
            CLBlastLayoutColMajor, g->b_transpose, g->a_transpose, g->n, g->m,
            g->k, 1.0f, g->b, g->b_offset, g->b_ld, g->a, g->a_offset, g->a_ld,
            g->beta, g->c, g->c_offset, g->c_ld, &ctx->queue, NULL, temp);
    else
        code = CLBlastSgemmWithTempBuffer(
            CLBlastLayoutRowMajor, g->a_transpose, g->b_transpose, g->m, g->n,
            g->k, 1.0f, g->a, g->a_offset, g->a_ld, g->b, g->b_offset, g->b_ld,
            g->beta, g->c, g->c_offset, g->c_ld, &ctx->queue, NULL, temp);
    if (code != CLBlastSuccess)
        return fail_clblast(ctx, code, "SGEMM");
    return CLXENT_OK;
}

static clxent_buffer at(const clxent_buffer *b, size_t first)
{
    const clxent_buffer moved = { b->mem, b->mem ? b->offset + first : 0 };
    return moved;
}

/* The loss step of a chunk: SUM (or NONE) on its logits, the gradient
 * written over them already divided by the batch's denominator. */
static clxent_status chunk_loss(clxent_context *ctx, const head_job *j,
                                size_t index, size_t first, size_t m)
{
    const clxent_head_args *a = j->args;
    const size_t c = j->classes;
    const int none = j->loss->reduction == CLXENT_REDUCTION_NONE;
    clxent_loss loss = *j->loss;
    const clxent_shape shape = { m, c, 1 };
    clxent_device_args d = clxent_device_args_defaults();
    const clxent_buffer logits = { ctx->head.buffers[HEAD_LOGITS].mem, 0 };
    if (!none)
        loss.reduction = CLXENT_REDUCTION_SUM;
    d.label_dtype = a->label_dtype;
    d.predictions = logits;
    d.targets = at(&a->targets, j->sparse ? first : first * c);
    d.class_weights = a->class_weights;
    d.class_alpha = a->class_alpha;
    d.sample_weights = at(&a->sample_weights, first);
    d.element_weights = at(&a->element_weights, first * c);
    d.pos_weight = a->pos_weight;
    if (j->gradient)
        d.gradient = logits;
    if (none)
        d.loss = at(&a->loss, first * j->values_per_row);
    else if (a->loss.mem)
        d.loss =
            (clxent_buffer){ ctx->head.buffers[HEAD_CHUNK_LOSS].mem, index };
    if (a->correct.mem)
        d.correct =
            (clxent_buffer){ ctx->head.buffers[HEAD_CHUNK_CORRECT].mem, index };
    d.upstream_scale = a->upstream_scale / j->divisor;
    d.upstream = at(&a->upstream, first * j->values_per_row);
    return clxent_enqueue(ctx, &loss, &shape, &d, 0, NULL, NULL);
}

/* Keeps an error's index relative to the batch (see cl/head.cl). */
static clxent_status shift_error(clxent_context *ctx, const head_job *j,
                                 cl_uint snapshot, size_t first)
{
    cl_kernel kernel;
    const cl_ulong first_row = first, first_element = first * j->classes;
    clxent_status s =
        get_kernel(ctx, KERNEL_HEAD_SHIFT_ERROR, CLXENT_F32, &kernel);
    if (s != CLXENT_OK)
        return s;
    kernel_args k = { kernel, 0, CL_SUCCESS };
    arg_mem(&k, ctx->scratch.error);
    arg_mem(&k, ctx->head.buffers[HEAD_STATE].mem);
    ARG(&k, snapshot);
    ARG(&k, first_row);
    ARG(&k, first_element);
    if (k.status != CL_SUCCESS)
        return fail_opencl(ctx, k.status, "clSetKernelArg (head_shift_error)");
    return launch(ctx, kernel, 1, 1, 0, NULL, NULL);
}

/* Folds the chunks' loss sums and correct counts into the outputs. */
static clxent_status totals(clxent_context *ctx, const head_job *j)
{
    const clxent_head_args *a = j->args;
    const int none = j->loss->reduction == CLXENT_REDUCTION_NONE;
    const clxent_buffer absent = { NULL, 0 };
    const clxent_buffer *loss = none ? &absent : &a->loss;
    const cl_ulong chunks = j->chunks;
    cl_kernel kernel;
    if (!loss->mem && !a->correct.mem)
        return CLXENT_OK;
    clxent_status s = get_kernel(ctx, KERNEL_HEAD_TOTALS, CLXENT_F32, &kernel);
    if (s != CLXENT_OK)
        return s;
    const cl_ulong loss_offset = loss->offset;
    const cl_ulong correct_offset = a->correct.offset;
    kernel_args k = { kernel, 0, CL_SUCCESS };
    arg_mem(&k, ctx->head.buffers[HEAD_CHUNK_LOSS].mem);
    arg_mem(&k, ctx->head.buffers[HEAD_CHUNK_CORRECT].mem);
    ARG(&k, chunks);
    ARG(&k, j->divisor);
    arg_mem(&k, loss->mem);
    ARG(&k, loss_offset);
    arg_mem(&k, a->correct.mem);
    ARG(&k, correct_offset);
    if (k.status != CL_SUCCESS)
        return fail_opencl(ctx, k.status, "clSetKernelArg (head_totals)");
    return launch(ctx, kernel, 1, 1, 0, NULL, NULL);
}

/* Runs `step` of every block of classes of the chunk `t` describes. */
static clxent_status run_blocks(clxent_context *ctx, const head_job *j, tile t,
                                int step)
{
    gemm steps[GEMM_STEPS];
    for (size_t b = 0; b < j->blocks; b++) {
        piece(j->classes, j->block, b, &t.first_class, &t.classes);
        tile_gemms(ctx, j, &t, steps);
        const clxent_status s = run_gemm(ctx, j, steps, step);
        if (s != CLXENT_OK)
            return s;
    }
    return CLXENT_OK;
}

static clxent_status run_chunk(clxent_context *ctx, const head_job *j,
                               size_t index)
{
    tile t = { 0, 0, 0, j->classes };
    gemm whole[GEMM_STEPS];
    clxent_status s;
    piece(j->rows, j->chunk, index, &t.first, &t.rows);
    tile_gemms(ctx, j, &t, whole);
    if ((s = run_gemm(ctx, j, whole, GEMM_BIAS)) ||
        (s = run_blocks(ctx, j, t, GEMM_FORWARD)) ||
        (s = chunk_loss(ctx, j, index, t.first, t.rows)))
        return s;
    if (j->chunks > 1 && (s = shift_error(ctx, j, 0, t.first)))
        return s;
    if ((s = run_blocks(ctx, j, t, GEMM_INPUTS)) ||
        (s = run_blocks(ctx, j, t, GEMM_WEIGHTS)))
        return s;
    return run_gemm(ctx, j, whole, GEMM_BIAS_GRAD);
}

static clxent_status marker(clxent_context *ctx, cl_uint count,
                            const cl_event *events, cl_event *done)
{
    const cl_int code =
        clEnqueueMarkerWithWaitList(ctx->queue, count, events, done);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clEnqueueMarkerWithWaitList");
    return CLXENT_OK;
}

clxent_status clxent_head_enqueue(clxent_context *context,
                                  const clxent_loss *loss, size_t rows,
                                  size_t hidden, size_t classes,
                                  const clxent_head_args *args,
                                  cl_uint wait_count, const cl_event *wait_list,
                                  cl_event *done)
{
    clxent_context *ctx = context;
    head_job j;
    clxent_status s;
    if (!ctx)
        return CLXENT_ERROR_NULL_ARGUMENT;
    if (!loss || !args || (wait_count && !wait_list))
        return fail(ctx, CLXENT_ERROR_NULL_ARGUMENT,
                    "loss and args are required");
    memset(&j, 0, sizeof j);
    j.loss = loss, j.args = args;
    j.rows = rows, j.hidden = hidden, j.classes = classes;
    if ((s = check_head(ctx, &j)) || (s = choose_tiles(ctx, &j)) ||
        (s = prepare_scratch(ctx, &j)))
        return s;
    trace(ctx, TRACE_DISPATCH,
          "head: %zu rows x %zu hidden x %zu classes in %zu chunks of %zu "
          "rows, %zu blocks of %zu classes; %zu bytes of logits, %zu of "
          "CLBlast temporary",
          rows, hidden, classes, j.chunks, j.chunk, j.blocks, j.block,
          j.chunk * classes * sizeof(float), j.temp_bytes);

    /* The queue is in order: a marker makes everything after it wait. */
    if (wait_count && (s = marker(ctx, wait_count, wait_list, NULL)))
        return s;
    if (j.chunks > 1 && (s = shift_error(ctx, &j, 1, 0)))
        return s;
    for (size_t i = 0; i < j.chunks; i++)
        if ((s = run_chunk(ctx, &j, i)))
            return s;
    if ((s = totals(ctx, &j)))
        return s;
    return done ? marker(ctx, 0, NULL, done) : CLXENT_OK;
}

#endif
