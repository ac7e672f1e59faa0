/* The raw-C reference for exit_ratio_vs_c: runs a multiboot ELF32 guest
 * (bench-pio.elf) with nothing but ioctls, the same VM setup as the VMM
 * (64 MiB at 0, multiboot state, CPUID from KVM), and counts exits per
 * second from the first KVM_RUN to the debug-exit write.
 *   pio-ref <elf> <count>
 * Prints the guest's serial output, then "REF exits=... seconds=... exits_per_sec=...". */
#include "ref-x86.h"

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: pio-ref <elf> <count>\n"); return 2; }
    char cmdline[64];
    snprintf(cmdline, sizeof cmdline, "count=%s", argv[2]);
    struct ref_vm r;
    ref_setup(&r, argv[1], cmdline, 0);
    struct kvm_run *run = r.run;
    int vcpu = r.vcpu;

    uint64_t exits = 0, port80 = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) continue;
            die("KVM_RUN");
        }
        exits++;
        if (run->exit_reason == KVM_EXIT_IO) {
            if (run->io.port == 0x80 && run->io.direction == KVM_EXIT_IO_OUT) port80++;
            else if (ref_serve_io(run, stdout)) break;
        } else if (run->exit_reason == KVM_EXIT_HLT) {
            break;
        } else {
            fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("REF exits=%llu port80=%llu seconds=%.6f exits_per_sec=%.1f\n", (unsigned long long)exits, (unsigned long long)port80, s, exits / s);
    close(r.vcpu); close(r.vm); close(r.kvm);
    return 0;
}
