// What the kernel files share: the CPU levels each hot loop is compiled for, and reading one
// centroid code of a document (codes are 1, 2 or 4 bytes wide, by the index's centroid count).
#ifndef PLAID_KERNEL_COMMON_H
#define PLAID_KERNEL_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

static inline uint32_t code_at(const void *codes, int width, size_t i) {
    switch (width) {
    case 1: return ((const uint8_t *)codes)[i];
    case 2: return ((const uint16_t *)codes)[i];
    default: return ((const uint32_t *)codes)[i];
    }
}

#endif
