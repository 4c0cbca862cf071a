// The public header compiles alone as C++ and links with C linkage.
#include <clxent.h>

int main()
{
    clxent_status status = CLXENT_OK;
    clxent_shape shape = { 1, 2, 1 };
    (void)shape;
    return status == CLXENT_OK ? 0 : 1;
}
