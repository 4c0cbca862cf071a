/*
 * clxent: crossentropy losses, their gradients and accuracy counts as
 * OpenCL kernels, on any vendor's GPU or on the CPU through POCL.
 *
 * The whole public API is in this header. Every fallible function returns
 * a clxent_status; a failed call leaves the context usable and the
 * caller's inputs unchanged, and clxent_last_error() tells the details.
 */
#ifndef CLXENT_H
#define CLXENT_H

#define CLXENT_VERSION_MAJOR 0
#define CLXENT_VERSION_MINOR 1
#define CLXENT_VERSION_PATCH 0

/* OpenCL 1.2 is the floor, so that older GPUs and drivers work. */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#ifdef __APPLE__
#include <OpenCL/opencl.h>
#else
#include <CL/cl.h>
#endif

#include <stddef.h>
#include <stdint.h>

#if defined(CLXENT_BUILDING_LIBRARY) && defined(__GNUC__)
#define CLXENT_API __attribute__((visibility("default")))
#else
#define CLXENT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Statuses. One list generates the enum and clxent_status_string().
 * OpenCL failures are CLXENT_ERROR_OPENCL; the OpenCL code itself is in
 * clxent_error.opencl_code.
 */
#define CLXENT_STATUS_LIST(X)                                                  \
    X(CLXENT_OK, 0, "success")                                                 \
    X(CLXENT_ERROR_NULL_ARGUMENT, -1, "a required pointer or buffer is NULL")  \
    X(CLXENT_ERROR_INVALID_SHAPE, -2,                                          \
      "rows, classes or spatial size is zero or does not fit the loss")        \
    X(CLXENT_ERROR_SIZE_OVERFLOW, -3, "the shape's sizes overflow size_t")     \
    X(CLXENT_ERROR_BUFFER_TOO_SMALL, -4,                                       \
      "a buffer, from its offset on, is smaller than the shape needs")         \
    X(CLXENT_ERROR_INVALID_LOSS, -5, "unknown loss kind")                      \
    X(CLXENT_ERROR_INVALID_REDUCTION, -6, "unknown reduction")                 \
    X(CLXENT_ERROR_INVALID_OPTION, -7, "a loss option is out of range")        \
    X(CLXENT_ERROR_UNSUPPORTED_DTYPE, -8,                                      \
      "the storage or label type is not supported for this loss")              \
    X(CLXENT_ERROR_INVALID_LABEL, -9,                                          \
      "a label is outside [0, classes) and is not the ignored class")          \
    X(CLXENT_ERROR_INVALID_TARGET, -10,                                        \
      "a target is outside [0, 1] or is NaN")                                  \
    X(CLXENT_ERROR_NON_FINITE_INPUT, -11, "an input value is NaN or infinite") \
    X(CLXENT_ERROR_INVALID_SELECTOR, -12, "the device selector is malformed")  \
    X(CLXENT_ERROR_NO_DEVICE, -13, "no OpenCL device matches the selector")    \
    X(CLXENT_ERROR_NO_DOUBLE_SUPPORT, -14,                                     \
      "the device does not support double precision")                          \
    X(CLXENT_ERROR_OUT_OF_MEMORY, -15,                                         \
      "a host or device allocation failed or exceeds the device's limits")     \
    X(CLXENT_ERROR_BUILD_FAILED, -16,                                          \
      "an OpenCL program failed to build; the log went to the logger")         \
    X(CLXENT_ERROR_OPENCL, -17, "an OpenCL call failed")                       \
    X(CLXENT_ERROR_NOT_AVAILABLE, -18,                                         \
      "the feature was not built into this library")                           \
    X(CLXENT_ERROR_CLBLAST, -19, "a CLBlast call failed")                      \
    X(CLXENT_ERROR_INVALID_BUFFER, -20,                                        \
      "a buffer is not a valid memory object of the context's OpenCL context")

typedef enum clxent_status {
#define CLXENT_STATUS_ENUM_(name, value, text) name = value,
    CLXENT_STATUS_LIST(CLXENT_STATUS_ENUM_)
#undef CLXENT_STATUS_ENUM_
} clxent_status;

/* A fixed English sentence for any status; never NULL. */
CLXENT_API const char *clxent_status_string(clxent_status status);

/* "MAJOR.MINOR.PATCH" of the library actually linked. */
CLXENT_API const char *clxent_version_string(void);

/* ------------------------------------------------------------------ */
/* Logging                                                             */

typedef enum clxent_log_level {
    CLXENT_LOG_ERROR = 0,
    CLXENT_LOG_WARNING = 1,
    CLXENT_LOG_INFO = 2,
    CLXENT_LOG_DEBUG = 3
} clxent_log_level;

/*
 * The library never prints. Messages go to this callback, one line each,
 * without a trailing newline. It may be called from the thread that made
 * the clxent call only.
 */
typedef void (*clxent_logger)(void *user_data, clxent_log_level level,
                              const char *message);

/* ------------------------------------------------------------------ */
/* Devices                                                             */

/*
 * Device selectors, the same grammar in clxent_settings.device, the
 * CLXENT_DEVICE environment variable and `cltool --device`:
 *   "P:D"   platform index P, device index D (as `cltool devices` lists)
 *   "gpu"   GPU devices; "cpu" CPU devices
 *   "all"   every device
 *   text    devices whose name contains text, ignoring case
 * The default (NULL, empty or "default") is the first GPU, else the first
 * CPU, else the first device of any type.
 */
typedef struct clxent_device_entry {
    unsigned platform_index;
    unsigned device_index;
    cl_platform_id platform;
    cl_device_id device;
} clxent_device_entry;

/*
 * Lists the devices that `selector` matches, in platform then device
 * order. Writes at most `capacity` entries (entries may be NULL when
 * capacity is 0) and the number that matched to *count.
 * Returns CLXENT_OK, CLXENT_ERROR_NULL_ARGUMENT, CLXENT_ERROR_INVALID_SELECTOR,
 * CLXENT_ERROR_NO_DEVICE (nothing matched, *count is 0) or
 * CLXENT_ERROR_OPENCL.
 */
CLXENT_API clxent_status clxent_find_devices(const char *selector,
                                             clxent_device_entry *entries,
                                             size_t capacity, size_t *count);

/* ------------------------------------------------------------------ */
/* Context                                                             */

typedef struct clxent_context clxent_context;

typedef struct clxent_settings {
    /* Device selector; NULL reads CLXENT_DEVICE, then the default. */
    const char *device;
    /*
     * An application's queue to adopt: the context then works on that
     * queue's device and OpenCL context, and retains the queue. `device`
     * is ignored. NULL: the context creates its own context and queue.
     */
    cl_command_queue queue;
    /* Create the own queue with profiling enabled (for benchmarks). */
    int enable_profiling;
    /* Where messages go; NULL drops them. */
    clxent_logger logger;
    void *logger_data;
    /* Messages above this level are dropped. Default CLXENT_LOG_WARNING. */
    clxent_log_level log_level;
    /* Room to grow without breaking the ABI; leave zero. */
    uint64_t reserved[8];
} clxent_settings;

CLXENT_API void clxent_default_settings(clxent_settings *settings);

/*
 * Opens a context on one device. On failure *context is NULL.
 *
 * Threads: a context is used by one thread at a time (calls on it are not
 * locked, and its logger is called from the calling thread); contexts
 * are independent, so different threads may open, use and close their
 * own contexts in parallel, on the same device or not. Whether parallel
 * contexts truly run in parallel is up to the OpenCL driver (POCL 3.1's
 * 'basic' CPU driver, for one, is not safe for it; 'pthread' is).
 * Returns CLXENT_OK, CLXENT_ERROR_NULL_ARGUMENT, CLXENT_ERROR_INVALID_SELECTOR,
 * CLXENT_ERROR_NO_DEVICE, CLXENT_ERROR_OUT_OF_MEMORY or CLXENT_ERROR_OPENCL.
 */
CLXENT_API clxent_status clxent_open(clxent_context **context,
                                     const clxent_settings *settings);

/* Waits for the context's work, releases it and sets *context to NULL.
 * Accepts NULL and a pointer to NULL. */
CLXENT_API void clxent_close(clxent_context **context);

CLXENT_API cl_context clxent_cl_context(const clxent_context *context);
CLXENT_API cl_command_queue clxent_queue(const clxent_context *context);
CLXENT_API cl_device_id clxent_device(const clxent_context *context);

/* Details of the last failed call on this context. */
typedef struct clxent_error {
    clxent_status status;
    /* The OpenCL (or CLBlast) code when status says so, else 0. */
    int32_t opencl_code;
    /* First bad row (labels) or element (binary targets, non-finite
     * inputs) for the statuses that name one, else -1. */
    int64_t index;
    char message[256];
} clxent_error;

/* Copies the last error (status CLXENT_OK when there was none). */
CLXENT_API void clxent_last_error(const clxent_context *context,
                                  clxent_error *error);

/* ------------------------------------------------------------------ */
/* Losses                                                              */

typedef enum clxent_loss_kind {
    /* Softmax family: rows of `classes` scores. */
    CLXENT_LOSS_CATEGORICAL = 0,        /* dense targets, one-hot or soft */
    CLXENT_LOSS_SPARSE_CATEGORICAL = 1, /* int32 or int64 labels */
    CLXENT_LOSS_CATEGORICAL_FOCAL = 2,  /* dense targets */
    CLXENT_LOSS_SPARSE_CATEGORICAL_FOCAL = 3,
    /* Sigmoid family: `classes` independent outputs per row. */
    CLXENT_LOSS_BINARY = 4,
    CLXENT_LOSS_BINARY_FOCAL = 5,
    CLXENT_LOSS_KIND_COUNT = 6
} clxent_loss_kind;

typedef enum clxent_reduction {
    CLXENT_REDUCTION_NONE = 0,          /* one loss per row (or element) */
    CLXENT_REDUCTION_SUM = 1,           /* sum of row losses */
    CLXENT_REDUCTION_MEAN = 2,          /* sum / rows not ignored */
    CLXENT_REDUCTION_WEIGHTED_MEAN = 3, /* sum / sum of applied weights */
    CLXENT_REDUCTION_COUNT = 4
} clxent_reduction;

typedef enum clxent_dtype {
    CLXENT_F32 = 0,
    CLXENT_F16 = 1,  /* storage only, float math (not yet built) */
    CLXENT_BF16 = 2, /* storage only, float math (not yet built) */
    CLXENT_F64 = 3,  /* not yet built */
    CLXENT_I32 = 4,  /* labels */
    CLXENT_I64 = 5,  /* labels */
    CLXENT_DTYPE_COUNT = 6
} clxent_dtype;

/*
 * A loss. Start from clxent_loss_defaults(kind): the defaults are Keras's.
 * Every field must hold a valid value, also where the kind does not use
 * it; options that cannot apply (z_loss or logit_cap on probabilities or
 * on the sigmoid family) are refused with CLXENT_ERROR_INVALID_OPTION.
 */
typedef struct clxent_loss {
    clxent_loss_kind kind;
    clxent_reduction reduction; /* MEAN (Keras "sum_over_batch_size") */
    int from_logits;            /* 0: inputs are probabilities (Keras) */
    float epsilon;              /* 1e-7: probabilities clip to [eps, 1-eps] */
    float label_smoothing;      /* 0, in [0, 1] */
    int use_ignore_class;       /* 0; sparse kinds only */
    int64_t ignore_class;       /* -100 (PyTorch); rows with it count 0 */
    /* A mean over no rows is 0, or NaN when this is set. */
    int empty_mean_is_nan;
    /* Report the first NaN or infinite input as an error (costs a pass). */
    int check_finite;

    /* Focal kinds. */
    float gamma; /* 2, >= 0; 0 gives plain crossentropy (times alpha) */
    float alpha; /* 0.25, in [0, 1]; per class with class_alpha */
    /* Binary focal: weight positives by alpha and negatives by 1-alpha
     * (Keras apply_class_balancing, default off). */
    int class_balancing;

    /* Softmax family, large-model options (0: off). */
    float z_loss;    /* adds z * logsumexp(x)^2 per row; logits only */
    float logit_cap; /* replaces x by cap * tanh(x / cap); logits only */
    /* Count a row correct when its label is among the top_k scores
     * (ties broken towards the lower index). 1 by default. */
    unsigned top_k;

    /* Sigmoid family. */
    int per_element;  /* 0: row loss is the mean over outputs (Keras);
                         1: one loss per element (PyTorch) */
    int hard_targets; /* 0: targets in [0, 1]; 1: exactly 0 or 1 */
    /* Accuracy threshold; NaN picks 0.5 on probabilities, 0 on logits. */
    float threshold;

    uint64_t reserved[8];
} clxent_loss;

CLXENT_API clxent_loss clxent_loss_defaults(clxent_loss_kind kind);

/*
 * Shapes. Softmax family: `rows` samples of `classes` scores, each
 * followed by `spatial` positions when spatial > 1 (channels-first
 * N x C x S, as in segmentation); a channels-last tensor is rows = N*S,
 * spatial = 1. A loss row is one (sample, position).
 * Sigmoid family: `rows` samples of `classes` outputs; spatial must be 1
 * (flatten anything else into the outputs).
 */
typedef struct clxent_shape {
    size_t rows;
    size_t classes;
    size_t spatial; /* 0 or 1: plain rows */
} clxent_shape;

/* A device buffer and an offset counted in elements of its type. */
typedef struct clxent_buffer {
    cl_mem mem;
    size_t offset;
} clxent_buffer;

/*
 * The arguments of one loss computation on device buffers. Leave unused
 * buffers zero (mem NULL). All weights are float.
 */
typedef struct clxent_device_args {
    clxent_dtype dtype;       /* predictions, dense targets, gradient: F32 */
    clxent_dtype label_dtype; /* sparse kinds: I32 or I64 */

    clxent_buffer predictions; /* logits or probabilities, N x C (x S) */
    clxent_buffer targets;     /* same shape, or one label per loss row */

    clxent_buffer class_weights;   /* optional: C; softmax family */
    clxent_buffer class_alpha;     /* optional: C; categorical focal */
    clxent_buffer sample_weights;  /* optional: one per loss row (N*S) */
    clxent_buffer element_weights; /* optional: N x C; sigmoid family */
    clxent_buffer pos_weight;      /* optional: C; sigmoid family */

    /* Outputs, each optional. */
    clxent_buffer loss;     /* float: 1 value, or one per row with NONE
                               (N*C values for per-element binary) */
    clxent_buffer gradient; /* dtype, the layout of predictions; may be
                               the predictions buffer itself */
    clxent_buffer correct;  /* cl_ulong: rows (or elements) counted correct */

    /* The gradient is d(reduced loss)/d(input) times upstream_scale, and
     * with NONE also times upstream (one float per loss value) if given. */
    float upstream_scale;
    clxent_buffer upstream;
} clxent_device_args;

/* The same arguments as host pointers, for clxent_compute(). */
typedef struct clxent_host_args {
    clxent_dtype dtype;
    clxent_dtype label_dtype;
    const void *predictions;
    const void *targets;
    const float *class_weights;
    const float *class_alpha;
    const float *sample_weights;
    const float *element_weights;
    const float *pos_weight;
    float *loss;
    void *gradient; /* may equal predictions */
    uint64_t *correct;
    float upstream_scale;
    const float *upstream;
} clxent_host_args;

/* Zeroed arguments with upstream_scale 1 and label_dtype I32. */
CLXENT_API clxent_device_args clxent_device_args_defaults(void);
CLXENT_API clxent_host_args clxent_host_args_defaults(void);

/*
 * Enqueues one loss computation on the context's queue, after `wait_list`,
 * and hands back an event for its end in *done (NULL: none).
 *
 * Label and target errors are found on the device: this call returns
 * CLXENT_OK after enqueueing, and the error comes back from the next
 * clxent_finish() on the context. Outputs of bad rows are zero (binary
 * with per_element: of the bad outputs alone), and the reduced loss and
 * the accuracy count leave them out; the gradient of MEAN, written in the
 * pass that finds them, may still count them in its divisor.
 *
 * Returns CLXENT_OK, CLXENT_ERROR_NULL_ARGUMENT, CLXENT_ERROR_INVALID_SHAPE,
 * CLXENT_ERROR_SIZE_OVERFLOW, CLXENT_ERROR_BUFFER_TOO_SMALL,
 * CLXENT_ERROR_INVALID_LOSS, CLXENT_ERROR_INVALID_REDUCTION,
 * CLXENT_ERROR_INVALID_OPTION, CLXENT_ERROR_UNSUPPORTED_DTYPE,
 * CLXENT_ERROR_OUT_OF_MEMORY, CLXENT_ERROR_BUILD_FAILED or
 * CLXENT_ERROR_OPENCL.
 */
CLXENT_API clxent_status
clxent_enqueue(clxent_context *context, const clxent_loss *loss,
               const clxent_shape *shape, const clxent_device_args *args,
               cl_uint wait_count, const cl_event *wait_list, cl_event *done);

/*
 * Waits for everything enqueued on the context and reports the first
 * label or target error found since the last finish:
 * CLXENT_ERROR_INVALID_LABEL, CLXENT_ERROR_INVALID_TARGET or
 * CLXENT_ERROR_NON_FINITE_INPUT with the index in clxent_last_error().
 * Also CLXENT_OK, CLXENT_ERROR_NULL_ARGUMENT or CLXENT_ERROR_OPENCL.
 */
CLXENT_API clxent_status clxent_finish(clxent_context *context);

/*
 * Copies host arrays to the device, computes, copies the outputs back
 * and waits. Returns what clxent_enqueue and clxent_finish return; on a
 * label or target error no output is written.
 */
CLXENT_API clxent_status clxent_compute(clxent_context *context,
                                        const clxent_loss *loss,
                                        const clxent_shape *shape,
                                        const clxent_host_args *args);

/* ------------------------------------------------------------------ */
/* Linear head                                                         */

/*
 * A classifier head, logits = X W^T + b, followed by a loss: its value,
 * its correct count and the gradients of the reduced loss with respect to
 * X, W and b. The logits are made by CLBlast GEMM one chunk of rows at a
 * time, so the full rows x classes logits never exist; the extra device
 * memory is one chunk of logits plus CLBlast's temporary buffer.
 *
 * X is rows x hidden, W classes x hidden, b classes, all row-major F32.
 * Leave unused buffers zero (mem NULL).
 */
typedef struct clxent_head_args {
    clxent_dtype label_dtype; /* sparse kinds: I32 or I64 */

    clxent_buffer inputs;  /* X: rows x hidden */
    clxent_buffer weights; /* W: classes x hidden */
    clxent_buffer bias;    /* b: classes; optional */
    clxent_buffer targets; /* one label per row, or rows x classes */

    /* Optional, as in clxent_device_args (one value per row, or per class,
     * or rows x classes for element_weights). */
    clxent_buffer sample_weights;
    clxent_buffer class_weights;
    clxent_buffer class_alpha;
    clxent_buffer element_weights;
    clxent_buffer pos_weight;

    /* Outputs, each optional, at least one given. */
    clxent_buffer loss;            /* float: as clxent_device_args.loss */
    clxent_buffer correct;         /* cl_ulong: 1 value */
    clxent_buffer input_gradient;  /* dX: rows x hidden */
    clxent_buffer weight_gradient; /* dW: classes x hidden, overwritten */
    clxent_buffer bias_gradient;   /* db: classes, overwritten */

    /* The gradients are of the reduced loss times upstream_scale, and with
     * reduction NONE also times upstream (one float per loss value). */
    float upstream_scale;
    clxent_buffer upstream;

    /* Rows per chunk; 0 chooses them from the device's memory so that a
     * chunk's logits and CLBlast's temporary buffer stay under 192 MiB
     * and an eighth of the device's global memory. */
    size_t chunk_rows;
    /* Classes per GEMM block; 0 chooses them likewise (CLBlast may copy
     * a whole operand, so W is split into blocks when it is large). */
    size_t chunk_classes;
} clxent_head_args;

/* Zeroed arguments with upstream_scale 1 and label_dtype I32. */
CLXENT_API clxent_head_args clxent_head_args_defaults(void);

/*
 * Enqueues the head on the context's queue, after `wait_list`, and hands
 * back an event for its end in *done (NULL: none). The queue must be
 * in order. Results are deterministic: chunks run and are summed in a
 * fixed order.
 *
 * Reductions NONE, SUM and MEAN. MEAN with use_ignore_class and
 * WEIGHTED_MEAN are refused (CLXENT_ERROR_INVALID_OPTION): their
 * denominator depends on the targets of every chunk; use SUM with
 * upstream_scale = 1 / denominator instead.
 *
 * Label and target errors come back from the next clxent_finish(), with
 * the index in the whole batch, as for clxent_enqueue.
 *
 * Returns what clxent_enqueue returns, and CLXENT_ERROR_NOT_AVAILABLE when
 * the library was built without CLBlast, CLXENT_ERROR_CLBLAST with
 * CLBlast's status in clxent_error.opencl_code.
 */
CLXENT_API clxent_status clxent_head_enqueue(
    clxent_context *context, const clxent_loss *loss, size_t rows,
    size_t hidden, size_t classes, const clxent_head_args *args,
    cl_uint wait_count, const cl_event *wait_list, cl_event *done);

#ifdef __cplusplus
}
#endif

#endif /* CLXENT_H */
