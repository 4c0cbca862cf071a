/*
 * Each kernel file is real OpenCL C: it builds on its own, with only its
 * folder on the include path and none of the library's -D defines.
 *
 *   cl_alone FOLDER FILE.cl...
 *
 * Exits 0 when every file builds, 1 with the build log otherwise, 77 (a
 * skip) when there is no OpenCL device.
 */
#include "cl_build.h"

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
    char *text = read_text(path);
    if (!text) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 0;
    }
    cl_program program = build_source(context, device, text, folder, path);
    free(text);
    if (!program)
        return 0;
    clReleaseProgram(program);
    return 1;
}

int main(int argc, char **argv)
{
    cl_device_id device;
    cl_context context;
    int failures = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: cl_alone FOLDER FILE.cl...\n");
        return 2;
    }
    const int status = open_test_device(&device, &context);
    if (status != 0)
        return status;
    for (int i = 2; i < argc; i++)
        failures += !builds(context, device, argv[1], argv[i]);
    clReleaseContext(context);
    printf("%d passed, %d failed\n", argc - 2 - failures, failures);
    return failures ? 1 : 0;
}
