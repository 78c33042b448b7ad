/* sketch_simt.c: kernels/sketch.cu compiled by the host C compiler for the SIMT harness
 * (H5PREP_SIMT): the very same source as the GPU build, included here. */
#include "sketch.cu"
