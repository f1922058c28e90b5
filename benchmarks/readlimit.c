/*
 * The practical speed limit for scan_bench.py: plain C, process_vm_readv, one thread (or
 * THREADS for the first exact scan: the machine's read limit when every core reads).
 *
 * usage: readlimit exact PID VALUE [THREADS]   steps: scan, increased, eq (VALUE + 1)
 *        readlimit many PID VALUE [THREADS]    the same steps, for many (clustered) candidates
 *        readlimit unknown PID                 steps: snapshot, increased
 *
 * Regions: every rw-p anonymous mapping of PID (no backing file: unnamed, [heap], [stack]).
 * Full passes read each region in 1 MiB chunks into one reused buffer and compare aligned
 * int32 slots; with THREADS > 1 the first scan's chunks are split into THREADS contiguous runs,
 * each read by its own thread into its own buffer (hits stay in address order). "snapshot" reads every region into its own buffer (what an unknown-value scan
 * has to keep). Next scans over a candidate list read only the candidates, batched as iovecs;
 * in "many" mode candidates less than GAP bytes apart share one iovec (a span, at most 1 MiB),
 * as memscan does, so a contiguous run of candidates is read in 1 MiB pieces.
 * Protocol (one JSON object a line on stdout): prints {"ready": 1}; then, for each step, waits
 * for a line on stdin (the harness changes the target in between) and prints
 * {"step": NAME, "bytes": B, "seconds": S, "count": N}.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#define CHUNK (1u << 20)
#define BATCH 1024 /* IOV_MAX */
#define GAP 1024   /* "many" mode: candidates closer than this share a read */

typedef struct {
    uintptr_t start, end;
} region;

typedef struct {
    uintptr_t *addr;
    int32_t *old;
    size_t len, cap;
} hits;

static pid_t pid;
static uint8_t *buf;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void push(hits *h, uintptr_t addr, int32_t old) {
    if (h->len == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 4096;
        h->addr = realloc(h->addr, h->cap * sizeof *h->addr);
        h->old = realloc(h->old, h->cap * sizeof *h->old);
        if (!h->addr || !h->old) {
            perror("realloc");
            exit(1);
        }
    }
    h->addr[h->len] = addr;
    h->old[h->len++] = old;
}

/* rw-p mappings without a backing file. */
static size_t read_maps(region **out) {
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t n = 0, cap = 64;
    region *r = malloc(cap * sizeof *r);
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end, inode;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &start, &end, perms, &inode) != 4) continue;
        if (strcmp(perms, "rw-p") != 0 || inode != 0) continue;
        if (n == cap) r = realloc(r, (cap *= 2) * sizeof *r);
        r[n++] = (region){start, end};
    }
    fclose(f);
    *out = r;
    return n;
}

/* Reads [addr, addr + len) into dst; returns bytes read (short on unmapped pages). */
static size_t readv_at(void *dst, uintptr_t addr, size_t len) {
    struct iovec local = {dst, len}, remote = {(void *)addr, len};
    ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    return got < 0 ? 0 : (size_t)got;
}

/* Aligned slots equal to value in a chunk; vectorisable block test, scalar only on a hit. */
static void scan_chunk(const int32_t *p, size_t n, int32_t value, uintptr_t base, hits *h) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        int any = 0;
        for (int j = 0; j < 16; j++) any |= p[i + j] == value;
        if (!any) continue;
        for (int j = 0; j < 16; j++)
            if (p[i + j] == value) push(h, base + 4 * (i + j), value);
    }
    for (; i < n; i++)
        if (p[i] == value) push(h, base + 4 * i, value);
}

/* Re-reads the candidates in batches; keeps those whose new value satisfies the test. */
static void filter(hits *h, int increased, int32_t value) {
    struct iovec local[BATCH], remote[BATCH];
    int32_t cur[BATCH];
    size_t kept = 0;
    for (size_t at = 0; at < h->len; at += BATCH) {
        size_t n = h->len - at < BATCH ? h->len - at : BATCH;
        for (size_t i = 0; i < n; i++) {
            local[i] = (struct iovec){&cur[i], 4};
            remote[i] = (struct iovec){(void *)h->addr[at + i], 4};
        }
        if (process_vm_readv(pid, local, n, remote, n, 0) != (ssize_t)(4 * n)) continue;
        for (size_t i = 0; i < n; i++) {
            int ok = increased ? cur[i] > h->old[at + i] : cur[i] == value;
            if (ok) {
                h->addr[kept] = h->addr[at + i];
                h->old[kept++] = cur[i];
            }
        }
    }
    h->len = kept;
}

/* filter() for many candidates: nearby ones (sorted by address) share a span; a batch is up to
 * BATCH spans of up to CHUNK bytes in all, read into buf with one call. */
static void filter_spans(hits *h, int increased, int32_t value) {
    struct iovec local[BATCH], remote[BATCH];
    size_t kept = 0, i = 0;
    while (i < h->len) {
        size_t first = i, n = 0, used = 0;
        while (i < h->len && n < BATCH && used + 4 <= CHUNK) {
            uintptr_t start = h->addr[i], end = start + 4;
            size_t j = i + 1;
            while (j < h->len && h->addr[j] >= end && h->addr[j] - end < GAP &&
                   h->addr[j] + 4 - start <= CHUNK - used)
                end = h->addr[j++] + 4;
            local[n] = (struct iovec){buf + used, end - start};
            remote[n++] = (struct iovec){(void *)start, end - start};
            used += end - start;
            i = j;
        }
        ssize_t got = process_vm_readv(pid, local, n, remote, n, 0);
        size_t s = 0, off0 = 0; /* span of candidate j and its offset in buf */
        for (size_t j = first; j < i; j++) {
            uintptr_t a = h->addr[j];
            while (a >= (uintptr_t)remote[s].iov_base + remote[s].iov_len)
                off0 += remote[s++].iov_len;
            size_t off = off0 + (a - (uintptr_t)remote[s].iov_base);
            if (got < 0 || off + 4 > (size_t)got) break; /* short read: drop the rest */
            int32_t cur;
            memcpy(&cur, buf + off, 4);
            int ok = increased ? cur > h->old[j] : cur == value;
            if (ok) {
                h->addr[kept] = a;
                h->old[kept++] = cur;
            }
        }
    }
    h->len = kept;
}

static void report(const char *step, size_t bytes, double secs, size_t count) {
    printf("{\"step\": \"%s\", \"bytes\": %zu, \"seconds\": %.6f, \"count\": %zu}\n", step,
           bytes, secs, count);
    fflush(stdout);
}

static void wait_go(void) {
    char line[64];
    if (!fgets(line, sizeof line, stdin)) exit(0);
}

typedef struct {
    uintptr_t addr;
    size_t len;
} chunk;

typedef struct {
    const chunk *chunks;
    size_t n;
    int32_t value;
    size_t bytes;
    hits h;
} part;

static void *scan_part(void *arg) {
    part *p = arg;
    uint8_t *own = malloc(CHUNK);
    memset(own, 0, CHUNK);
    for (size_t i = 0; i < p->n; i++) {
        size_t got = readv_at(own, p->chunks[i].addr, p->chunks[i].len);
        p->bytes += got;
        scan_chunk((const int32_t *)own, got / 4, p->value, p->chunks[i].addr, &p->h);
    }
    free(own);
    return NULL;
}

/* The first scan with `threads` threads over contiguous runs of the chunks; returns bytes read. */
static size_t scan_parallel(int32_t value, int threads, hits *h) {
    region *r;
    size_t nr = read_maps(&r), n = 0, cap = 1024;
    chunk *c = malloc(cap * sizeof *c);
    for (size_t i = 0; i < nr; i++)
        for (uintptr_t a = r[i].start; a < r[i].end; a += CHUNK) {
            if (n == cap) c = realloc(c, (cap *= 2) * sizeof *c);
            c[n++] = (chunk){a, r[i].end - a < CHUNK ? r[i].end - a : CHUNK};
        }
    pthread_t tid[64];
    part parts[64];
    size_t bytes = 0;
    for (int t = 0; t < threads; t++) {
        size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        parts[t] = (part){c + lo, hi - lo, value, 0, {0}};
        pthread_create(&tid[t], NULL, scan_part, &parts[t]);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        bytes += parts[t].bytes;
        for (size_t i = 0; i < parts[t].h.len; i++) push(h, parts[t].h.addr[i], parts[t].h.old[i]);
        free(parts[t].h.addr);
        free(parts[t].h.old);
    }
    free(c);
    free(r);
    return bytes;
}

static int run_exact(int32_t value, int spans, int threads) {
    void (*next)(hits *, int, int32_t) = spans ? filter_spans : filter;
    hits h = {0};
    wait_go();
    double t0 = now();
    size_t bytes = 0;
    if (threads > 1) {
        bytes = scan_parallel(value, threads, &h);
    } else {
        region *r;
        size_t nr = read_maps(&r);
        for (size_t i = 0; i < nr; i++) {
            for (uintptr_t a = r[i].start; a < r[i].end; a += CHUNK) {
                size_t len = r[i].end - a < CHUNK ? r[i].end - a : CHUNK;
                size_t got = readv_at(buf, a, len);
                bytes += got;
                scan_chunk((const int32_t *)buf, got / 4, value, a, &h);
            }
        }
        free(r);
    }
    report("scan", bytes, now() - t0, h.len);
    wait_go();
    t0 = now();
    bytes = 4 * h.len;
    next(&h, 1, 0);
    report("increased", bytes, now() - t0, h.len);
    wait_go();
    t0 = now();
    bytes = 4 * h.len;
    next(&h, 0, value + 1);
    report("eq", bytes, now() - t0, h.len);
    return 0;
}

static int run_unknown(void) {
    wait_go();
    double t0 = now();
    region *r;
    size_t nr = read_maps(&r), bytes = 0;
    int32_t **snap = calloc(nr, sizeof *snap);
    size_t *got = calloc(nr, sizeof *got);
    for (size_t i = 0; i < nr; i++) {
        size_t len = r[i].end - r[i].start;
        snap[i] = malloc(len);
        if (!snap[i]) {
            perror("malloc");
            return 1;
        }
        got[i] = readv_at(snap[i], r[i].start, len);
        bytes += got[i];
    }
    report("snapshot", bytes, now() - t0, bytes / 4);
    wait_go();
    t0 = now();
    hits h = {0};
    bytes = 0;
    for (size_t i = 0; i < nr; i++) {
        for (size_t off = 0; off < got[i]; off += CHUNK) {
            size_t len = got[i] - off < CHUNK ? got[i] - off : CHUNK;
            size_t n = readv_at(buf, r[i].start + off, len) / 4;
            const int32_t *cur = (const int32_t *)buf, *old = snap[i] + off / 4;
            bytes += 4 * n;
            for (size_t j = 0; j < n; j++)
                if (cur[j] > old[j]) push(&h, r[i].start + off + 4 * j, cur[j]);
        }
    }
    report("increased", bytes, now() - t0, h.len);
    return 0;
}

int main(int argc, char **argv) {
    int exact = argc > 1 && strcmp(argv[1], "exact") == 0;
    int many = argc > 1 && strcmp(argv[1], "many") == 0;
    if (argc < 3 || ((exact || many) && argc < 4)) {
        fprintf(stderr, "usage: %s exact PID VALUE [THREADS] | many PID VALUE [THREADS] | unknown PID\n",
                argv[0]);
        return 2;
    }
    pid = (pid_t)atoi(argv[2]);
    buf = malloc(CHUNK);
    memset(buf, 0, CHUNK); /* fault the reused buffer in before timing */
    printf("{\"ready\": 1}\n");
    fflush(stdout);
    int threads = argc > 4 ? atoi(argv[4]) : 1;
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "THREADS must be 1..64\n");
        return 2;
    }
    if (exact || many) return run_exact((int32_t)strtoll(argv[3], NULL, 0), many, threads);
    if (strcmp(argv[1], "unknown") == 0) return run_unknown();
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
