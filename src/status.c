/* Statuses, the last error of a context, logging and tracing. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_TEXT_(a, b, c) #a "." #b "." #c
#define VERSION_TEXT(a, b, c)  VERSION_TEXT_(a, b, c)

const char *clxent_version_string(void)
{
    return VERSION_TEXT(CLXENT_VERSION_MAJOR, CLXENT_VERSION_MINOR,
                        CLXENT_VERSION_PATCH);
}

const char *clxent_status_string(clxent_status status)
{
    switch (status) {
#define STATUS_CASE(name, value, text)                                         \
    case name:                                                                 \
        return text;
        CLXENT_STATUS_LIST(STATUS_CASE)
#undef STATUS_CASE
    }
    return "unknown status";
}

static void deliver(const clxent_context *ctx, clxent_log_level level,
                    const char *format, va_list list)
{
    char line[1024];
    if (!ctx || !ctx->logger || level > ctx->log_level)
        return;
    vsnprintf(line, sizeof line, format, list);
    ctx->logger(ctx->logger_data, level, line);
}

void log_message(const clxent_context *ctx, clxent_log_level level,
                 const char *format, ...)
{
    va_list list;
    va_start(list, format);
    deliver(ctx, level, format, list);
    va_end(list);
}

unsigned trace_categories(void)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = { { "build", TRACE_BUILD },
                  { "dispatch", TRACE_DISPATCH },
                  { "device", TRACE_DEVICE },
                  { "all", TRACE_BUILD | TRACE_DISPATCH | TRACE_DEVICE } };
    const char *value = getenv("CLXENT_TRACE");
    unsigned categories = 0;
    if (!value)
        return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strstr(value, names[i].name))
            categories |= names[i].bit;
    return categories;
}

/*
 * Developer tracing, asked for by name in CLXENT_TRACE. It goes to the
 * logger at debug level, or to stderr when no logger is set: the
 * environment variable is the explicit request to print.
 */
void trace(const clxent_context *ctx, unsigned category, const char *format,
           ...)
{
    char line[1024];
    va_list list;
    if (!ctx || !(ctx->trace & category))
        return;
    va_start(list, format);
    vsnprintf(line, sizeof line, format, list);
    va_end(list);
    if (ctx->logger)
        ctx->logger(ctx->logger_data, CLXENT_LOG_DEBUG, line);
    else
        fprintf(stderr, "clxent: %s\n", line);
}

void clear_error(clxent_context *ctx)
{
    memset(&ctx->last_error, 0, sizeof ctx->last_error);
    ctx->last_error.index = -1;
}

clxent_status fail(clxent_context *ctx, clxent_status status,
                   const char *format, ...)
{
    va_list list;
    if (!ctx)
        return status;
    ctx->last_error.status = status;
    ctx->last_error.opencl_code = 0;
    ctx->last_error.index = -1;
    va_start(list, format);
    vsnprintf(ctx->last_error.message, sizeof ctx->last_error.message, format,
              list);
    va_end(list);
    log_message(ctx, CLXENT_LOG_ERROR, "%s", ctx->last_error.message);
    return status;
}

clxent_status fail_opencl(clxent_context *ctx, cl_int code, const char *what)
{
    clxent_status status = CLXENT_ERROR_OPENCL;
    if (code == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
        code == CL_OUT_OF_RESOURCES || code == CL_OUT_OF_HOST_MEMORY ||
        code == CL_INVALID_BUFFER_SIZE)
        status = CLXENT_ERROR_OUT_OF_MEMORY;
    fail(ctx, status, "%s failed with OpenCL error %d", what, (int)code);
    if (ctx)
        ctx->last_error.opencl_code = code;
    return status;
}

void clxent_last_error(const clxent_context *context, clxent_error *error)
{
    if (!error)
        return;
    if (!context) {
        memset(error, 0, sizeof *error);
        error->index = -1;
        return;
    }
    *error = context->last_error;
}
