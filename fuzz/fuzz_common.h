/* fuzz_common.h: what the fuzz targets share: a scratch directory of this process for the inputs
 * that the library reads by path (state files, HDF5 inputs), removed at exit. */
#ifndef H5PREP_FUZZ_COMMON_H
#define H5PREP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* "<dir>/<name>" in a directory made on first use under $TMPDIR (or /tmp). */
const char *fz_scratch(const char *name);
/* Writes the input to path; aborts when it cannot (the fuzzer's fault, not the input's). */
void fz_write(const char *path, const uint8_t *data, size_t size);

/* The entry point of every target (libFuzzer's name, also called by replay_main.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
