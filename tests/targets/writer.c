/* A test target for watchpoints: `health` (a .data global) changes only in take_damage(), on
 * each "d" line from stdin; "s N" writes `counter` N times in a tight loop; "t" starts a thread
 * that writes `counter` 1000 times; "q" exits. Prints the globals' addresses, then "ok" after
 * each command. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int32_t health = 100;
volatile int64_t counter;

__attribute__((noinline)) void take_damage(int32_t n) { health -= n; }

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) counter = counter + 1;
    return NULL;
}

int main(void) {
    printf("ready %p %p\n", (void *)&health, (void *)&counter);
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'd') {
            take_damage(7);
        } else if (line[0] == 's') {
            long n = strtol(line + 1, NULL, 10);
            for (long i = 0; i < n; i++) counter = i;
        } else if (line[0] == 't') {
            pthread_t t;
            pthread_create(&t, NULL, worker, NULL);
            pthread_join(t, NULL);
        } else if (line[0] == 'q') {
            return 0;
        }
        printf("ok\n");
        fflush(stdout);
    }
    return 0;
}
