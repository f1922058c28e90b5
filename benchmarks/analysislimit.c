/*
 * The practical speed limits for analysis_bench.py: plain C, one thread, process_vm_readv.
 *
 * usage: analysislimit watch PID ADDRFILE GAP SECONDS
 *        analysislimit snapdiff PID REGIONFILE REPEAT
 *
 * watch: ADDRFILE holds sorted uint64 addresses (native endian) of int32 values. Addresses whose
 * distance from the end of the current span is at most GAP bytes share one span (GAP 0: only
 * adjacent slots do), a span is at most 1 MiB, and one process_vm_readv call reads up to BATCH
 * spans of up to 1 MiB in all into one reused buffer. After each call the values are copied
 * into a reused row (one int32 per address). One untimed sample first, then samples until
 * SECONDS have passed. Step "watch": bytes = bytes read per sample, count = samples, plus
 * spans, calls (per sample) and sum (sum of the last row's values, for the harness to compare).
 *
 * snapdiff: REGIONFILE holds one region a line ("START END", hex). Steps:
 *   read    every region in 1 MiB chunks into one reused buffer (best of REPEAT passes)
 *   before  every region into its own fresh buffer (a snapshot; 1 MiB reads, first touch)
 *   after   the same into a second set of buffers
 *   diff    compares the two sets: pages with memcmp, differing pages 8 bytes at a time; runs of
 *           changed bytes closer than DIFF_GAP bytes are merged into one range, per region.
 *           count = ranges, changed = changed bytes.
 *
 * Protocol (one JSON object a line on stdout): prints {"ready": 1}; then, for each step, waits
 * for a line on stdin (the harness changes the target in between) and prints
 * {"step": NAME, "bytes": B, "seconds": S, "count": N, ..., "hwm_kib": peak RSS in KiB}.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)
#define BATCH 1024 /* IOV_MAX */
#define DIFF_GAP 8 /* memscan's default gap for ChangeMap ranges */

static pid_t pid;
static uint8_t *buf;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        perror("malloc");
        exit(1);
    }
    return p;
}

/* This process's peak RSS (VmHWM, KiB): the harness cannot read it once the process exits. */
static long hwm_kib(void) {
    char line[256];
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &kib) == 1) break;
    fclose(f);
    return kib;
}

static void wait_go(void) {
    char line[64];
    if (!fgets(line, sizeof line, stdin)) exit(0);
}

static void fail(const char *msg) {
    printf("{\"error\": \"%s\"}\n", msg);
    fflush(stdout);
    exit(1);
}

/* ------------------------------------------------------------------------------ watch */

typedef struct {
    size_t first_span, nspans, bytes; /* spans of one call and the bytes they read */
    size_t first_addr, naddr;         /* addresses they hold */
} batch;

static int run_watch(const char *file, uint64_t gap, double seconds) {
    FILE *f = fopen(file, "rb");
    if (!f) fail("cannot open the address file");
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f) / 8;
    rewind(f);
    uint64_t *addr = xmalloc(n * 8);
    if (fread(addr, 8, n, f) != n) fail("short address file");
    fclose(f);
    if (!n) fail("no addresses");

    /* Spans: (start, len); off[i] = offset of address i in the buffer of its call. */
    struct iovec *remote = xmalloc(n * sizeof *remote);
    size_t *off = xmalloc(n * sizeof *off);
    batch *batches = xmalloc(n * sizeof *batches);
    size_t nspans = 0, nbatches = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = addr[i];
        if (i && a < addr[i - 1]) fail("addresses not sorted");
        struct iovec *s = nspans ? &remote[nspans - 1] : NULL;
        batch *b = nbatches ? &batches[nbatches - 1] : NULL;
        uint64_t start = s ? (uint64_t)(uintptr_t)s->iov_base : 0, end = s ? start + s->iov_len : 0;
        if (s && a >= start && a <= end + gap && a + 4 - start <= CHUNK &&
            b->bytes - s->iov_len + (a + 4 - start) <= CHUNK) {
            size_t grow = a + 4 > end ? a + 4 - end : 0;
            s->iov_len += grow;
            b->bytes += grow;
            off[i] = b->bytes - s->iov_len + (a - start);
        } else {
            if (!b || b->nspans == BATCH || b->bytes + 4 > CHUNK) {
                batches[nbatches++] = (batch){nspans, 0, 0, i, 0};
                b = &batches[nbatches - 1];
            }
            remote[nspans++] = (struct iovec){(void *)(uintptr_t)a, 4};
            off[i] = b->bytes;
            b->nspans++;
            b->bytes += 4;
        }
        b->naddr++;
    }
    for (size_t j = 0; j < nbatches; j++) total += batches[j].bytes;

    int32_t *row = xmalloc(n * sizeof *row);
    memset(row, 0, n * sizeof *row);
    printf("{\"ready\": 1}\n");
    fflush(stdout);
    wait_go();
    size_t samples = 0;
    double t0 = 0, elapsed = 0;
    for (;;) {
        for (size_t j = 0; j < nbatches; j++) {
            const batch *b = &batches[j];
            struct iovec local = {buf, b->bytes};
            ssize_t got = process_vm_readv(pid, &local, 1, remote + b->first_span, b->nspans, 0);
            if (got != (ssize_t)b->bytes) fail("short read");
            for (size_t i = b->first_addr; i < b->first_addr + b->naddr; i++)
                memcpy(&row[i], buf + off[i], 4);
        }
        if (t0 == 0) { /* the untimed first sample */
            t0 = now();
            continue;
        }
        samples++;
        elapsed = now() - t0;
        if (samples >= 2 && elapsed >= seconds) break;
    }
    long long sum = 0;
    for (size_t i = 0; i < n; i++) sum += row[i];
    printf("{\"step\": \"watch\", \"bytes\": %zu, \"seconds\": %.6f, \"count\": %zu, "
           "\"spans\": %zu, \"calls\": %zu, \"addresses\": %zu, \"sum\": %lld, "
           "\"hwm_kib\": %ld}\n",
           total, elapsed, samples, nspans, nbatches, n, sum, hwm_kib());
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------------------------ snapdiff */

typedef struct {
    uintptr_t start, end;
} region;

/* Reads [addr, addr + len) into dst in 1 MiB calls; returns the bytes read. */
static size_t read_region(uint8_t *dst, uintptr_t addr, size_t len) {
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < CHUNK ? len - done : CHUNK;
        struct iovec local = {dst + done, want}, remote = {(void *)(addr + done), want};
        ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (got <= 0) break;
        done += (size_t)got;
        if ((size_t)got < want) break;
    }
    return done;
}

static size_t read_into_buf(const region *r, size_t nr) {
    size_t bytes = 0;
    for (size_t i = 0; i < nr; i++)
        for (uintptr_t a = r[i].start; a < r[i].end; a += CHUNK) {
            size_t len = r[i].end - a < CHUNK ? r[i].end - a : CHUNK;
            struct iovec local = {buf, len}, remote = {(void *)a, len};
            ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
            bytes += got > 0 ? (size_t)got : 0;
        }
    return bytes;
}

static uint8_t **snapshot(const region *r, size_t nr, size_t *bytes) {
    uint8_t **s = xmalloc(nr * sizeof *s);
    *bytes = 0;
    for (size_t i = 0; i < nr; i++) {
        size_t len = r[i].end - r[i].start;
        s[i] = xmalloc(len);
        size_t got = read_region(s[i], r[i].start, len);
        if (got < len) memset(s[i] + got, 0, len - got);
        *bytes += got;
    }
    return s;
}

typedef struct {
    uintptr_t end; /* one past the last changed byte of the open range (0: none) */
    size_t ranges, changed;
} diffstate;

static void changed_byte(diffstate *d, uintptr_t at) {
    if (!d->end || at > d->end + DIFF_GAP) d->ranges++; /* as memscan: merged if at <= end + gap */
    d->end = at + 1;
    d->changed++;
}

static void diff_region(const uint8_t *a, const uint8_t *b, size_t len, uintptr_t base,
                        size_t page, diffstate *d) {
    for (size_t p = 0; p < len; p += page) {
        size_t plen = len - p < page ? len - p : page;
        if (memcmp(a + p, b + p, plen) == 0) continue;
        size_t i = p;
        for (; i + 8 <= p + plen; i += 8) {
            uint64_t x, y;
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            for (uint64_t z = x ^ y; z;) {
                unsigned byte = (unsigned)__builtin_ctzll(z) / 8;
                changed_byte(d, base + i + byte);
                z &= ~(0xffull << (8 * byte));
            }
        }
        for (; i < p + plen; i++)
            if (a[i] != b[i]) changed_byte(d, base + i);
    }
}

static void report(const char *step, size_t bytes, double secs, size_t count, size_t changed) {
    printf("{\"step\": \"%s\", \"bytes\": %zu, \"seconds\": %.6f, \"count\": %zu, "
           "\"changed\": %zu, \"hwm_kib\": %ld}\n",
           step, bytes, secs, count, changed, hwm_kib());
    fflush(stdout);
}

static int run_snapdiff(const char *file, int repeat) {
    FILE *f = fopen(file, "r");
    if (!f) fail("cannot open the region file");
    size_t nr = 0, cap = 16;
    region *r = xmalloc(cap * sizeof *r);
    unsigned long start, end;
    while (fscanf(f, "%lx %lx", &start, &end) == 2) {
        if (nr == cap) {
            r = realloc(r, (cap *= 2) * sizeof *r);
            if (!r) fail("realloc");
        }
        r[nr++] = (region){start, end};
    }
    fclose(f);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    printf("{\"ready\": 1}\n");
    fflush(stdout);

    wait_go();
    double best = 1e30;
    size_t bytes = 0;
    for (int k = 0; k < (repeat > 0 ? repeat : 1); k++) {
        double t0 = now();
        bytes = read_into_buf(r, nr);
        double t = now() - t0;
        if (t < best) best = t;
    }
    report("read", bytes, best, nr, 0);

    uint8_t **snap[2];
    const char *names[2] = {"before", "after"};
    for (int k = 0; k < 2; k++) {
        wait_go();
        double t0 = now();
        snap[k] = snapshot(r, nr, &bytes);
        report(names[k], bytes, now() - t0, nr, 0);
    }

    wait_go();
    double t0 = now();
    size_t ranges = 0, changed = 0;
    for (size_t i = 0; i < nr; i++) {
        diffstate d = {0, 0, 0};
        diff_region(snap[0][i], snap[1][i], r[i].end - r[i].start, r[i].start, page, &d);
        ranges += d.ranges;
        changed += d.changed;
    }
    report("diff", bytes, now() - t0, ranges, changed);
    return 0;
}

int main(int argc, char **argv) {
    int watch = argc == 6 && strcmp(argv[1], "watch") == 0;
    int snapdiff = argc == 5 && strcmp(argv[1], "snapdiff") == 0;
    if (!watch && !snapdiff) {
        fprintf(stderr, "usage: %s watch PID ADDRFILE GAP SECONDS | snapdiff PID REGIONFILE "
                        "REPEAT\n", argv[0]);
        return 2;
    }
    pid = (pid_t)atoi(argv[2]);
    buf = xmalloc(CHUNK);
    memset(buf, 0, CHUNK); /* fault the reused buffer in before timing */
    if (watch) return run_watch(argv[3], strtoull(argv[4], NULL, 0), atof(argv[5]));
    return run_snapdiff(argv[3], atoi(argv[4]));
}
