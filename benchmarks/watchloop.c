/* Watchpoint benchmark target: prints the address of a global, then for each "N" line on stdin
 * writes the global N times in a tight loop and prints the loop's time in nanoseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile long watched;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void) {
    printf("%p\n", (void *)&watched);
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        long n = strtol(line, NULL, 10);
        long long t = now_ns();
        for (long i = 0; i < n; i++) watched = i;
        printf("%lld\n", now_ns() - t);
        fflush(stdout);
    }
    return 0;
}
