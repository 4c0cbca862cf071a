/*
 * Device scratch a context keeps between calls: the per-row arrays the
 * reductions fold, their partials, the gradient's scale and the error
 * word. Row arrays grow and are never shrunk; OpenCL keeps a released
 * buffer alive until the commands that use it are done.
 */
#include "internal.h"

#include <string.h>

clxent_status ensure_scratch(clxent_context *ctx, scratch_buffer *buffer,
                             size_t bytes)
{
    cl_int code = CL_SUCCESS;
    if (buffer->bytes >= bytes)
        return CLXENT_OK;
    if (bytes > ctx->traits.max_allocation)
        return fail(ctx, CLXENT_ERROR_OUT_OF_MEMORY,
                    "scratch of %zu bytes exceeds the device's largest "
                    "allocation of %llu bytes",
                    bytes, (unsigned long long)ctx->traits.max_allocation);
    cl_mem grown =
        clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &code);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clCreateBuffer (scratch)");
    if (buffer->mem)
        clReleaseMemObject(buffer->mem);
    buffer->mem = grown;
    buffer->bytes = bytes;
    return CLXENT_OK;
}

static cl_mem create(clxent_context *ctx, size_t bytes, cl_int *code)
{
    if (*code != CL_SUCCESS)
        return NULL;
    return clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, code);
}

clxent_status create_row_scratch(clxent_context *ctx)
{
    cl_int code = CL_SUCCESS;
    const cl_long zero[2] = { 0, 0 };
    row_scratch *s = &ctx->scratch;
    for (int i = 0; i < ROW_ARRAYS; i++)
        s->parts[i] =
            create(ctx, ctx->shape.reduce_parts * sizeof(cl_ulong), &code);
    s->scale = create(ctx, sizeof(cl_float), &code);
    s->error = create(ctx, sizeof zero, &code);
    if (code == CL_SUCCESS)
        code = clEnqueueWriteBuffer(ctx->queue, s->error, CL_TRUE, 0,
                                    sizeof zero, zero, 0, NULL, NULL);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "creating the context's scratch");
    return CLXENT_OK;
}

/* Row arrays for at least `rows` rows. */
clxent_status ensure_row_scratch(clxent_context *ctx, size_t rows)
{
    for (int i = 0; i < ROW_ARRAYS; i++) {
        const clxent_status status =
            ensure_scratch(ctx, &ctx->scratch.rows[i], rows * sizeof(cl_uint));
        if (status != CLXENT_OK)
            return status;
    }
    return CLXENT_OK;
}

void release_row_scratch(row_scratch *scratch)
{
    for (int i = 0; i < ROW_ARRAYS; i++) {
        if (scratch->rows[i].mem)
            clReleaseMemObject(scratch->rows[i].mem);
        if (scratch->parts[i])
            clReleaseMemObject(scratch->parts[i]);
    }
    if (scratch->scale)
        clReleaseMemObject(scratch->scale);
    if (scratch->error)
        clReleaseMemObject(scratch->error);
    if (scratch->shares.mem)
        clReleaseMemObject(scratch->shares.mem);
    memset(scratch, 0, sizeof *scratch);
}

void release_head_scratch(head_scratch *scratch)
{
    for (int i = 0; i < HEAD_BUFFERS; i++)
        if (scratch->buffers[i].mem)
            clReleaseMemObject(scratch->buffers[i].mem);
    memset(scratch, 0, sizeof *scratch);
}
