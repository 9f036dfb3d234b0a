// OpenBLAS's CBLAS interface (Debian: libopenblas-dev puts cblas.h on the default include path).
#include <cblas.h>
// openblas_set_num_threads is declared in cblas.h for OpenBLAS; nothing else is needed here.
