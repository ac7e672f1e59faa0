/* The raw-C references of msi_hit_vs_c and msi_miss_vs_c: guests/x86/bench-msi.elf
 * on KVM with the split irqchip, a doorbell eventfd routed to the message
 * the guest would program (vector 0x40, APIC 0), an ioeventfd on the
 * guest's acknowledgement port, and msi-ringer ringing the doorbell.
 *   hit:  a GSI route with that MSI and KVM_IRQFD on the doorbell eventfd
 *         (every ring is injected by the kernel);
 *   miss: a thread that polls the doorbell eventfd, reads it and calls
 *         KVM_SIGNAL_MSI (the least userspace slow path).
 * The vCPU thread serves the guest's few exits (serial, PCI probes, which
 * find nothing, debug-exit).
 *   msi-ref hit|miss <elf> <count> <msi-ringer>
 * The ringer's line ("RING rings=... rings_per_sec=...") is the result. */
#define _GNU_SOURCE
#include "ref-x86.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#define ACK_PORT 0x5e0
#define MSI_ADDRESS 0xfee00000u
#define MSI_DATA 0x40u

extern char **environ;

static int vmfd, ringfd;
static atomic_int stopping;

static struct kvm_run *vcpu_run;

/* Also outside KVM_RUN: immediate_exit makes the next KVM_RUN return EINTR at once. */
static void on_sigchld(int sig) {
    (void)sig;
    vcpu_run->immediate_exit = 1;
}

static void *slow_path(void *arg) {
    (void)arg;
    struct kvm_msi msi = {.address_lo = MSI_ADDRESS, .data = MSI_DATA};
    while (!atomic_load(&stopping)) {
        struct pollfd p = {.fd = ringfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        uint64_t v;
        if (read(ringfd, &v, sizeof v) != (ssize_t)sizeof v) continue;
        if (ioctl(vmfd, KVM_SIGNAL_MSI, &msi) < 0) die("KVM_SIGNAL_MSI");
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[1], "hit") && strcmp(argv[1], "miss"))) {
        fprintf(stderr, "usage: msi-ref hit|miss <elf> <count> <msi-ringer>\n");
        return 2;
    }
    int hit = strcmp(argv[1], "hit") == 0;
    char cmdline[64];
    snprintf(cmdline, sizeof cmdline, "count=%s", argv[3]);
    struct ref_vm r;
    ref_setup(&r, argv[2], cmdline, 1);
    vmfd = r.vm;
    vcpu_run = r.run;

    ringfd = eventfd(0, EFD_CLOEXEC);
    int ackfd = eventfd(0, EFD_CLOEXEC);
    if (ringfd < 0 || ackfd < 0) die("eventfd");
    struct kvm_ioeventfd io = {.addr = ACK_PORT, .len = 1, .fd = ackfd, .flags = KVM_IOEVENTFD_FLAG_PIO};
    if (ioctl(r.vm, KVM_IOEVENTFD, &io) < 0) die("KVM_IOEVENTFD");
    pthread_t slow;
    if (hit) {
        struct { struct kvm_irq_routing h; struct kvm_irq_routing_entry e[1]; } routing = {
            .h.nr = 1,
            .e[0] = {.gsi = 24, .type = KVM_IRQ_ROUTING_MSI, .u.msi = {.address_lo = MSI_ADDRESS, .data = MSI_DATA}},
        };
        if (ioctl(r.vm, KVM_SET_GSI_ROUTING, &routing) < 0) die("KVM_SET_GSI_ROUTING");
        struct kvm_irqfd irqfd = {.fd = (uint32_t)ringfd, .gsi = 24};
        if (ioctl(r.vm, KVM_IRQFD, &irqfd) < 0) die("KVM_IRQFD");
    } else {
        /* SIGCHLD (the ringer ended) must interrupt KVM_RUN on this thread, not land on that one. */
        sigset_t chld, old;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        pthread_sigmask(SIG_BLOCK, &chld, &old);
        if (pthread_create(&slow, NULL, slow_path, NULL) != 0) die("pthread_create");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    /* A ringer that ends (done, or given up on the guest) interrupts KVM_RUN: no SA_RESTART. */
    struct sigaction sa = {.sa_handler = on_sigchld};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) < 0) die("sigaction");

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, ringfd, 3);
    posix_spawn_file_actions_adddup2(&fa, ackfd, 4);
    pid_t ringer;
    char *rargv[] = {argv[4], argv[3], NULL};
    int e = posix_spawn(&ringer, argv[4], &fa, NULL, rargv, environ);
    if (e != 0) { errno = e; die(argv[4]); }

    int status = 0, reaped = 0;
    for (;;) {
        if (ioctl(r.vcpu, KVM_RUN, 0) < 0) {
            if (errno != EINTR && errno != EAGAIN) die("KVM_RUN");
            /* The ringer ended before the guest did: it gave up (its message says why). */
            r.run->immediate_exit = 0;
            if (waitpid(ringer, &status, WNOHANG) == ringer) { reaped = 1; break; }
            continue;
        }
        struct kvm_run *run = r.run;
        if (run->exit_reason == KVM_EXIT_IO) {
            if (ref_serve_io(run, stderr)) break;
        } else if (run->exit_reason == KVM_EXIT_MMIO) {
            if (!run->mmio.is_write) memset(run->mmio.data, 0, sizeof run->mmio.data);
        } else if (run->exit_reason != KVM_EXIT_IOAPIC_EOI && run->exit_reason != KVM_EXIT_INTR) {
            fprintf(stderr, "msi-ref: unexpected exit %u\n", run->exit_reason);
            return 2;
        }
    }
    if (!reaped && waitpid(ringer, &status, 0) < 0) die("waitpid");
    atomic_store(&stopping, 1);
    if (!hit) pthread_join(slow, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}
