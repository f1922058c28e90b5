/* A test target for symbols of a rebuilt binary: `score` after `pad1`, and with -DSHIFT an
 * array before both, so that a rebuild moves `score`. Prints its address, then waits. */
#include <stdio.h>
#include <unistd.h>

#ifdef SHIFT
int shift[64] = {1};
#endif
int pad1[100] = {1};
int score = 4242;

int main(void) {
    printf("ready %p %p\n", (void *)&score, (void *)pad1);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {}
    return pad1[0] + score;
}
