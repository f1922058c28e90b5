/* A test target for structure dissection: heap objects of several struct types, updated by a
 * game loop thread every millisecond (compiled with -g: the DWARF layouts are the ground truth).
 * An array of entities (world[0] is the player, team 0; the rest are enemies, team 1), a linked
 * list of weapons, and one stats object with a field of every width.
 * Prints "ready <world> <entities> <sizeof(struct entity)> <weapons> <stats>"; commands on
 * stdin, "ok" after each: "p" pause the loop, "r" resume it, "q" exit. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uchar.h>

#define ENTITIES 9

struct vec3 {
    float x, y, z;
};

struct weapon {
    char name[16];
    int32_t damage;
    float cooldown;
    struct weapon *next;
};

struct entity_ops {
    void (*think)(struct entity_ops *);
    void (*hit)(struct entity_ops *, int);
    void (*die)(struct entity_ops *);
};

struct entity {
    const struct entity_ops *ops;
    uint64_t id;
    int32_t hp;
    int16_t level;
    uint8_t team;
    uint8_t alive;
    struct vec3 pos;
    struct vec3 vel;
    double timer;
    uint32_t ticks;
    uint16_t flags;
    const char *name;
    struct weapon *weapon;
    struct entity *target;
    char tag[8];
    int64_t score;
    double speed;
};

struct stats {
    int8_t mood;
    uint8_t lives;
    uint16_t ammo;
    uint32_t frames;
    int64_t balance;
    uint64_t bytes_sent;
    float temperature;
    int32_t kills;
    double elapsed;
    char16_t name16[8];
    void (*on_tick)(void);
};

__attribute__((noinline)) void think(struct entity_ops *o) { (void)o; }
__attribute__((noinline)) void hit(struct entity_ops *o, int n) { (void)o, (void)n; }
__attribute__((noinline)) void die(struct entity_ops *o) { (void)o; }
__attribute__((noinline)) void stats_tick(void) {}

static const struct entity_ops ENTITY_OPS = {think, hit, die};
static const char *NAMES[ENTITIES] = {"Player", "Grunt", "Grunt", "Sniper", "Brute",
                                      "Grunt", "Medic", "Scout", "Boss"};

struct entity *world;
struct weapon *weapons;
struct stats *stats;
static atomic_int paused;

static void tick(void) {
    for (int i = 0; i < ENTITIES; i++) {
        struct entity *e = &world[i];
        e->ticks++;
        e->timer += 0.016;
        e->pos.x += e->vel.x;
        e->pos.y += e->vel.y;
        e->pos.z += e->vel.z;
        if (e->ticks % 7 == 0) e->hp -= 1 + (int32_t)(e->ticks % 3);
        if (e->hp < 10) e->hp = 100 + (int32_t)e->id;
        if (e->ticks % 50 == 0) e->flags ^= (uint16_t)(1u << (e->ticks / 50 % 3));
        e->score += e->ticks % 5;
    }
    struct stats *s = stats;
    s->frames++;
    s->mood = (int8_t)(s->frames / 20 % 11) - 5;
    if (s->frames % 3 == 0) s->ammo = s->ammo ? s->ammo - 1 : 300;
    s->balance -= 3;
    s->bytes_sent += 1500;
    s->temperature = 20.0f + 5.0f * sinf((float)s->frames / 100.0f);
    if (s->frames % 40 == 0) s->kills++;
    s->elapsed += 0.001;
}

static void *loop(void *arg) {
    (void)arg;
    struct timespec ms = {0, 1000000};
    for (;;) {
        if (!atomic_load(&paused)) tick();
        nanosleep(&ms, NULL);
    }
    return NULL;
}

int main(void) {
    world = calloc(ENTITIES, sizeof(struct entity));
    for (int i = 2; i >= 0; i--) {
        struct weapon *w = calloc(1, sizeof *w);
        snprintf(w->name, sizeof w->name, "%s", (const char *[]){"Pistol", "Rifle", "Rocket"}[i]);
        w->damage = 10 * (i + 1);
        w->cooldown = 0.25f * (float)(i + 1);
        w->next = weapons;
        weapons = w;
    }
    for (int i = 0; i < ENTITIES; i++) {
        struct entity *e = &world[i];
        e->ops = &ENTITY_OPS;
        e->id = 1000 + (uint64_t)i * 7;
        e->hp = 100 + 10 * i;
        e->level = (int16_t)(1 + i % 4);
        e->team = i == 0 ? 0 : 1;
        e->alive = 1;
        e->pos = (struct vec3){10.0f * (float)i, 2.5f, -4.0f * (float)i};
        e->vel = (struct vec3){0.01f * (float)(i + 1), 0.002f, -0.005f * (float)(i + 2)};
        e->timer = 0.5 * i;
        e->flags = 0x10;
        e->name = NAMES[i];
        e->weapon = weapons;
        e->target = &world[i == 0 ? 1 : 0];
        snprintf(e->tag, sizeof e->tag, "%s%d", i == 0 ? "P" : "E", i);
        e->score = 5000000000LL + 1000 * i;
        e->speed = 3.75 + i;
    }
    stats = calloc(1, sizeof *stats);
    stats->lives = 3;
    stats->ammo = 300;
    stats->balance = -250000;
    stats->bytes_sent = 0x27a3f1c00ULL; /* past 2^32, as 64-bit counters get */
    const char *n = "Arena";
    for (int i = 0; n[i]; i++) stats->name16[i] = (char16_t)n[i];
    stats->on_tick = stats_tick;

    pthread_t t;
    pthread_create(&t, NULL, loop, NULL);
    printf("ready %p %d %zu %p %p\n", (void *)world, ENTITIES, sizeof(struct entity),
           (void *)weapons, (void *)stats);
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'p') {
            atomic_store(&paused, 1);
            struct timespec settle = {0, 3000000};
            nanosleep(&settle, NULL);
        } else if (line[0] == 'r') {
            atomic_store(&paused, 0);
        } else if (line[0] == 'q') {
            return 0;
        }
        printf("ok\n");
        fflush(stdout);
    }
    return 0;
}
