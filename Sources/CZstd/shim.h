// ZSTD_decompressBound is in zstd's "static linking only" section, though the shared library
// exports it (Debian 12's libzstd 1.5.4 does).
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>
