/*
 * Each kernel file is real OpenCL C: it builds on its own, with only its
 * folder on the include path and none of the library's -D defines.
 *
 *   cl_alone FOLDER FILE.cl...
 *
 * Exits 0 when every file builds, 1 with the build log otherwise, 77 (a
 * skip) when there is no OpenCL device.
 */
#include <clxent.h>

#include <stdio.h>
#include <stdlib.h>

static char *read_text(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size;
    if (!file)
        return NULL;
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 &&
        fseek(file, 0, SEEK_SET) == 0 && (text = malloc(size + 1))) {
        text[fread(text, 1, size, file)] = '\0';
    }
    fclose(file);
    return text;
}

static int builds(cl_context context, cl_device_id device, const char *folder,
                  const char *path)
{
    char options[4096];
    cl_int code = CL_SUCCESS;
    const char *text = read_text(path);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 0;
    }
    snprintf(options, sizeof options, "-cl-std=CL1.2 -I %s", folder);
    cl_program program =
        clCreateProgramWithSource(context, 1, &text, NULL, &code);
    if (code == CL_SUCCESS)
        code = clBuildProgram(program, 1, &device, options, NULL, NULL);
    if (code != CL_SUCCESS) {
        /* The whole log: the error comes after every warning. */
        size_t size = 0;
        char *log = NULL;
        clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, NULL,
                              &size);
        if (size > 0 && (log = calloc(size + 1, 1)))
            clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, size,
                                  log, NULL);
        fprintf(stderr, "%s: build failed (%d)\n%s\n", path, (int)code,
                log ? log : "");
        free(log);
    }
    clReleaseProgram(program);
    free((void *)text);
    return code == CL_SUCCESS;
}

int main(int argc, char **argv)
{
    clxent_device_entry entry;
    size_t count = 0;
    cl_int code = CL_SUCCESS;
    int failures = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: cl_alone FOLDER FILE.cl...\n");
        return 2;
    }
    if (clxent_find_devices(getenv("CLXENT_DEVICE"), &entry, 1, &count) !=
        CLXENT_OK)
        return 77;
    cl_context context =
        clCreateContext(NULL, 1, &entry.device, NULL, NULL, &code);
    if (code != CL_SUCCESS)
        return 1;
    for (int i = 2; i < argc; i++)
        failures += !builds(context, entry.device, argv[1], argv[i]);
    clReleaseContext(context);
    printf("%d passed, %d failed\n", argc - 2 - failures, failures);
    return failures ? 1 : 0;
}
