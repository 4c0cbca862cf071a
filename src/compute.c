/*
 * The host-pointer convenience call: copy in, compute, wait, copy out.
 * Outputs are written only when the whole computation succeeded.
 */
#include "internal.h"

#include <string.h>

/* Device copies of the host arrays, in clxent_device_args order. */
typedef struct staged {
    clxent_device_args device;
    cl_mem owned[12];
    size_t owned_count;
} staged;

static clxent_status stage(clxent_context *ctx, staged *s, clxent_buffer *to,
                           const void *host, size_t bytes, int output)
{
    cl_int code = CL_SUCCESS;
    if (!host)
        return CLXENT_OK;
    const cl_mem_flags flags =
        output ? CL_MEM_READ_WRITE : CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR;
    to->mem = clCreateBuffer(ctx->cl, flags, bytes,
                             output ? NULL : (void *)host, &code);
    to->offset = 0;
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clCreateBuffer (host arguments)");
    s->owned[s->owned_count++] = to->mem;
    return CLXENT_OK;
}

static void release_staged(staged *s)
{
    for (size_t i = 0; i < s->owned_count; i++)
        clReleaseMemObject(s->owned[i]);
}

static clxent_status stage_all(clxent_context *ctx, const clxent_shape *shape,
                               const plan *p, const clxent_host_args *h,
                               staged *s)
{
    const size_t value = dtype_size(h->dtype);
    const size_t label = dtype_size(h->label_dtype);
    const size_t classes = shape->classes;
    clxent_device_args *d = &s->device;
    clxent_status st;
    if ((st = stage(ctx, s, &d->predictions, h->predictions,
                    p->elements * value, 0)) ||
        (st = stage(ctx, s, &d->targets, h->targets,
                    p->sparse ? p->rows * label : p->elements * value, 0)) ||
        (st = stage(ctx, s, &d->class_weights, h->class_weights, classes * 4,
                    0)) ||
        (st = stage(ctx, s, &d->class_alpha, h->class_alpha, classes * 4, 0)) ||
        (st = stage(ctx, s, &d->sample_weights, h->sample_weights, p->rows * 4,
                    0)) ||
        (st = stage(ctx, s, &d->element_weights, h->element_weights,
                    p->elements * 4, 0)) ||
        (st = stage(ctx, s, &d->pos_weight, h->pos_weight, classes * 4, 0)) ||
        (st =
             stage(ctx, s, &d->upstream, h->upstream, p->loss_values * 4, 0)) ||
        (st = stage(ctx, s, &d->loss, h->loss, p->loss_values * 4, 1)) ||
        (st = stage(ctx, s, &d->correct, h->correct, sizeof(cl_ulong), 1)))
        return st;
    /* A gradient over the predictions stays in place on the device too. */
    if (h->gradient && h->gradient == h->predictions) {
        d->gradient = d->predictions;
        return CLXENT_OK;
    }
    return stage(ctx, s, &d->gradient, h->gradient, p->elements * value, 1);
}

static clxent_status read_back(clxent_context *ctx, const plan *p,
                               const clxent_host_args *h, const staged *s)
{
    const clxent_device_args *d = &s->device;
    cl_int code = CL_SUCCESS;
    if (h->loss)
        code = clEnqueueReadBuffer(ctx->queue, d->loss.mem, CL_FALSE, 0,
                                   p->loss_values * sizeof(float), h->loss, 0,
                                   NULL, NULL);
    if (h->gradient && code == CL_SUCCESS)
        code = clEnqueueReadBuffer(ctx->queue, d->gradient.mem, CL_FALSE, 0,
                                   p->elements * dtype_size(h->dtype),
                                   h->gradient, 0, NULL, NULL);
    if (h->correct && code == CL_SUCCESS)
        code = clEnqueueReadBuffer(ctx->queue, d->correct.mem, CL_FALSE, 0,
                                   sizeof(cl_ulong), h->correct, 0, NULL, NULL);
    if (code == CL_SUCCESS)
        code = clFinish(ctx->queue);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "reading the outputs");
    return CLXENT_OK;
}

clxent_status clxent_compute(clxent_context *context, const clxent_loss *loss,
                             const clxent_shape *shape,
                             const clxent_host_args *args)
{
    staged s;
    plan p;
    clxent_status status;
    if (!context)
        return CLXENT_ERROR_NULL_ARGUMENT;
    if (!loss || !shape || !args)
        return fail(context, CLXENT_ERROR_NULL_ARGUMENT,
                    "loss, shape and args are required");
    if ((status = check_request(context, loss, shape, args->dtype,
                                args->label_dtype, &p)))
        return status;
    if (!args->predictions || !args->targets)
        return fail(context, CLXENT_ERROR_NULL_ARGUMENT,
                    "predictions and targets are required");

    memset(&s, 0, sizeof s);
    s.device = clxent_device_args_defaults();
    s.device.dtype = args->dtype;
    s.device.label_dtype = args->label_dtype;
    s.device.upstream_scale = args->upstream_scale;
    status = stage_all(context, shape, &p, args, &s);
    if (status == CLXENT_OK)
        status = clxent_enqueue(context, loss, shape, &s.device, 0, NULL, NULL);
    if (status == CLXENT_OK)
        status = clxent_finish(context);
    if (status == CLXENT_OK)
        status = read_back(context, &p, args, &s);
    release_staged(&s);
    return status;
}
