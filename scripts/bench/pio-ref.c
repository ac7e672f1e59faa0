/* The raw-C reference for exit_ratio_vs_c: runs a multiboot ELF32 guest
 * (bench-pio.elf) with nothing but ioctls, the same VM setup as the VMM
 * (64 MiB at 0, multiboot state, CPUID from KVM), and counts exits per
 * second from the first KVM_RUN to the debug-exit write.
 *   pio-ref <elf> <count>
 * Prints the guest's serial output, then "REF exits=... seconds=... exits_per_sec=...". */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RAM (64u << 20)
#define INFO 0x9000u

static void die(const char *what) { perror(what); exit(2); }

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: pio-ref <elf> <count>\n"); return 2; }
    int f = open(argv[1], O_RDONLY);
    if (f < 0) die("open elf");
    struct stat st;
    fstat(f, &st);
    uint8_t *img = malloc(st.st_size);
    if (read(f, img, st.st_size) != st.st_size) die("read elf");
    close(f);

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000) < 0) die("KVM_SET_TSS_ADDR");
    uint8_t *ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) die("mmap");
    struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = RAM, .userspace_addr = (uintptr_t)ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");

    /* ELF32 PT_LOAD segments, bounds-checked. */
    uint32_t entry = rd32(img + 24), phoff = rd32(img + 28);
    uint16_t phentsize = img[42] | img[43] << 8, phnum = img[44] | img[45] << 8;
    for (int i = 0; i < phnum; i++) {
        const uint8_t *ph = img + phoff + i * phentsize;
        if (rd32(ph) != 1) continue;
        uint32_t off = rd32(ph + 4), pa = rd32(ph + 12), fsz = rd32(ph + 16), msz = rd32(ph + 20);
        if ((uint64_t)pa + msz > RAM || (uint64_t)off + fsz > (uint64_t)st.st_size) { fprintf(stderr, "bad segment\n"); return 2; }
        memcpy(ram + pa, img + off, fsz);
        memset(ram + pa + fsz, 0, msz - fsz);
    }
    /* Multiboot info: memory sizes and the command line. */
    uint32_t *mbi = (uint32_t *)(ram + INFO);
    mbi[0] = 1 | 4;
    mbi[1] = 640;
    mbi[2] = RAM / 1024 - 1024;
    mbi[4] = INFO + 0x100;
    snprintf((char *)ram + INFO + 0x100, 64, "count=%s", argv[2]);

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) die("KVM_CREATE_VCPU");
    int mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");
    struct { struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[256]; } cpuid = {.h.nent = 256};
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(vcpu, KVM_SET_CPUID2, &cpuid) < 0) die("KVM_SET_CPUID2");

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb, .present = 1, .db = 1, .s = 1, .g = 1};
    struct kvm_segment data = code;
    data.selector = 0x18;
    data.type = 3;
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.cr0 = (sregs.cr0 | 0x11) & ~0x80000000ull;
    sregs.cr4 = 0;
    sregs.efer = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = entry, .rax = 0x2badb002, .rbx = INFO, .rflags = 2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

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
            uint8_t *d = (uint8_t *)run + run->io.data_offset;
            uint16_t p = run->io.port;
            if (run->io.direction == KVM_EXIT_IO_OUT) {
                if (p == 0x80) port80++;
                else if (p == 0x3f8) putchar(d[0]);
                else if (p == 0xf4) break;
            } else {
                d[0] = p == 0x3fd ? 0x60 : 0;
            }
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
    close(vcpu); close(vm); close(kvm);
    return 0;
}
