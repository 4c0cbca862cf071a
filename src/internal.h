/* What the library's files share; never installed. */
#ifndef CLXENT_INTERNAL_H
#define CLXENT_INTERNAL_H

#include "clxent.h"

#include <stdarg.h>

/* Programs a context builds: one per (family, storage type). */
typedef enum program_family {
    FAMILY_REDUCE = 0,
    FAMILY_SOFTMAX = 1,
    FAMILY_SIGMOID = 2,
    FAMILY_HEAD = 3,
    FAMILY_COUNT = 4
} program_family;

/* Kernels the library launches; each belongs to one family. */
typedef enum kernel_id {
    KERNEL_REDUCE_ROWS,
    KERNEL_FINALIZE,
    KERNEL_SOFTMAX_ITEMS_DENSE,
    KERNEL_SOFTMAX_GROUPS_DENSE,
    KERNEL_SOFTMAX_ITEMS_INT32,
    KERNEL_SOFTMAX_GROUPS_INT32,
    KERNEL_SOFTMAX_ITEMS_INT64,
    KERNEL_SOFTMAX_GROUPS_INT64,
    KERNEL_SOFTMAX_SPLIT_DENSE,
    KERNEL_SOFTMAX_SPLIT_INT32,
    KERNEL_SOFTMAX_SPLIT_INT64,
    KERNEL_SOFTMAX_LANES_DENSE,
    KERNEL_SOFTMAX_LANES_INT32,
    KERNEL_SOFTMAX_LANES_INT64,
    KERNEL_SIGMOID,
    KERNEL_HEAD_TOTALS,
    KERNEL_HEAD_SHIFT_ERROR,
    KERNEL_COUNT
} kernel_id;

/* How work is laid out on a device: one table, see tuning.c. */
typedef struct work_shape {
    size_t row_lanes;        /* work-items sharing one wide row */
    size_t min_wide_classes; /* rows at least this wide go to a group */
    size_t min_item_rows;    /* unless there are this many: one per item */
    size_t items_group;      /* work-group size of one-row-per-item kernels */
    size_t groups_per_unit;  /* work-groups per compute unit, at most */
    size_t reduce_lanes;     /* work-group size of the reductions */
    size_t reduce_parts;     /* partials of the first reduction, at most */
    int prefetch_rows;       /* vector rows ask for the next row's lines */
    int vector_items;        /* contiguous rows: one row per item always */
    size_t lane_classes;     /* rows in vector lanes, 16 an item: channels-
                                first tensors, and contiguous rows of at
                                most this many classes (0: never) */
    size_t split_groups;     /* few wide rows: split over work-groups until
                                each compute unit has this many (0: never) */
    size_t split_classes;    /* while each lane keeps this many classes */
    size_t flat_outputs;     /* sigmoid flat blocks: outputs a block holds */
    int flat_strided;        /* blocks to a group's items in turn, not in
                                contiguous shares */
} work_shape;

/* What the library asks of its device once, at open. */
typedef struct device_traits {
    int is_gpu;
    int has_fp64;
    int has_fp16;
    cl_uint compute_units;
    size_t max_group_size;
    cl_ulong local_memory;
    cl_ulong max_allocation;
    cl_ulong global_memory;
} device_traits;

/* A device buffer that grows on demand and is reused between calls. */
typedef struct scratch_buffer {
    cl_mem mem;
    size_t bytes;
} scratch_buffer;

/* The per-row arrays the main kernels write and the reductions fold, in
 * kernel argument order, and the partials of the first fold. */
enum { ROW_LOSS, ROW_WEIGHT, ROW_COUNT, ROW_CORRECT, ROW_BAD, ROW_ARRAYS };

typedef struct row_scratch {
    scratch_buffer rows[ROW_ARRAYS]; /* 4 bytes a row each */
    cl_mem parts[ROW_ARRAYS];        /* reduce_parts values of 8 bytes */
    cl_mem scale;                    /* 1 float: 1 / denominator */
    cl_mem error;                    /* 2 longs: status, index */
    scratch_buffer shares;           /* split rows' pass shares */
} row_scratch;

/* Buffers of the linear head, grown on demand like the row arrays. */
enum {
    HEAD_LOGITS,
    HEAD_TEMP,
    HEAD_ONES,
    HEAD_CHUNK_LOSS,
    HEAD_CHUNK_CORRECT,
    HEAD_STATE,
    HEAD_BUFFERS
};

typedef struct head_scratch {
    scratch_buffer buffers[HEAD_BUFFERS];
    size_t ones; /* leading values of HEAD_ONES already set to 1 */
} head_scratch;

struct clxent_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    clxent_logger logger;
    void *logger_data;
    clxent_log_level log_level;
    unsigned trace; /* TRACE_* categories from CLXENT_TRACE */
    device_traits traits;
    work_shape shape;
    cl_program programs[FAMILY_COUNT][CLXENT_DTYPE_COUNT];
    cl_kernel kernels[KERNEL_COUNT][CLXENT_DTYPE_COUNT];
    row_scratch scratch;
    head_scratch head; /* the linear head's buffers (head.c) */
    clxent_error last_error;
};

/* Developer tracing categories, named in CLXENT_TRACE=build,dispatch. */
#define TRACE_BUILD    1u
#define TRACE_DISPATCH 2u
#define TRACE_DEVICE   4u

/* Records the error on the context, logs it and returns its status. */
clxent_status fail(clxent_context *ctx, clxent_status status,
                   const char *format, ...);
/* The same for a failed OpenCL call, keeping its code. */
clxent_status fail_opencl(clxent_context *ctx, cl_int code, const char *what);
void log_message(const clxent_context *ctx, clxent_log_level level,
                 const char *format, ...);
void trace(const clxent_context *ctx, unsigned category, const char *format,
           ...);
unsigned trace_categories(void);
void clear_error(clxent_context *ctx);

/* Devices (device.c). */
clxent_status select_first_device(const char *selector,
                                  clxent_device_entry *entry);
void read_device_traits(cl_device_id device, device_traits *traits);

/* Work shapes (tuning.c). */
void choose_work_shape(const device_traits *traits, work_shape *shape);

/* Programs (program.c). */
clxent_status get_kernel(clxent_context *ctx, kernel_id id, clxent_dtype dtype,
                         cl_kernel *kernel);
void release_programs(clxent_context *ctx);

/* Scratch (scratch.c). */
clxent_status ensure_scratch(clxent_context *ctx, scratch_buffer *buffer,
                             size_t bytes);
clxent_status create_row_scratch(clxent_context *ctx);
clxent_status ensure_row_scratch(clxent_context *ctx, size_t rows);
void release_row_scratch(row_scratch *scratch);
void release_head_scratch(head_scratch *scratch);

/* The sizes of one computation, from its loss and shape (loss.c). */
typedef struct plan {
    size_t rows;        /* loss rows: N*S (softmax) or N (sigmoid) */
    size_t elements;    /* N*C*S */
    size_t loss_values; /* values of the loss output */
    int sparse;
    int sigmoid;
} plan;

/* Checks options, shape and types; fills the plan. */
clxent_status check_request(clxent_context *ctx, const clxent_loss *loss,
                            const clxent_shape *shape, clxent_dtype dtype,
                            clxent_dtype label_dtype, plan *p);
size_t dtype_size(clxent_dtype dtype);

/* Enqueues a 1-D kernel on the context's queue (loss.c). */
clxent_status launch(clxent_context *ctx, cl_kernel kernel, size_t global,
                     size_t local, cl_uint wait_count,
                     const cl_event *wait_list, cl_event *done);
/* A buffer of `count` values of `size` bytes from its offset on; absent
 * is fine unless `required`. */
clxent_status check_buffer(clxent_context *ctx, const clxent_buffer *b,
                           size_t count, size_t size, const char *name,
                           int required);

/* Arguments of a kernel, set in order; the first failure sticks. */
typedef struct kernel_args {
    cl_kernel kernel;
    cl_uint next;
    cl_int status;
} kernel_args;

void arg_value(kernel_args *args, size_t size, const void *value);
void arg_mem(kernel_args *args, cl_mem mem);
void arg_local(kernel_args *args, size_t bytes);
#define ARG(args, value) arg_value((args), sizeof(value), &(value))

#endif
