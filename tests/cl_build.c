#include "cl_build.h"

#include <stdio.h>
#include <stdlib.h>

int open_test_device(cl_device_id *device, cl_context *context)
{
    clxent_device_entry entry;
    size_t count = 0;
    cl_int code = CL_SUCCESS;
    if (clxent_find_devices(getenv("CLXENT_DEVICE"), &entry, 1, &count) !=
        CLXENT_OK)
        return 77;
    *device = entry.device;
    *context = clCreateContext(NULL, 1, device, NULL, NULL, &code);
    return code == CL_SUCCESS ? 0 : 1;
}

cl_program build_source(cl_context context, cl_device_id device,
                        const char *source, const char *folder,
                        const char *what)
{
    char options[4096];
    cl_int code = CL_SUCCESS;
    snprintf(options, sizeof options, "-cl-std=CL1.2 -I %s", folder);
    cl_program program =
        clCreateProgramWithSource(context, 1, &source, NULL, &code);
    if (code == CL_SUCCESS)
        code = clBuildProgram(program, 1, &device, options, NULL, NULL);
    if (code == CL_SUCCESS)
        return program;
    size_t size = 0;
    char *log = NULL;
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, NULL,
                          &size);
    if (size > 0 && (log = calloc(size + 1, 1)))
        clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, size, log,
                              NULL);
    fprintf(stderr, "%s: build failed (%d)\n%s\n", what, (int)code,
            log ? log : "");
    free(log);
    if (program)
        clReleaseProgram(program);
    return NULL;
}
