/* A test target: a .bss global, and a value at the end of a chain of heap objects reached from
 * a global (global -> A -> B -> health), behind decoy allocations of random sizes so that heap
 * addresses differ on every start. Prints "ready" and waits for stdin to close. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct b { char pad[24]; int32_t health; };
struct a { char pad[16]; struct b *b; };

int32_t score;            /* .bss: zero-filled, written at run time */
void *volatile decoy;     /* keeps the decoy allocations from being optimised away */
struct a *root;           /* .bss: the chain's static base */

int main(void) {
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int i = 0, n = rand() % 64; i < n; i++) decoy = malloc(16 + rand() % 4096);
    root = calloc(1, sizeof *root);
    for (int i = 0, n = rand() % 64; i < n; i++) decoy = malloc(16 + rand() % 4096);
    root->b = calloc(1, sizeof *root->b);
    root->b->health = 777777;
    score = 1234567;
    printf("ready %p %p\n", (void *)&score, (void *)&root->b->health);
    fflush(stdout);
    char buf[16];
    while (read(0, buf, sizeof buf) > 0) {}
    return 0;
}
