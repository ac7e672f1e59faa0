/* The reference of eventfd_wake_vs_c: the userspace half of the MSI miss
 * path with no guest and no KVM, so that it is measurable on any Linux host.
 * msi-ringer.c rings fd 3 and waits for an acknowledgement on fd 4; this
 * loop answers as the miss path's device side does before it signals an
 * MSI: wait for fd 3 (poll), read it, acknowledge on fd 4. It stops once it
 * has read N rings.
 *   wake-ref N      (fds 3 and 4 inherited, maybe non-blocking)
 * Exit 0 after N rings, 3 when no ring comes for 10 s, 2 on a bad call. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define RING_FD 3
#define ACK_FD 4

int main(int argc, char **argv) {
    long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
    if (n <= 0) { fprintf(stderr, "usage: wake-ref N (fd 3: ring eventfd, fd 4: acknowledgement eventfd)\n"); return 2; }
    const uint64_t one = 1;
    uint64_t rings = 0;
    while (rings < (uint64_t)n) {
        struct pollfd p = {.fd = RING_FD, .events = POLLIN};
        int r = poll(&p, 1, 10000);
        if (r == 0) { fprintf(stderr, "wake-ref: no ring for 10 s after %llu\n", (unsigned long long)rings); return 3; }
        if (r < 0) {
            if (errno == EINTR) continue;
            perror("wake-ref: poll");
            return 2;
        }
        uint64_t v;
        ssize_t got = read(RING_FD, &v, sizeof v);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (got != (ssize_t)sizeof v) { perror("wake-ref: read"); return 2; }
        rings += v;
        if (write(ACK_FD, &one, sizeof one) != (ssize_t)sizeof one) { perror("wake-ref: acknowledge"); return 2; }
    }
    return 0;
}
