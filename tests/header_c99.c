/* The public header compiles alone as C99 (the build adds -Wpedantic). */
#include <clxent.h>

int main(void)
{
    clxent_loss loss;
    clxent_shape shape = { 1, 2, 1 };
    (void)loss;
    (void)shape;
    return CLXENT_OK;
}
