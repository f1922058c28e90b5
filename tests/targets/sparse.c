/* A test target for scans that skip unused pages: a 64 MiB anonymous mapping where a few pages
 * hold VALUE (written), some were only read (the kernel maps its zero page there) and the rest
 * were never touched; VALUE's low half also sits in the last bytes of written pages whose next
 * page is untouched (only a read that zero-fills that page finds it at byte stride); and a
 * private file mapping (argv[1]) that holds VALUE but was never touched; and 16 MiB of huge-page
 * memory that was only read (the kernel's huge zero page where THP allows) but for one VALUE.
 * Prints the mappings' addresses, then reads commands until stdin closes: "p" pages the
 * anonymous mapping out (MADV_PAGEOUT) and prints madvise's result. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SIZE (64u << 20)
#define VALUE 0x00005EEDu

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *anon = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (anon == MAP_FAILED) return 1;
    srand((unsigned)getpid());
    volatile unsigned char sink = 0;
    for (int i = 0; i < 200; i++) {
        size_t p = (size_t)(rand() % (SIZE / page - 1));
        if (i % 3 == 0) {
            sink ^= anon[p * page + 17]; /* read only: zero page */
        } else if (i % 3 == 1) {
            uint32_t v = VALUE;
            memcpy(anon + p * page + 4 * (rand() % (page / 4)), &v, 4);
        } else if (anon[(p + 1) * page] == 0) {
            uint16_t low = (uint16_t)VALUE; /* straddles into the (untouched) next page */
            memcpy(anon + (p + 1) * page - 2, &low, 2);
        }
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) return 1;
    off_t len = lseek(fd, 0, SEEK_END);
    void *file = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (file == MAP_FAILED) return 1;
    size_t huge = 2u << 20;
    unsigned char *raw = mmap(NULL, 9 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return 1;
    unsigned char *thp = (unsigned char *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
    madvise(thp, 8 * huge, MADV_HUGEPAGE);
    for (int i = 0; i < 7; i++) sink ^= thp[(size_t)i * huge];
    uint32_t v = VALUE;
    memcpy(thp + 7 * huge + 4096, &v, 4);
    printf("ready %p %p %ld %p\n", (void *)anon, file, (long)len, (void *)thp);
    fflush(stdout);
    char line[16];
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'p') /* push the anonymous mapping out to swap, where there is swap */
            printf("%d\n", madvise(anon, SIZE, MADV_PAGEOUT));
        fflush(stdout);
    }
    return sink;
}
