/* Wine 8.0 lacks bcryptprimitives.dll, whose ProcessPrng Rust's std (>= 1.78) imports on
 * Windows: without it every Rust executable fails to load under Wine. This stand-in forwards
 * to RtlGenRandom (advapi32's SystemFunction036), which Wine has. Test infrastructure only. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
