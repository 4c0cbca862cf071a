/*
 * Programs are built lazily, once per (family, storage type) and context,
 * from the sources embedded at build time. The driver's own on-disk cache
 * (POCL's, NVIDIA's) makes the second process's build cheap; the library
 * keeps no cache of its own on disk.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char clxent_source_reduce[];
extern const char clxent_source_softmax[];
extern const char clxent_source_sigmoid[];
extern const char clxent_source_head[];

static const char *const family_sources[FAMILY_COUNT] = { clxent_source_reduce,
                                                          clxent_source_softmax,
                                                          clxent_source_sigmoid,
                                                          clxent_source_head };
static const char *const family_names[FAMILY_COUNT] = { "reduce", "softmax",
                                                        "sigmoid", "head" };

static const struct {
    program_family family;
    const char *name;
} kernel_table[KERNEL_COUNT] = {
    [KERNEL_REDUCE_ROWS] = { FAMILY_REDUCE, "reduce_rows" },
    [KERNEL_FINALIZE] = { FAMILY_REDUCE, "finalize" },
    [KERNEL_SOFTMAX_ITEMS_DENSE] = { FAMILY_SOFTMAX, "softmax_items_dense" },
    [KERNEL_SOFTMAX_GROUPS_DENSE] = { FAMILY_SOFTMAX, "softmax_groups_dense" },
    [KERNEL_SOFTMAX_ITEMS_INT32] = { FAMILY_SOFTMAX, "softmax_items_int32" },
    [KERNEL_SOFTMAX_GROUPS_INT32] = { FAMILY_SOFTMAX, "softmax_groups_int32" },
    [KERNEL_SOFTMAX_ITEMS_INT64] = { FAMILY_SOFTMAX, "softmax_items_int64" },
    [KERNEL_SOFTMAX_GROUPS_INT64] = { FAMILY_SOFTMAX, "softmax_groups_int64" },
    [KERNEL_SOFTMAX_SPLIT_DENSE] = { FAMILY_SOFTMAX, "softmax_split_dense" },
    [KERNEL_SOFTMAX_SPLIT_INT32] = { FAMILY_SOFTMAX, "softmax_split_int32" },
    [KERNEL_SOFTMAX_SPLIT_INT64] = { FAMILY_SOFTMAX, "softmax_split_int64" },
    [KERNEL_SOFTMAX_LANES_DENSE] = { FAMILY_SOFTMAX, "softmax_lanes_dense" },
    [KERNEL_SOFTMAX_LANES_INT32] = { FAMILY_SOFTMAX, "softmax_lanes_int32" },
    [KERNEL_SOFTMAX_LANES_INT64] = { FAMILY_SOFTMAX, "softmax_lanes_int64" },
    [KERNEL_SIGMOID] = { FAMILY_SIGMOID, "sigmoid_rows" },
    [KERNEL_HEAD_TOTALS] = { FAMILY_HEAD, "head_totals" },
    [KERNEL_HEAD_SHIFT_ERROR] = { FAMILY_HEAD, "head_shift_error" },
};

static const char *storage_define(clxent_dtype dtype)
{
    switch (dtype) {
    case CLXENT_F16:
        return "-DSTORAGE_F16";
    case CLXENT_BF16:
        return "-DSTORAGE_BF16";
    case CLXENT_F64:
        return "-DSTORAGE_F64";
    default:
        return "-DSTORAGE_F32";
    }
}

/* Hands the compiler's log to the logger, line by line. */
static void log_build_log(clxent_context *ctx, cl_program program,
                          clxent_log_level level)
{
    size_t size = 0;
    clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL,
                          &size);
    char *text = malloc(size + 1);
    if (!text)
        return;
    if (clGetProgramBuildInfo(program, ctx->device, CL_PROGRAM_BUILD_LOG, size,
                              text, NULL) == CL_SUCCESS) {
        char *rest = NULL;
        text[size] = '\0';
        /* strtok_r: contexts may build on several threads at once. */
        for (char *line = strtok_r(text, "\n", &rest); line;
             line = strtok_r(NULL, "\n", &rest))
            log_message(ctx, level, "build log: %s", line);
    }
    free(text);
}

static clxent_status build_program(clxent_context *ctx, program_family family,
                                   clxent_dtype dtype, cl_program *program)
{
    char options[512];
    cl_int code = CL_SUCCESS;
    const char *source = family_sources[family];
    snprintf(options, sizeof options,
             "-cl-std=CL1.2 %s%s -DSTATUS_INVALID_LABEL=%d "
             "-DSTATUS_INVALID_TARGET=%d -DSTATUS_NON_FINITE_INPUT=%d",
             storage_define(dtype),
             ctx->shape.prefetch_rows ? " -DPREFETCH_ROWS" : "",
             CLXENT_ERROR_INVALID_LABEL, CLXENT_ERROR_INVALID_TARGET,
             CLXENT_ERROR_NON_FINITE_INPUT);
    trace(ctx, TRACE_BUILD, "building %s with %s", family_names[family],
          options);

    *program = clCreateProgramWithSource(ctx->cl, 1, &source, NULL, &code);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clCreateProgramWithSource");
    code = clBuildProgram(*program, 1, &ctx->device, options, NULL, NULL);
    if (code == CL_SUCCESS) {
        if (ctx->trace & TRACE_BUILD)
            log_build_log(ctx, *program, CLXENT_LOG_DEBUG);
        return CLXENT_OK;
    }
    log_build_log(ctx, *program, CLXENT_LOG_ERROR);
    clReleaseProgram(*program);
    *program = NULL;
    if (code == CL_BUILD_PROGRAM_FAILURE || code == CL_INVALID_BUILD_OPTIONS) {
        fail(ctx, CLXENT_ERROR_BUILD_FAILED,
             "building the %s program failed (OpenCL error %d)",
             family_names[family], (int)code);
        ctx->last_error.opencl_code = code;
        return CLXENT_ERROR_BUILD_FAILED;
    }
    return fail_opencl(ctx, code, "clBuildProgram");
}

clxent_status get_kernel(clxent_context *ctx, kernel_id id, clxent_dtype dtype,
                         cl_kernel *kernel)
{
    const program_family family = kernel_table[id].family;
    /* The reductions and the head's steps do not depend on the storage
     * type. */
    if (family == FAMILY_REDUCE || family == FAMILY_HEAD)
        dtype = CLXENT_F32;
    if (ctx->kernels[id][dtype]) {
        *kernel = ctx->kernels[id][dtype];
        return CLXENT_OK;
    }
    cl_program *program = &ctx->programs[family][dtype];
    if (!*program) {
        const clxent_status status = build_program(ctx, family, dtype, program);
        if (status != CLXENT_OK)
            return status;
    }
    cl_int code = CL_SUCCESS;
    *kernel = clCreateKernel(*program, kernel_table[id].name, &code);
    if (code != CL_SUCCESS)
        return fail_opencl(ctx, code, "clCreateKernel");
    ctx->kernels[id][dtype] = *kernel;
    return CLXENT_OK;
}

void release_programs(clxent_context *ctx)
{
    for (int k = 0; k < KERNEL_COUNT; k++)
        for (int d = 0; d < CLXENT_DTYPE_COUNT; d++)
            if (ctx->kernels[k][d])
                clReleaseKernel(ctx->kernels[k][d]);
    for (int f = 0; f < FAMILY_COUNT; f++)
        for (int d = 0; d < CLXENT_DTYPE_COUNT; d++)
            if (ctx->programs[f][d])
                clReleaseProgram(ctx->programs[f][d]);
}

void arg_value(kernel_args *args, size_t size, const void *value)
{
    if (args->status == CL_SUCCESS)
        args->status = clSetKernelArg(args->kernel, args->next, size, value);
    args->next++;
}

void arg_mem(kernel_args *args, cl_mem mem)
{
    /* A NULL buffer reaches the kernel as a NULL pointer. */
    arg_value(args, sizeof mem, mem ? &mem : NULL);
}

void arg_local(kernel_args *args, size_t bytes)
{
    arg_value(args, bytes, NULL);
}
