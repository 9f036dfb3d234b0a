// What the kernel files share: the CPU levels each hot loop is compiled for, and reading one
// centroid code of a document (codes are 1, 2 or 4 bytes wide, by the index's centroid count).
#ifndef PLAID_KERNEL_COMMON_H
#define PLAID_KERNEL_COMMON_H

#include <stddef.h>
#include <stdint.h>

// Compiled for x86-64-v4 (AVX-512), v3 (AVX2, FMA) and the baseline, chosen when the program
// loads (nearest_centroid.c's float rescoring).
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// The search kernels are compiled for the same three levels but chosen on every call, by
// plaid_kernel_level(): the best level the CPU runs unless a test asked for a lower one
// (plaid_set_kernel_level), so that the tests run every level the machine can. The body is
// written once, after the macro, and inlined into each level's copy:
//
//   LEVELS(float, plaid_f, (const float *a, size_t n), (a, n)) { ...body... }
//
// LEVELS_VOID does the same for functions that return nothing.
int plaid_kernel_level(void);

#if defined(__x86_64__)
// Level 4 vectorizes with 512-bit registers. Clang's x86-64-v4 prefers 256-bit vectors (wider
// ones once lowered the clock of older Intel cores), which halves AVX-512's width in every loop
// here; the hot loops ran faster at 512 bits (docs/benchmarks.md, "Design measurements").
#define LEVEL4_TARGET "arch=x86-64-v4,no-prefer-256-bit"
#define LEVEL_COPIES(ret, name, params, call)                                                   \
    static inline __attribute__((always_inline)) ret name##_body params;                         \
    __attribute__((target(LEVEL4_TARGET))) static ret name##_v4 params { call; }                 \
    __attribute__((target("arch=x86-64-v3"))) static ret name##_v3 params { call; }              \
    static ret name##_v1 params { call; }
#define LEVELS(ret, name, params, args)                                                          \
    LEVEL_COPIES(ret, name, params, return name##_body args)                                     \
    ret name params {                                                                            \
        const int level = plaid_kernel_level();                                                  \
        return level >= 4 ? name##_v4 args : level == 3 ? name##_v3 args : name##_v1 args;       \
    }                                                                                            \
    static inline __attribute__((always_inline)) ret name##_body params
#define LEVELS_VOID(name, params, args)                                                          \
    LEVEL_COPIES(void, name, params, name##_body args)                                           \
    void name params {                                                                           \
        const int level = plaid_kernel_level();                                                  \
        if (level >= 4) name##_v4 args; else if (level == 3) name##_v3 args; else name##_v1 args; \
    }                                                                                            \
    static inline __attribute__((always_inline)) void name##_body params
#else
#define LEVELS(ret, name, params, args) ret name params
#define LEVELS_VOID(name, params, args) void name params
#endif

// Asks for the bytes [start, start + bytes) to be brought into cache. Inline where a kernel
// prefetches document by document: a call per document cost more than the prefetches themselves.
static inline void prefetch_bytes(const void *start, size_t bytes) {
    const char *p = (const char *)start;
    for (size_t i = 0; i < bytes; i += 64) __builtin_prefetch(p + i, 0, 3);
    if (bytes) __builtin_prefetch(p + bytes - 1, 0, 3);
}

static inline uint32_t code_at(const void *codes, int width, size_t i) {
    switch (width) {
    case 1: return ((const uint8_t *)codes)[i];
    case 2: return ((const uint16_t *)codes)[i];
    default: return ((const uint32_t *)codes)[i];
    }
}

#endif
