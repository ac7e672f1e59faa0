/* The ringer of msi_hit_vs_c / msi_miss_vs_c: the device side of a
 * ping-pong with guests/x86/bench-msi.elf, the same program for our VMM and
 * for the raw-C reference (msi-ref.c), so both are measured against the
 * same outside writer. fd 3 is the doorbell's eventfd, fd 4 the eventfd
 * behind the guest's acknowledgement port (an ioeventfd). Waits for the
 * guest's "ready", then N times: ring, wait for the acknowledgement.
 *   msi-ringer N      (fds 3 and 4 inherited)
 * Prints "RING rings=N seconds=S rings_per_sec=R"; exit 3 when the guest
 * stops answering (10 s), 2 on a bad call. The fds may be non-blocking (the
 * VMM's eventfds are), so every wait is a poll(). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define RING_FD 3
#define ACK_FD 4

static uint64_t acks;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Waits until `target` acknowledgements have come in all; 0 on a timeout. */
static int wait_acks(uint64_t target) {
    while (acks < target) {
        uint64_t v;
        ssize_t n = read(ACK_FD, &v, sizeof v);
        if (n == (ssize_t)sizeof v) { acks += v; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) { perror("msi-ringer: read ack"); exit(2); }
        struct pollfd p = {.fd = ACK_FD, .events = POLLIN};
        int r = poll(&p, 1, 10000);
        if (r == 0) return 0;
        if (r < 0 && errno != EINTR) { perror("msi-ringer: poll"); exit(2); }
    }
    return 1;
}

int main(int argc, char **argv) {
    long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
    if (n <= 0) { fprintf(stderr, "usage: msi-ringer N (fd 3: doorbell eventfd, fd 4: acknowledgement eventfd)\n"); return 2; }
    if (!wait_acks(1)) { fprintf(stderr, "msi-ringer: the guest never said it was ready\n"); return 3; }
    double t0 = now();
    const uint64_t one = 1;
    for (long i = 1; i <= n; i++) {
        if (write(RING_FD, &one, sizeof one) != (ssize_t)sizeof one) { perror("msi-ringer: ring"); return 2; }
        if (!wait_acks((uint64_t)i + 1)) { fprintf(stderr, "msi-ringer: no acknowledgement of ring %ld\n", i); return 3; }
    }
    double s = now() - t0;
    printf("RING rings=%ld seconds=%.6f rings_per_sec=%.1f\n", n, s, (double)n / s);
    return 0;
}
