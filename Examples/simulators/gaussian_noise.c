/* x = theta + 0.1 * noise, as a compiled simulator speaking diffsbi's .npy pipe protocol
 * (Documentation/Simulators.md): read one float64 array [b, P] from stdin, write one float64 array [b, P] to stdout,
 * until end of input.
 *
 *   cc -O2 -o gaussian_noise Examples/simulators/gaussian_noise.c -lm
 *   diffsbi train --simulator ./gaussian_noise --prior prior.json --simulations 10000 --out model
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state;

static uint64_t next_u64(void) { /* splitmix64 */
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double normal(void) { /* Box-Muller */
  double u = ((next_u64() >> 11) + 0.5) / 9007199254740992.0, v = (next_u64() >> 11) / 9007199254740992.0;
  return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static int read_exact(void *buf, size_t n) { return fread(buf, 1, n, stdin) == n; }

int main(void) {
  const char *seed = getenv("DIFFSBI_SEED"), *worker = getenv("DIFFSBI_WORKER");
  state = (seed ? strtoull(seed, NULL, 10) : 0) * 1000003ull + (worker ? strtoull(worker, NULL, 10) : 0);
  unsigned char pre[10];
  while (read_exact(pre, 8)) {
    if (memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) { fprintf(stderr, "not an .npy v1 stream\n"); return 1; }
    if (!read_exact(pre + 8, 2)) return 1;
    size_t hlen = pre[8] | (pre[9] << 8);
    char header[65536];
    if (!read_exact(header, hlen)) return 1;
    header[hlen] = 0;
    const char *shape = strstr(header, "'shape': (");
    if (!strstr(header, "'<f8'") || !shape) { fprintf(stderr, "expected a float64 array\n"); return 1; }
    long rows = 0, cols = 0;
    if (sscanf(shape + 10, "%ld, %ld", &rows, &cols) != 2 || rows < 0 || cols <= 0) return 1;
    double *theta = malloc(sizeof(double) * rows * cols);
    if (!read_exact(theta, sizeof(double) * rows * cols)) return 1;
    for (long i = 0; i < rows * cols; i++) theta[i] += 0.1 * normal();
    char dict[128];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%ld, %ld), }", rows, cols);
    int pad = (64 - (10 + n + 1) % 64) % 64;
    unsigned short total = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, stdout);
    fputc(total & 0xff, stdout);
    fputc(total >> 8, stdout);
    fwrite(dict, 1, n, stdout);
    for (int i = 0; i < pad; i++) fputc(' ', stdout);
    fputc('\n', stdout);
    fwrite(theta, sizeof(double), rows * cols, stdout);
    fflush(stdout);
    free(theta);
  }
  return 0;
}
