/* Sustained fused multiply-add throughput of this CPU, float and double, 1 and N threads.
 *
 * Built and run by benchmarks/peak.py (cc -O2 -fopenmp plus the ISA flags matching the ISA the
 * qmoe library runs: -mavx512f, -mavx2 -mfma, or none). Usage:
 *
 *     fma_peak [seconds_per_repeat [repeats]]
 *
 * Each thread runs NACC independent accumulator chains acc = acc * m + c on full-width vectors
 * (GCC vector extensions). NACC covers FMA latency x FMA issue rate (4-5 cycles x 2 per cycle
 * on current x86 cores) with room to spare, while every accumulator stays in a register (32
 * vector registers with AVX-512, 16 otherwise). m < 1 keeps the values near c / (1 - m): no
 * overflow, no denormals. One FMA counts 2 flops (on baseline x86-64, which has no FMA, the
 * compiler emits a multiply and an add: also 2 flops). The run length is calibrated on one
 * thread; the N-thread figure runs that length on each of omp_get_max_threads() threads
 * (OMP_NUM_THREADS) at once.
 *
 * Prints one JSON object on stdout; "checksum" (the sum of every accumulator) keeps the
 * compiler from discarding the loops.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__AVX512F__)
#define ISA "avx512"
#define VEC_BYTES 64
#define NACC 24
#elif defined(__AVX2__) && defined(__FMA__)
#define ISA "avx2"
#define VEC_BYTES 32
#define NACC 12
#else
#define ISA "baseline"
#define VEC_BYTES 16
#define NACC 12
#endif

typedef float vfloat __attribute__((vector_size(VEC_BYTES)));
typedef double vdouble __attribute__((vector_size(VEC_BYTES)));

/* Read at run time so that the compiler cannot fold the loops. */
static volatile double multiplier = 0.999999;
static volatile double addend = 1e-6;

#define DECL(j) __typeof__(c + c) a##j = c + (j); /* distinct: no merging of chains */
#define STEP(j) a##j = a##j * m + c;
#define SUM(j) s += a##j;
#define R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define R24(X) R12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#if NACC == 24
#define REPEAT R24
#else
#define REPEAT R12
#endif

/* `iters` rounds of NACC vector FMAs; returns the sum of all lanes of all accumulators. */
#define KERNEL(NAME, T, V)                                   \
    static double NAME(long iters) {                         \
        const V m = (V){} + (T)multiplier;                   \
        const V c = (V){} + (T)addend;                       \
        REPEAT(DECL)                                         \
        for (long i = 0; i < iters; ++i) {                   \
            REPEAT(STEP)                                     \
        }                                                    \
        V s = (V){};                                         \
        REPEAT(SUM)                                          \
        double total = 0;                                    \
        for (unsigned k = 0; k < sizeof(V) / sizeof(T); ++k) \
            total += s[k];                                   \
        return total;                                        \
    }

KERNEL(kernel_float, float, vfloat)
KERNEL(kernel_double, double, vdouble)

typedef double (*kernel_fn)(long);

static double checksum = 0;

/* Seconds for `iters` rounds on `threads` threads (1: the calling thread alone). */
static double run(kernel_fn kernel, long iters, int threads) {
    double sum = 0;
    double start = omp_get_wtime();
    if (threads == 1) {
        sum = kernel(iters);
    } else {
#pragma omp parallel num_threads(threads) reduction(+ : sum)
        sum += kernel(iters);
    }
    double seconds = omp_get_wtime() - start;
    checksum += sum;
    return seconds;
}

/* Rounds that take about `seconds` on one thread. Calibrated on one thread only: an
 * all-thread calibration on a shared host can catch a thread waiting for a core and then
 * settle on runs too short to mean anything. Also warms up the clocks. */
static long calibrate(kernel_fn kernel, double seconds) {
    long iters = 1 << 12;
    double t = run(kernel, iters, 1);
    while (t < seconds / 8) {
        iters *= 2;
        t = run(kernel, iters, 1);
    }
    return (long)(iters * (seconds / t)) + 1;
}

/* Best GFLOP/s over `repeats` runs of `iters` rounds on every one of `threads` threads. */
static double gflops(kernel_fn kernel, int lanes, int threads, long iters, int repeats) {
    double best = 0;
    for (int r = 0; r < repeats; ++r) {
        double t = run(kernel, iters, threads);
        double rate = 2.0 * NACC * lanes * (double)iters * threads / t / 1e9;
        if (rate > best) best = rate;
    }
    return best;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.2;
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    if (seconds <= 0) seconds = 0.2;
    if (repeats < 1) repeats = 1;
    int threads = omp_get_max_threads();
    int flanes = VEC_BYTES / sizeof(float), dlanes = VEC_BYTES / sizeof(double);
    run(kernel_float, 1 << 12, threads); /* start the thread pool */
    long fiters = calibrate(kernel_float, seconds);
    double f1 = gflops(kernel_float, flanes, 1, fiters, repeats);
    double fn = gflops(kernel_float, flanes, threads, fiters, repeats);
    long diters = calibrate(kernel_double, seconds);
    double d1 = gflops(kernel_double, dlanes, 1, diters, repeats);
    double dn = gflops(kernel_double, dlanes, threads, diters, repeats);
    printf("{\"isa\": \"%s\", \"vector_bytes\": %d, \"accumulators\": %d, \"threads\": %d, "
           "\"seconds\": %g, \"repeats\": %d, "
           "\"float\": {\"1\": %.3f, \"all\": %.3f}, \"double\": {\"1\": %.3f, \"all\": %.3f}, "
           "\"checksum\": %.6e}\n",
           ISA, VEC_BYTES, NACC, threads, seconds, repeats, f1, fn, d1, dn, checksum);
    return 0;
}
