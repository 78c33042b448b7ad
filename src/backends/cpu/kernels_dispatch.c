/* kernels_dispatch.c: picks the CPU backend's kernel table (kernels_cpu.h) from the features of
 * the CPU it runs on (c-blosc2's dispatch model), or from H5PREP_ISA; used by cpu_backend.c. */
#include "backends/cpu/kernels_cpu.h"

#include "common/internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const isa_names[H5P_ISA_COUNT] = {"generic", "avx2", "avx512"};

/* Whether this CPU (and its OS, which must save the wider registers) runs the path. */
static int cpu_runs(h5p_cpu_isa isa)
{
#if defined(H5PREP_HAVE_X86_SIMD)
    __builtin_cpu_init();
    switch (isa) {
    case H5P_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case H5P_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    default:
        return 1;
    }
#else
    return isa == H5P_ISA_GENERIC;
#endif
}

const h5p_cpu_kernels *h5p_cpu_kernels_for(h5p_cpu_isa isa)
{
    if (isa < 0 || isa >= H5P_ISA_COUNT || !cpu_runs(isa))
        return NULL;
#if defined(H5PREP_HAVE_X86_SIMD)
    if (isa == H5P_ISA_AVX512)
        return &h5p_cpu_kernels_avx512;
    if (isa == H5P_ISA_AVX2)
        return &h5p_cpu_kernels_avx2;
#endif
    return &h5p_cpu_kernels_generic;
}

h5prep_status h5p_cpu_kernels_choose(const h5p_cpu_kernels **out)
{
    h5p_cpu_isa best = H5P_ISA_GENERIC;
    for (int i = H5P_ISA_COUNT - 1; i > H5P_ISA_GENERIC && best == H5P_ISA_GENERIC; i--)
        best = cpu_runs((h5p_cpu_isa)i) ? (h5p_cpu_isa)i : best;
    const char *want = getenv("H5PREP_ISA");
    if (!want || !*want) {
        *out = h5p_cpu_kernels_for(best);
        return H5PREP_OK;
    }
    int isa = 0;
    while (isa < H5P_ISA_COUNT && strcmp(want, isa_names[isa]) != 0)
        isa++;
    if (isa == H5P_ISA_COUNT) {
        h5p_fail(H5PREP_ERR_BACKEND, "H5PREP_ISA=%s: no such CPU path (valid: generic, avx2, avx512)", want);
        return h5p_hint(H5PREP_ERR_BACKEND, "unset H5PREP_ISA to use the widest path this CPU runs (%s)",
                        isa_names[best]);
    }
    *out = h5p_cpu_kernels_for((h5p_cpu_isa)isa);
    if (!*out) {
#if defined(H5PREP_HAVE_X86_SIMD)
        const char *why = isa == H5P_ISA_AVX2 ? "it needs AVX2 and FMA" : "it needs AVX-512 F, BW, VL and DQ";
#else
        const char *why = "this h5prep was built without the x86-64 vector paths";
#endif
        h5p_fail(H5PREP_ERR_BACKEND, "H5PREP_ISA=%s: this CPU cannot run the %s path: %s", want, want, why);
        return h5p_hint(H5PREP_ERR_BACKEND, "unset H5PREP_ISA to use the widest path this CPU runs (%s)",
                        isa_names[best]);
    }
    return H5PREP_OK;
}
