/* bench/migrate.sh's memory load: touches TOTAL MiB, then re-dirties a
 * HOT MiB window at RATE MiB/s for ever (256 KiB at a time), as a
 * database's working set would.  usage: dirty TOTAL HOT RATE */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    size_t total = (size_t)atoi(argv[1]) << 20, hot = (size_t)atoi(argv[2]) << 20;
    long rate = atol(argv[3]);
    if (!total || !hot || hot > total || rate <= 0) return 2;
    unsigned char *p = malloc(total);
    if (!p) return 1;
    for (size_t i = 0; i < total; i += 4096) p[i] = (unsigned char)(i >> 12) | 1;
    const size_t chunk = 256 << 10;
    struct timespec tick = {0, 1000000000L / (rate * 4)};
    size_t off = 0;
    unsigned char v = 0;
    for (;;) {
        for (size_t i = 0; i < chunk; i += 4096) p[off + i] = ++v;
        off = (off + chunk) % hot;
        nanosleep(&tick, NULL);
    }
}
