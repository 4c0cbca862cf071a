/* Device selection and `cltool devices`. */
#include "cltool.h"

#include <stdlib.h>
#include <string.h>

/* Every device at all; fails with EXIT_NO_DEVICE when there is none, so
 * that an empty machine is told apart from a selector that misses. */
static int find_all(clxent_device_entry **entries, size_t *count)
{
    size_t total = 0;
    clxent_status status = clxent_find_devices("all", NULL, 0, &total);
    if (status == CLXENT_ERROR_NO_DEVICE || total == 0) {
        fprintf(stderr, "cltool: no OpenCL device found (is an OpenCL "
                        "driver installed and registered with the ICD "
                        "loader?)\n");
        return EXIT_NO_DEVICE;
    }
    *entries = calloc(total, sizeof **entries);
    if (!*entries)
        return EXIT_FAILED;
    status = clxent_find_devices("all", *entries, total, count);
    if (status != CLXENT_OK) {
        fprintf(stderr, "cltool: listing devices: %s\n",
                clxent_status_string(status));
        free(*entries);
        return status == CLXENT_ERROR_NO_DEVICE ? EXIT_NO_DEVICE : EXIT_FAILED;
    }
    return EXIT_PASSED;
}

int select_devices(const char *selector, command cmd,
                   clxent_device_entry **entries, size_t *count)
{
    const int status = find_all(entries, count);
    if (status != EXIT_PASSED || !selector)
        return status;
    free(*entries);
    *entries = NULL;

    size_t matched = 0;
    clxent_status found = clxent_find_devices(selector, NULL, 0, &matched);
    if (found == CLXENT_ERROR_INVALID_SELECTOR) {
        fprintf(stderr, "cltool: malformed device selector '%s'\n", selector);
        print_usage(stderr, cmd);
        return EXIT_USAGE;
    }
    if (found == CLXENT_ERROR_NO_DEVICE) {
        fprintf(stderr,
                "cltool: no device matches '%s' (see `cltool "
                "devices`)\n",
                selector);
        return EXIT_NO_MATCH;
    }
    *entries = calloc(matched ? matched : 1, sizeof **entries);
    if (!*entries)
        return EXIT_FAILED;
    found = clxent_find_devices(selector, *entries, matched, count);
    if (found != CLXENT_OK) {
        fprintf(stderr, "cltool: selecting '%s': %s\n", selector,
                clxent_status_string(found));
        free(*entries);
        return EXIT_FAILED;
    }
    return EXIT_PASSED;
}

static void device_string(cl_device_id device, cl_device_info what, char *text,
                          size_t size)
{
    text[0] = '\0';
    if (clGetDeviceInfo(device, what, size - 1, text, NULL) != CL_SUCCESS)
        strcpy(text, "?");
    text[size - 1] = '\0';
}

static int has_extension(cl_device_id device, const char *name)
{
    size_t size = 0;
    int found = 0;
    if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) !=
        CL_SUCCESS)
        return 0;
    char *text = calloc(size + 1, 1);
    if (text && clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, text,
                                NULL) == CL_SUCCESS)
        found = strstr(text, name) != NULL;
    free(text);
    return found;
}

static const char *type_name(cl_device_type type)
{
    if (type & CL_DEVICE_TYPE_GPU)
        return "gpu";
    if (type & CL_DEVICE_TYPE_CPU)
        return "cpu";
    if (type & CL_DEVICE_TYPE_ACCELERATOR)
        return "accelerator";
    if (type & CL_DEVICE_TYPE_CUSTOM)
        return "custom";
    return "other";
}

void read_device_info(const clxent_device_entry *entry, device_info *info)
{
    const cl_device_id device = entry->device;
    cl_device_type type = 0;
    memset(info, 0, sizeof *info);
    snprintf(info->index, sizeof info->index, "%u:%u", entry->platform_index,
             entry->device_index);
    device_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(device, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
    info->platform[0] = '\0';
    clGetPlatformInfo(entry->platform, CL_PLATFORM_NAME,
                      sizeof info->platform - 1, info->platform, NULL);
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = type_name(type);
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS,
                    sizeof info->compute_units, &info->compute_units, NULL);
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE,
                    sizeof info->global_memory, &info->global_memory, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE,
                    sizeof info->max_allocation, &info->max_allocation, NULL);
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE,
                    sizeof info->cache_size, &info->cache_size, NULL);
    info->has_double = has_extension(device, "cl_khr_fp64");
    info->has_half = has_extension(device, "cl_khr_fp16");
}

static double mebibytes(cl_ulong bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void print_table(const device_info *infos, size_t count)
{
    const char *platform = NULL;
    printf("%-5s %-34s %-20s %-5s %-12s %5s %11s %11s %-6s %s\n", "P:D", "name",
           "vendor", "type", "driver", "units", "memory MiB", "alloc MiB",
           "double", "half");
    for (size_t i = 0; i < count; i++) {
        const device_info *d = &infos[i];
        if (!platform || strcmp(platform, d->platform) != 0)
            printf("platform %.*s: %s\n", (int)strcspn(d->index, ":"), d->index,
                   d->platform);
        platform = d->platform;
        printf("%-5s %-34.34s %-20.20s %-5s %-12.12s %5u %11.0f %11.0f "
               "%-6s %s\n",
               d->index, d->name, d->vendor, d->type, d->driver,
               d->compute_units, mebibytes(d->global_memory),
               mebibytes(d->max_allocation), d->has_double ? "yes" : "no",
               d->has_half ? "yes" : "no");
    }
}

static void print_json(const device_info *infos, size_t count)
{
    printf("{\n  \"schema\": \"clxent-devices\",\n  \"schema_version\": 1,\n"
           "  \"clxent_version\": \"%s\",\n  \"devices\": [",
           clxent_version_string());
    for (size_t i = 0; i < count; i++) {
        const device_info *d = &infos[i];
        printf("%s\n    {\"index\": ", i ? "," : "");
        json_string(stdout, d->index);
        printf(", \"platform\": ");
        json_string(stdout, d->platform);
        printf(", \"name\": ");
        json_string(stdout, d->name);
        printf(", \"vendor\": ");
        json_string(stdout, d->vendor);
        printf(",\n     \"type\": \"%s\", \"driver_version\": ", d->type);
        json_string(stdout, d->driver);
        printf(", \"compute_units\": %u,\n     \"global_memory_bytes\": %llu,"
               " \"max_allocation_bytes\": %llu,\n"
               "     \"global_cache_bytes\": %llu, \"double\": %s, "
               "\"half\": %s}",
               d->compute_units, (unsigned long long)d->global_memory,
               (unsigned long long)d->max_allocation,
               (unsigned long long)d->cache_size,
               d->has_double ? "true" : "false",
               d->has_half ? "true" : "false");
    }
    printf("\n  ]\n}\n");
}

int run_devices(const options *opts)
{
    clxent_device_entry *entries = NULL;
    size_t count = 0;
    const int status = select_devices(NULL, COMMAND_DEVICES, &entries, &count);
    if (status != EXIT_PASSED)
        return status;

    device_info *infos = calloc(count, sizeof *infos);
    if (!infos) {
        free(entries);
        return EXIT_FAILED;
    }
    for (size_t i = 0; i < count; i++)
        read_device_info(&entries[i], &infos[i]);

    if (opts->json)
        print_json(infos, count);
    else
        print_table(infos, count);
    free(infos);
    free(entries);
    return EXIT_PASSED;
}
