/* What the raw-C references of scripts/bench/ share: one x86 VM set up as
 * the VMM sets it up for a multiboot ELF32 guest (64 MiB at 0, the
 * multiboot info with the command line at 0x9000, CPUID from KVM, flat
 * 32-bit protected mode, EIP at the entry, EAX/EBX as multiboot says), with
 * or without the split irqchip (the LAPIC in the kernel, no PIC or IOAPIC).
 * Every failure ends the program with status 2 and what failed. */
#pragma once
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

#define REF_RAM (64u << 20)
#define REF_INFO 0x9000u

struct ref_vm {
    int kvm, vm, vcpu;
    struct kvm_run *run;
    uint8_t *ram;
};

static inline void die(const char *what) { perror(what); exit(2); }

static inline uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static inline double ref_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Loads `elf` with `cmdline` into a new VM with one vCPU; `split`: KVM_CAP_SPLIT_IRQCHIP (24 routes reserved). */
static inline void ref_setup(struct ref_vm *r, const char *elf, const char *cmdline, int split) {
    int f = open(elf, O_RDONLY);
    if (f < 0) die("open elf");
    struct stat st;
    if (fstat(f, &st) < 0) die("fstat elf");
    uint8_t *img = malloc(st.st_size);
    if (!img || read(f, img, st.st_size) != st.st_size) die("read elf");
    close(f);

    r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (r->kvm < 0) die("/dev/kvm");
    r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0);
    if (r->vm < 0) die("KVM_CREATE_VM");
    if (ioctl(r->vm, KVM_SET_TSS_ADDR, 0xfffbd000) < 0) die("KVM_SET_TSS_ADDR");
    if (split) {
        struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {24}};
        if (ioctl(r->vm, KVM_ENABLE_CAP, &cap) < 0) die("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)");
    }
    r->ram = mmap(NULL, REF_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r->ram == MAP_FAILED) die("mmap");
    struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = REF_RAM, .userspace_addr = (uintptr_t)r->ram};
    if (ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");

    /* ELF32 PT_LOAD segments, bounds-checked. */
    if (st.st_size < 52) { fprintf(stderr, "not an ELF32 file\n"); exit(2); }
    uint32_t entry = rd32(img + 24), phoff = rd32(img + 28);
    uint16_t phentsize = img[42] | img[43] << 8, phnum = img[44] | img[45] << 8;
    for (int i = 0; i < phnum; i++) {
        if ((uint64_t)phoff + (uint64_t)(i + 1) * phentsize > (uint64_t)st.st_size) { fprintf(stderr, "bad program header\n"); exit(2); }
        const uint8_t *ph = img + phoff + i * phentsize;
        if (rd32(ph) != 1) continue;
        uint32_t off = rd32(ph + 4), pa = rd32(ph + 12), fsz = rd32(ph + 16), msz = rd32(ph + 20);
        if ((uint64_t)pa + msz > REF_RAM || fsz > msz || (uint64_t)off + fsz > (uint64_t)st.st_size) { fprintf(stderr, "bad segment\n"); exit(2); }
        memcpy(r->ram + pa, img + off, fsz);
        memset(r->ram + pa + fsz, 0, msz - fsz);
    }
    free(img);
    /* Multiboot info: memory sizes and the command line. */
    uint32_t *mbi = (uint32_t *)(r->ram + REF_INFO);
    mbi[0] = 1 | 4;
    mbi[1] = 640;
    mbi[2] = REF_RAM / 1024 - 1024;
    mbi[4] = REF_INFO + 0x100;
    snprintf((char *)r->ram + REF_INFO + 0x100, 256, "%s", cmdline);

    r->vcpu = ioctl(r->vm, KVM_CREATE_VCPU, 0);
    if (r->vcpu < 0) die("KVM_CREATE_VCPU");
    int mmap_size = ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size <= 0) die("KVM_GET_VCPU_MMAP_SIZE");
    r->run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->vcpu, 0);
    if (r->run == MAP_FAILED) die("mmap kvm_run");
    struct { struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[256]; } cpuid = {.h.nent = 256};
    if (ioctl(r->kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(r->vcpu, KVM_SET_CPUID2, &cpuid) < 0) die("KVM_SET_CPUID2");

    struct kvm_sregs sregs;
    if (ioctl(r->vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb, .present = 1, .db = 1, .s = 1, .g = 1};
    struct kvm_segment data = code;
    data.selector = 0x18;
    data.type = 3;
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.cr0 = (sregs.cr0 | 0x11) & ~0x80000000ull;
    sregs.cr4 = 0;
    sregs.efer = 0;
    if (ioctl(r->vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = entry, .rax = 0x2badb002, .rbx = REF_INFO, .rflags = 2};
    if (ioctl(r->vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
}

/* A KVM_EXIT_IO served as the VMM's machine serves these guests: the UART's THR to `serial`, its
 * LSR always ready, other reads 0, other writes dropped. Returns 1 for the write to isa-debug-exit. */
static inline int ref_serve_io(struct kvm_run *run, FILE *serial) {
    uint8_t *d = (uint8_t *)run + run->io.data_offset;
    uint16_t p = run->io.port;
    if (run->io.direction == KVM_EXIT_IO_OUT) {
        if (p == 0x3f8) fputc(d[0], serial);
        return p == 0xf4;
    }
    memset(d, p == 0x3fd ? 0x60 : 0, (size_t)run->io.size * run->io.count);
    return 0;
}
