/* A test target for code work (signatures, "what this instruction accesses", patches).
 * `health` (a .data global) changes only in take_damage(); 50 heap objects are touched by
 * touch_all(). Built as is and with -DMOVED (code inserted before take_damage, so every offset
 * moves) to stand for the next version of the program.
 * Commands on stdin, "ok" after each: "d" one take_damage(1); "a" touch_all() once;
 * "t N" start N threads calling take_damage in a loop; "s" stop them; "w" start a thread
 * spinning on one instruction (spin()); "q" exit.
 * Prints "ready <&health> <objects> <n> <spin>" first. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define OBJECTS 50

struct enemy {
    uint64_t id;
    int32_t hp;
    float x, y;
};

int32_t health = 1000000;
struct enemy *enemies[OBJECTS];
static atomic_int running;

#ifdef MOVED
/* The next version: a new function before take_damage moves every later offset. */
__attribute__((noinline)) int32_t armour(int32_t n) {
    volatile int32_t a = n;
    for (int i = 0; i < 7; i++) a = a * 3 + i;
    return a;
}
#endif

__attribute__((noinline)) void take_damage(int32_t n) { health -= n; }

__attribute__((noinline)) void touch_all(void) {
    for (int i = 0; i < OBJECTS; i++) enemies[i]->hp += 1;
}

__attribute__((noinline)) void spin(void) {
    __asm__ volatile("1: jmp 1b");
}

static void *hammer(void *arg) {
    (void)arg;
    while (atomic_load(&running)) take_damage(1);
    return NULL;
}

static void *spinner(void *arg) {
    (void)arg;
    spin();
    return NULL;
}

int main(void) {
    for (int i = 0; i < OBJECTS; i++) {
        enemies[i] = calloc(1, sizeof(struct enemy));
        enemies[i]->id = (uint64_t)i;
        enemies[i]->hp = 100 + i;
    }
    printf("ready %p %p %d %p\n", (void *)&health, (void *)enemies, OBJECTS, (void *)spin);
    fflush(stdout);
    pthread_t threads[16];
    int started = 0;
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'd') {
            take_damage(1);
        } else if (line[0] == 'a') {
            touch_all();
        } else if (line[0] == 't') {
            int n = atoi(line + 1);
            atomic_store(&running, 1);
            for (; started < n && started < 16; started++)
                pthread_create(&threads[started], NULL, hammer, NULL);
        } else if (line[0] == 's') {
            atomic_store(&running, 0);
            for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
            started = 0;
        } else if (line[0] == 'w') {
            pthread_t t;
            pthread_create(&t, NULL, spinner, NULL);
        } else if (line[0] == 'q') {
            return 0;
        }
        printf("ok\n");
        fflush(stdout);
    }
    return 0;
}
