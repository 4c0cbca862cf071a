/* Device selectors ("P:D", gpu, cpu, all, a name) and device queries. */
#include "internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES   64

typedef enum selector_kind {
    SELECT_DEFAULT,
    SELECT_ALL,
    SELECT_INDEX,
    SELECT_TYPE,
    SELECT_NAME
} selector_kind;

typedef struct selector {
    selector_kind kind;
    unsigned platform_index;
    unsigned device_index;
    cl_device_type type;
    const char *name;
} selector;

static int equals_ignoring_case(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

static int contains_ignoring_case(const char *text, const char *part)
{
    const size_t length = strlen(part);
    for (; *text; text++) {
        size_t i = 0;
        while (i < length && tolower((unsigned char)text[i]) ==
                                 tolower((unsigned char)part[i]))
            i++;
        if (i == length)
            return 1;
    }
    return length == 0;
}

/* "P:D" with both parts plain decimal numbers. */
static int parse_index(const char *text, unsigned *platform, unsigned *device)
{
    char *end;
    if (!isdigit((unsigned char)text[0]))
        return 0;
    const unsigned long p = strtoul(text, &end, 10);
    if (*end != ':' || !isdigit((unsigned char)end[1]))
        return 0;
    const unsigned long d = strtoul(end + 1, &end, 10);
    if (*end != '\0' || p > 1000 || d > 1000)
        return 0;
    *platform = (unsigned)p;
    *device = (unsigned)d;
    return 1;
}

static clxent_status parse_selector(const char *text, selector *out)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text || equals_ignoring_case(text, "default")) {
        out->kind = SELECT_DEFAULT;
        return CLXENT_OK;
    }
    if (equals_ignoring_case(text, "all")) {
        out->kind = SELECT_ALL;
    } else if (equals_ignoring_case(text, "gpu")) {
        out->kind = SELECT_TYPE;
        out->type = CL_DEVICE_TYPE_GPU;
    } else if (equals_ignoring_case(text, "cpu")) {
        out->kind = SELECT_TYPE;
        out->type = CL_DEVICE_TYPE_CPU;
    } else if (parse_index(text, &out->platform_index, &out->device_index)) {
        out->kind = SELECT_INDEX;
    } else if (strchr(text, ':') && isdigit((unsigned char)text[0])) {
        return CLXENT_ERROR_INVALID_SELECTOR; /* a broken "P:D" */
    } else {
        out->kind = SELECT_NAME;
        out->name = text;
    }
    return CLXENT_OK;
}

static int matches(const selector *s, const clxent_device_entry *entry)
{
    cl_device_type type = 0;
    char name[256] = "";
    switch (s->kind) {
    case SELECT_ALL:
    case SELECT_DEFAULT:
        return 1;
    case SELECT_INDEX:
        return entry->platform_index == s->platform_index &&
               entry->device_index == s->device_index;
    case SELECT_TYPE:
        clGetDeviceInfo(entry->device, CL_DEVICE_TYPE, sizeof type, &type,
                        NULL);
        return (type & s->type) != 0;
    case SELECT_NAME:
        clGetDeviceInfo(entry->device, CL_DEVICE_NAME, sizeof name - 1, name,
                        NULL);
        return contains_ignoring_case(name, s->name);
    }
    return 0;
}

/*
 * Device discovery is serialised across the process: POCL 3.1 sets its
 * devices up inside the first clGetDeviceIDs without a lock, and threads
 * that open contexts at the same moment then see no device or only some.
 */
static pthread_mutex_t discovery = PTHREAD_MUTEX_INITIALIZER;

/* Every device of every platform, in index order. */
static size_t list_all_locked(clxent_device_entry *all, size_t capacity)
{
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint platform_count = 0;
    size_t count = 0;
    if (clGetPlatformIDs(MAX_PLATFORMS, platforms, &platform_count) !=
        CL_SUCCESS)
        return 0;
    for (cl_uint p = 0; p < platform_count && p < MAX_PLATFORMS; p++) {
        cl_device_id devices[MAX_DEVICES];
        cl_uint device_count = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES,
                           devices, &device_count) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < device_count && count < capacity; d++) {
            const clxent_device_entry entry = { p, d, platforms[p],
                                                devices[d] };
            all[count++] = entry;
        }
    }
    return count;
}

static size_t list_all(clxent_device_entry *all, size_t capacity)
{
    pthread_mutex_lock(&discovery);
    const size_t count = list_all_locked(all, capacity);
    pthread_mutex_unlock(&discovery);
    return count;
}

/* The default: the first GPU, else the first CPU, else the first device. */
static const clxent_device_entry *default_device(const clxent_device_entry *all,
                                                 size_t count)
{
    const cl_device_type order[] = { CL_DEVICE_TYPE_GPU, CL_DEVICE_TYPE_CPU,
                                     CL_DEVICE_TYPE_ALL };
    for (size_t o = 0; o < sizeof order / sizeof order[0]; o++) {
        for (size_t i = 0; i < count; i++) {
            cl_device_type type = 0;
            clGetDeviceInfo(all[i].device, CL_DEVICE_TYPE, sizeof type, &type,
                            NULL);
            if (type & order[o])
                return &all[i];
        }
    }
    return NULL;
}

clxent_status clxent_find_devices(const char *selector_text,
                                  clxent_device_entry *entries, size_t capacity,
                                  size_t *count)
{
    clxent_device_entry all[MAX_PLATFORMS * 4];
    selector s;
    if (!count || (capacity && !entries))
        return CLXENT_ERROR_NULL_ARGUMENT;
    *count = 0;
    if (parse_selector(selector_text, &s) != CLXENT_OK)
        return CLXENT_ERROR_INVALID_SELECTOR;

    const size_t total = list_all(all, sizeof all / sizeof all[0]);
    if (s.kind == SELECT_DEFAULT) {
        const clxent_device_entry *chosen = default_device(all, total);
        if (!chosen)
            return CLXENT_ERROR_NO_DEVICE;
        if (capacity)
            entries[0] = *chosen;
        *count = 1;
        return CLXENT_OK;
    }
    for (size_t i = 0; i < total; i++) {
        if (!matches(&s, &all[i]))
            continue;
        if (*count < capacity)
            entries[*count] = all[i];
        (*count)++;
    }
    return *count ? CLXENT_OK : CLXENT_ERROR_NO_DEVICE;
}

clxent_status select_first_device(const char *selector_text,
                                  clxent_device_entry *entry)
{
    size_t count = 0;
    if (!selector_text || !*selector_text)
        selector_text = getenv("CLXENT_DEVICE");
    return clxent_find_devices(selector_text, entry, 1, &count);
}

static int has_extension(cl_device_id device, const char *name)
{
    size_t size = 0;
    int found = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) !=
        CL_SUCCESS)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, text, NULL) ==
        CL_SUCCESS) {
        text[size] = '\0';
        found = strstr(text, name) != NULL;
    }
    free(text);
    return found;
}

void read_device_traits(cl_device_id device, device_traits *traits)
{
    cl_device_type type = 0;
    memset(traits, 0, sizeof *traits);
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS,
                    sizeof traits->compute_units, &traits->compute_units, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE,
                    sizeof traits->max_group_size, &traits->max_group_size,
                    NULL);
    clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE,
                    sizeof traits->local_memory, &traits->local_memory, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE,
                    sizeof traits->max_allocation, &traits->max_allocation,
                    NULL);
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE,
                    sizeof traits->global_memory, &traits->global_memory, NULL);
    traits->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    traits->has_fp64 = has_extension(device, "cl_khr_fp64");
    traits->has_fp16 = has_extension(device, "cl_khr_fp16");
    if (traits->compute_units == 0)
        traits->compute_units = 1;
    if (traits->max_group_size == 0)
        traits->max_group_size = 1;
}
