/*
 * For the test tools that build OpenCL C themselves (cl_alone, cl_math):
 * the device CLXENT_DEVICE names, and a build with its whole log.
 */
#ifndef CLXENT_TESTS_CL_BUILD_H
#define CLXENT_TESTS_CL_BUILD_H

#include <clxent.h>

/* A context on the device that CLXENT_DEVICE selects (the default
 * device without it). Returns 0, or the tool's exit status: 77 (a skip)
 * when there is no OpenCL device, 1 when the context fails. */
int open_test_device(cl_device_id *device, cl_context *context);

/* Builds `source` for `device` with `folder` on the include path. On
 * failure prints `what`, the code and the whole build log (the error
 * comes after every warning) to stderr and returns NULL. */
cl_program build_source(cl_context context, cl_device_id device,
                        const char *source, const char *folder,
                        const char *what);

#endif
