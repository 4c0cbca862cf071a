/* Opening and closing a context, on its own queue or an adopted one. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void clxent_default_settings(clxent_settings *settings)
{
    if (!settings)
        return;
    memset(settings, 0, sizeof *settings);
    settings->log_level = CLXENT_LOG_WARNING;
}

/* Takes over an application's queue: its device and context, retained. */
static clxent_status adopt_queue(clxent_context *ctx, cl_command_queue queue)
{
    cl_command_queue_properties properties = 0;
    cl_context cl = NULL;
    /* ctx->cl stays NULL until retained: clxent_close releases it. */
    cl_int code =
        clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof cl, &cl, NULL);
    if (code == CL_SUCCESS)
        code = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof ctx->device,
                                     &ctx->device, NULL);
    if (code == CL_SUCCESS)
        code = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES,
                                     sizeof properties, &properties, NULL);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clGetCommandQueueInfo");
    /* The library's calls rely on in-order execution of its own steps. */
    if (properties & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
        return fail(ctx, CLXENT_ERROR_INVALID_OPTION,
                    "an adopted queue must be in-order");
    clGetDeviceInfo(ctx->device, CL_DEVICE_PLATFORM, sizeof ctx->platform,
                    &ctx->platform, NULL);
    clRetainContext(cl);
    clRetainCommandQueue(queue);
    ctx->cl = cl;
    ctx->queue = queue;
    return CLXENT_OK;
}

static clxent_status create_queue(clxent_context *ctx,
                                  const clxent_settings *settings)
{
    clxent_device_entry entry;
    cl_int code = CL_SUCCESS;
    const clxent_status status = select_first_device(settings->device, &entry);
    if (status == CLXENT_ERROR_INVALID_SELECTOR)
        return fail(ctx, status, "malformed device selector '%s'",
                    settings->device ? settings->device : "");
    if (status != CLXENT_OK)
        return fail(ctx, status, "no OpenCL device matches '%s'",
                    settings->device ? settings->device : "default");
    ctx->platform = entry.platform;
    ctx->device = entry.device;

    const cl_context_properties properties[] = {
        CL_CONTEXT_PLATFORM, (cl_context_properties)entry.platform, 0
    };
    ctx->cl = clCreateContext(properties, 1, &entry.device, NULL, NULL, &code);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clCreateContext");
    const cl_command_queue_properties queue_properties =
        settings->enable_profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
    ctx->queue =
        clCreateCommandQueue(ctx->cl, entry.device, queue_properties, &code);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clCreateCommandQueue");
    return CLXENT_OK;
}

static void trace_device(const clxent_context *ctx)
{
    char name[256] = "";
    clGetDeviceInfo(ctx->device, CL_DEVICE_NAME, sizeof name - 1, name, NULL);
    trace(ctx, TRACE_DEVICE,
          "device '%s': %s, %u units, groups up to %zu, %llu bytes local, "
          "fp64 %s; rows of %zu lanes, items in groups of %zu",
          name, ctx->traits.is_gpu ? "gpu" : "not a gpu",
          ctx->traits.compute_units, ctx->traits.max_group_size,
          (unsigned long long)ctx->traits.local_memory,
          ctx->traits.has_fp64 ? "yes" : "no", ctx->shape.row_lanes,
          ctx->shape.items_group);
}

clxent_status clxent_open(clxent_context **context,
                          const clxent_settings *settings)
{
    clxent_status status;
    if (!context)
        return CLXENT_ERROR_NULL_ARGUMENT;
    *context = NULL;
    if (!settings)
        return CLXENT_ERROR_NULL_ARGUMENT;
    clxent_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return CLXENT_ERROR_OUT_OF_MEMORY;
    ctx->logger = settings->logger;
    ctx->logger_data = settings->logger_data;
    ctx->log_level = settings->log_level;
    ctx->trace = trace_categories();
    clear_error(ctx);

    if (settings->queue)
        status = adopt_queue(ctx, settings->queue);
    else
        status = create_queue(ctx, settings);
    if (status == CLXENT_OK) {
        read_device_traits(ctx->device, &ctx->traits);
        choose_work_shape(&ctx->traits, &ctx->shape);
        trace_device(ctx);
        status = create_row_scratch(ctx);
    }
    if (status != CLXENT_OK) {
        clxent_close(&ctx);
        return status;
    }
    *context = ctx;
    return CLXENT_OK;
}

void clxent_close(clxent_context **context)
{
    if (!context || !*context)
        return;
    clxent_context *ctx = *context;
    if (ctx->queue)
        clFinish(ctx->queue);
    release_row_scratch(&ctx->scratch);
    release_head_scratch(&ctx->head);
    release_programs(ctx);
    if (ctx->queue)
        clReleaseCommandQueue(ctx->queue);
    if (ctx->cl)
        clReleaseContext(ctx->cl);
    free(ctx);
    *context = NULL;
}

cl_context clxent_cl_context(const clxent_context *context)
{
    return context ? context->cl : NULL;
}

cl_command_queue clxent_queue(const clxent_context *context)
{
    return context ? context->queue : NULL;
}

cl_device_id clxent_device(const clxent_context *context)
{
    return context ? context->device : NULL;
}
