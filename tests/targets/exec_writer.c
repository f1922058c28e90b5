/* A test target for watches across exec: a global at a fixed address (built -no-pie), written
 * once per "w" line; "e" execs this same program, which then writes the same global every
 * millisecond: a watch that outlived the exec would record the new program's writes. */
#include <stdio.h>
#include <unistd.h>

volatile long counter;

int main(int argc, char **argv) {
    if (argc > 1) {
        for (;;) {
            counter++;
            usleep(1000);
        }
    }
    printf("ready %p\n", (void *)&counter);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
        if (c == 'w') {
            counter++;
            puts("ok");
            fflush(stdout);
        } else if (c == 'e') {
            execl("/proc/self/exe", argv[0], "again", (char *)0);
        }
    }
    return 0;
}
