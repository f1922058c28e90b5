/*
 * Benchmark target for scan_bench.py.
 *
 * usage: target MIB K SEED VALUE [NREGIONS [MANY VALUE2 [MANYSTRIDE]]]
 *
 * Maps MIB MiB of anonymous memory in NREGIONS regions (separated by PROT_NONE guard pages so
 * the kernel cannot merge them), fills it with pseudo-random int32 values, none of which lies
 * within BAND of VALUE, and stores VALUE at K distinct aligned slots spread over the memory.
 * No unaligned 4-byte window holds VALUE either (scanmem looks at every byte offset). The slot
 * list lives in a read-only mapping, so no writable memory of this process holds VALUE except
 * the K slots.
 *
 * With MANY > 0, MANY aligned slots of the memory, every MANYSTRIDE-th one (default 1: the first
 * MANY; 4: scattered over four times as much memory) from the start of region 0, going on into
 * the next regions if region 0 is smaller, hold VALUE2, a second value that must lie within
 * BAND of VALUE: so the fill never comes near it either, and inc never touches the block. The K
 * known slots are then spread over the slots after the block. No unaligned window holds VALUE2,
 * and VALUE2 is kept masked like VALUE, so an exact scan of writable memory for VALUE2 finds
 * exactly MANY.
 *
 * Prints "ready PID SLOTS K BYTES MANY" and then answers one stdin command per line:
 *   inc    add 1 to the K known slots and to about 1% of the other aligned slots (one random
 *          slot in each block of 100; slots at 0x7fffffff, 0xffffffff or near VALUE are skipped
 *          so every change is an increase both signed and unsigned, and so are changes that
 *          would make an unaligned window equal VALUE); answers "ok N" with N the number of
 *          other slots changed
 *   reset  store VALUE at the K known slots again; answers "ok 0"
 *   incmany    add 1 to each of the MANY slots of the VALUE2 block; answers "ok"
 *   resetmany  store VALUE2 in the MANY slots again; answers "ok"
 * Exits on stdin EOF or when its parent dies.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define BAND 0x100000u /* fill never comes this close to VALUE */
#define BLOCK 100      /* one "other" slot changes per BLOCK slots on each inc */

static uint64_t rng_state;
/* VALUE is kept masked so that no writable memory of this process holds it outside the slots. */
#define MASK 0xA5A5A5A5u
static volatile uint32_t value_masked, value2_masked;
#define VALUE (value_masked ^ MASK)
#define VALUE2 (value2_masked ^ MASK)

static uint64_t rng(void) {
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static int near_value(uint32_t v) { return v - (VALUE - BAND) <= 2 * BAND; }

/* Overwrite stack left over from setup (parsing, spills) that might hold VALUE. */
static __attribute__((noinline)) void scrub_stack(void) {
    volatile uint8_t junk[1 << 16];
    memset((void *)junk, 0, sizeof junk);
}

/* Does an unaligned 4-byte window starting inside p[0] (offsets 1-3) equal VALUE (or VALUE2,
 * when there is a VALUE2 block)? */
static size_t many, many_stride = 1;
static int window_hit(const uint32_t *p) {
    uint64_t w = (uint64_t)p[1] << 32 | p[0];
    uint32_t v = VALUE, v2 = many ? VALUE2 : VALUE;
    for (int sh = 8; sh < 32; sh += 8)
        if ((uint32_t)(w >> sh) == v || (uint32_t)(w >> sh) == v2) return 1;
    return 0;
}

/* A known slot or a slot of the VALUE2 block (the fill never holds either value). */
static int fixed(uint32_t x) { return x == VALUE || (many && x == VALUE2); }

/* Re-rolls fill slots until no unaligned window of the region equals VALUE (or VALUE2). */
static void clear_windows(uint32_t *p, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        if (!window_hit(p + i)) continue;
        size_t j = fixed(p[i]) ? i + 1 : i; /* never touch a known slot */
        if (fixed(p[j])) continue;
        do p[j] = (uint32_t)rng();
        while (near_value(p[j]));
        i = (i ? i - 1 : 0) - 1; /* re-check the windows around p[j] (wraps to 0 after i++) */
    }
}

static void *map_or_die(size_t len, int prot) {
    void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

/* The target's memory: NREG regions of REG_SLOTS int32 slots, and the sorted known slots. */
static uint32_t **regs;
static size_t nreg, reg_slots, nslots, k;
static uint64_t *known;
#define SLOT(g) (regs[(g) / reg_slots][(g) % reg_slots])

/*
 * Every function that handles VALUE is noinline and scrub_stack() runs after it, so that no
 * copy of VALUE spilled to the stack outlives it (main's own frame never holds it).
 */

/*
 * The VALUE2 block: global slots i * many_stride for i < many. Its loops store through a volatile
 * pointer so that they stay scalar: a vectorised loop leaves VALUE2 in a vector register, which
 * the dynamic linker's lazy binding (xsave) later spills to the stack, below the scrubbed part.
 */
static __attribute__((noinline)) void reset_many(void) {
    uint32_t v2 = VALUE2;
    for (size_t i = 0; i < many; i++) *(volatile uint32_t *)&SLOT(i * many_stride) = v2;
}

/* VALUE2 is near VALUE (so the fill and inc avoid it) but not next to it, and the block's own
 * unaligned windows (and those where it meets a known slot) hold neither value. */
static __attribute__((noinline)) int value2_ok(void) {
    uint32_t v = VALUE, v2 = VALUE2;
    uint32_t pairs[3][2] = {{v2, v2}, {v2, v}, {v, v2}};
    if (!near_value(v2) || v2 - v + 1 <= 2) return 0;
    for (int i = 0; i < 3; i++)
        if (window_hit(pairs[i])) return 0;
    return 1;
}

static __attribute__((noinline)) void inc_many(void) {
    for (size_t i = 0; i < many; i++) *(volatile uint32_t *)&SLOT(i * many_stride) += 1;
}

static __attribute__((noinline)) void fill(void) {
    for (size_t r = 0; r < nreg; r++) {
        uint32_t *p = regs[r];
        for (size_t i = 0; i + 1 < reg_slots; i += 2) {
            uint64_t x = rng();
            uint32_t a = (uint32_t)x, b = (uint32_t)(x >> 32);
            p[i] = near_value(a) ? a ^ 0x80000000u : a;
            p[i + 1] = near_value(b) ? b ^ 0x80000000u : b;
        }
        if (reg_slots & 1) p[reg_slots - 1] = 0;
    }
    for (size_t i = 0; i < k; i++) SLOT(known[i]) = VALUE;
    reset_many();
    for (size_t r = 0; r < nreg; r++) clear_windows(regs[r], reg_slots);
}

static __attribute__((noinline)) void reset(void) {
    for (size_t i = 0; i < k; i++) SLOT(known[i]) = VALUE;
}

/* Returns the number of other slots changed. */
static __attribute__((noinline)) size_t inc(void) {
    size_t changed = 0, ki = 0;
    for (size_t i = 0; i < k; i++) SLOT(known[i]) += 1;
    for (size_t r = 0; r < nreg; r++) {
        for (size_t b = 0; b + BLOCK <= reg_slots; b += BLOCK) {
            size_t off = b + rng() % BLOCK, g = r * reg_slots + off;
            while (ki < k && known[ki] < g) ki++;
            if (ki < k && known[ki] == g) continue;
            uint32_t *s = &regs[r][off];
            if (*s == 0x7fffffffu || *s == 0xffffffffu || near_value(*s)) continue;
            *s += 1;
            if ((off > 0 && window_hit(s - 1)) || (off + 1 < reg_slots && window_hit(s))) {
                *s -= 1;
                continue;
            }
            changed++;
        }
    }
    return changed;
}

int main(int argc, char **argv) {
    if (argc < 5 || argc == 7) {
        fprintf(stderr, "usage: %s MIB K SEED VALUE [NREGIONS [MANY VALUE2 [MANYSTRIDE]]]\n",
                argv[0]);
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return 1;

    size_t mib = strtoull(argv[1], NULL, 10);
    k = strtoull(argv[2], NULL, 10);
    rng_state = strtoull(argv[3], NULL, 10) * 0x9E3779B97F4A7C15ULL + 1;
    value_masked = (uint32_t)strtoull(argv[4], NULL, 0) ^ MASK;
    nreg = argc > 5 ? strtoull(argv[5], NULL, 10) : 8;
    many = argc > 7 ? strtoull(argv[6], NULL, 10) : 0;
    value2_masked = argc > 7 ? (uint32_t)strtoull(argv[7], NULL, 0) ^ MASK : 0;
    many_stride = argc > 8 ? strtoull(argv[8], NULL, 10) : 1;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t total = mib << 20;
    if (nreg == 0 || total / nreg < page) {
        fprintf(stderr, "too many regions for %zu MiB\n", mib);
        return 2;
    }

    /* Regions of equal size (whole pages), each followed by a PROT_NONE guard page. */
    size_t reg_bytes = (total / nreg) / page * page;
    reg_slots = reg_bytes / 4;
    nslots = reg_slots * nreg;
    if (many && !value2_ok()) {
        fprintf(stderr, "VALUE2 must lie within %u of VALUE, more than 1 away from it, and no\n"
                        "unaligned window of two VALUE2 slots (or of VALUE2, VALUE) may equal "
                        "either\n", BAND);
        return 2;
    }
    size_t block = many * many_stride; /* slots the VALUE2 block spans */
    if (many_stride == 0 || block > nslots) {
        fprintf(stderr, "MANY %zu x MANYSTRIDE %zu > %zu slots\n", many, many_stride, nslots);
        return 2;
    }
    if (k > nslots - block) k = nslots - block;
    regs = calloc(nreg, sizeof *regs);
    for (size_t r = 0; r < nreg; r++) {
        uint8_t *base = map_or_die(reg_bytes + page, PROT_READ | PROT_WRITE);
        mprotect(base + reg_bytes, page, PROT_NONE);
        regs[r] = (uint32_t *)base;
    }

    /* K known slots: one per stratum of the global slot range after the VALUE2 block, so they
     * are distinct and sorted; the list is made read-only so that scanners of writable memory
     * skip it. */
    size_t list_bytes = (k * sizeof(uint64_t) + page - 1) / page * page;
    known = list_bytes ? map_or_die(list_bytes, PROT_READ | PROT_WRITE) : NULL;
    for (size_t i = 0, span = nslots - block; i < k; i++) {
        size_t lo = i * span / k, hi = (i + 1) * span / k;
        known[i] = block + lo + rng() % (hi - lo);
    }
    if (list_bytes) mprotect(known, list_bytes, PROT_READ);

    fill();
    scrub_stack();
    printf("ready %d %zu %zu %zu %zu\n", (int)getpid(), nslots, k, reg_bytes * nreg, many);
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        size_t changed = 0;
        int reply_n = 1; /* incmany and resetmany answer a bare "ok" */
        if (strncmp(line, "incmany", 7) == 0) {
            inc_many();
            reply_n = 0;
        } else if (strncmp(line, "resetmany", 9) == 0) {
            reset_many();
            reply_n = 0;
        } else if (strncmp(line, "inc", 3) == 0) {
            changed = inc();
        } else if (strncmp(line, "reset", 5) == 0) {
            reset();
        } else {
            printf("error unknown command\n");
            fflush(stdout);
            continue;
        }
        scrub_stack();
        /* One printf call with a variable format: printf("ok\n") would become puts(), whose
         * first call (lazy binding) pushes registers that may still hold VALUE2 to the stack. */
        printf(reply_n ? "ok %zu\n" : "ok\n", changed);
        fflush(stdout);
    }
    return 0;
}
