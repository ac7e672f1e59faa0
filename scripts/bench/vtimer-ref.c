// The raw-C reference for vtimer_round_trip_vs_c (arm64 hosts; the bench runs
// it on nested arm64 KVM): guests/arm64/bench-vtimer.img on KVM with no
// in-kernel irqchip and the least userspace GIC that guest needs -- the
// vtimer level from kvm_run->s.regs.device_irq_level after every KVM_RUN,
// PPI 27's pending/active state, KVM_IRQ_LINE when the CPU interface's output
// changes, GICC_IAR and GICC_EOIR; every other MMIO access is accepted and
// ignored (the PL011's bytes go to stdout). Prints "ticks=N seconds=S".
//   vtimer-ref IMAGE
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (128ull << 20)
#define GICC_IAR 0x0801000cull
#define GICC_EOIR 0x08010010ull
#define UART_DR 0x09000000ull
#define PPI_VTIMER 27

static void die(const char *what) { perror(what); exit(2); }

static int vmfd, line;
static int pending, active;

static void update_line(void) {
  int want = pending && !active;
  if (want == line) return;
  struct kvm_irq_level l = {.irq = (KVM_ARM_IRQ_TYPE_CPU << KVM_ARM_IRQ_TYPE_SHIFT) | KVM_ARM_IRQ_CPU_IRQ, .level = (uint32_t)want};
  if (ioctl(vmfd, KVM_IRQ_LINE, &l) < 0) die("KVM_IRQ_LINE");
  line = want;
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: vtimer-ref IMAGE\n"); return 2; }
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("/dev/kvm");
  vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vmfd < 0) die("KVM_CREATE_VM");
  uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (ram == MAP_FAILED) die("mmap");
  int img = open(argv[1], O_RDONLY);
  struct stat st;
  if (img < 0 || fstat(img, &st) < 0) die(argv[1]);
  uint64_t text_offset = 0x80000;
  uint8_t hdr[64];
  if (pread(img, hdr, 64, 0) == 64 && memcmp(hdr + 0x38, "ARM\x64", 4) == 0) memcpy(&text_offset, hdr + 8, 8);
  if (pread(img, ram + text_offset, (size_t)st.st_size, 0) != st.st_size) die("read image");
  close(img);
  struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = RAM_BASE, .memory_size = RAM_SIZE, .userspace_addr = (uint64_t)ram};
  if (ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vmfd, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  struct kvm_vcpu_init init;
  if (ioctl(vmfd, KVM_ARM_PREFERRED_TARGET, &init) < 0) die("KVM_ARM_PREFERRED_TARGET");
  memset(init.features, 0, sizeof init.features);
  init.features[0] = 1u << KVM_ARM_VCPU_PSCI_0_2;
  if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0) die("KVM_ARM_VCPU_INIT");
  uint64_t pc = RAM_BASE + text_offset;
  struct kvm_one_reg reg = {.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, regs.pc) / 4), .addr = (uint64_t)&pc};
  if (ioctl(vcpu, KVM_SET_ONE_REG, &reg) < 0) die("KVM_SET_ONE_REG pc");
  int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");

  uint64_t ticks = 0, level = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    int r = ioctl(vcpu, KVM_RUN, 0);
    int err = errno;
    uint64_t now = run->s.regs.device_irq_level & KVM_ARM_DEV_EL1_VTIMER;
    if (now != level) {
      level = now;
      pending = (int)now;  // a level interrupt: pending while the line is high
      update_line();
    }
    if (r < 0) {
      if (err == EINTR || err == EAGAIN) continue;
      errno = err;
      die("KVM_RUN");
    }
    if (run->exit_reason == KVM_EXIT_INTR) continue;
    if (run->exit_reason == KVM_EXIT_SYSTEM_EVENT) break;
    if (run->exit_reason != KVM_EXIT_MMIO) { fprintf(stderr, "exit %u\n", run->exit_reason); return 2; }
    uint64_t a = run->mmio.phys_addr;
    if (!run->mmio.is_write) {
      uint32_t v = 0;
      if (a == GICC_IAR) {
        v = 1023;
        if (pending && !active) { v = PPI_VTIMER; active = 1; ticks++; update_line(); }
      }
      memcpy(run->mmio.data, &v, run->mmio.len < 4 ? run->mmio.len : 4);
    } else if (a == GICC_EOIR) {
      active = 0;
      update_line();
    } else if (a == UART_DR) {
      putchar(run->mmio.data[0]);
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  fflush(stdout);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("ticks=%llu seconds=%.6f\n", (unsigned long long)ticks, s);
  return 0;
}
