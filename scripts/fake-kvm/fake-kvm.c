/* A fake /dev/kvm for hosts without one, preloaded (LD_PRELOAD) under the
 * addon's lifecycle tests: handles, kicks, closes racing with runs, vCPU
 * threads, process exit with a vCPU asleep in KVM_RUN. It is not a
 * hypervisor: it answers the ioctls the addon makes with plausible values
 * and "runs" a real-mode guest of six instructions, enough for the tests'
 * tiny guests:
 *   fa        cli
 *   b0 ib     mov al, imm8
 *   b8 iw     mov ax, imm16
 *   e6 ib     out imm8, al          -> KVM_EXIT_IO
 *   f4        hlt                   -> KVM_EXIT_HLT, or asleep in KVM_RUN with the split irqchip
 *   eb rel8   jmp (eb fe: spins in KVM_RUN until kicked)
 * Asleep means what it means in KVM: KVM_RUN returns -EINTR when a signal
 * arrives or immediate_exit is set, and not before.
 *
 * Every fake object is a memfd (so fds are real, close-on-exec, closeable,
 * and a vCPU's fd can be mmap'd for kvm_run); its state lives here, by fd.
 *   cc -shared -fPIC -O2 -o fake-kvm.so fake-kvm.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_FD 131072
#define RUN_SIZE (3 * 4096)
#define IO_DATA 2048 /* where an exit's port data sits in kvm_run */

enum kind { NONE, KVM, VM, VCPU };
struct slot { uint64_t gpa, size, hva; int used; };
struct obj {
  enum kind kind;
  int vm;          /* VCPU: its VM's fd */
  int split;       /* VM: KVM_CAP_SPLIT_IRQCHIP enabled */
  struct slot slots[32];
  uint32_t vcpu_ids[64];
  int nvcpus;
  struct kvm_run *run;
  struct kvm_regs regs;
  struct kvm_sregs sregs;
  uint32_t mp_state;
  long long pio_left; /* VCPU: exits left in the TSVMM_FAKE_KVM_PIO stream; -1 without it */
};

static struct obj *objs[MAX_FD];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);

__attribute__((constructor)) static void init(void) {
  real_open = dlsym(RTLD_NEXT, "open");
  real_open64 = dlsym(RTLD_NEXT, "open64");
  real_close = dlsym(RTLD_NEXT, "close");
  real_ioctl = dlsym(RTLD_NEXT, "ioctl");
}

static int new_obj(enum kind k, size_t size) {
  int fd = (int)syscall(SYS_memfd_create, "fake-kvm", MFD_CLOEXEC);
  if (fd < 0) return -1;
  if (size && ftruncate(fd, (off_t)size) < 0) { real_close(fd); return -1; }
  if (fd >= MAX_FD) { real_close(fd); errno = EMFILE; return -1; }
  struct obj *o = calloc(1, sizeof *o);
  o->kind = k;
  pthread_mutex_lock(&mu);
  objs[fd] = o;
  pthread_mutex_unlock(&mu);
  return fd;
}

static int fake_open(const char *path, int flags) {
  if (!path || strcmp(path, "/dev/kvm") != 0) return -2;
  (void)flags;
  return new_obj(KVM, 0);
}

int open(const char *path, int flags, ...) {
  int r = fake_open(path, flags);
  if (r != -2) return r;
  va_list ap; va_start(ap, flags); int mode = va_arg(ap, int); va_end(ap);
  return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...) {
  int r = fake_open(path, flags);
  if (r != -2) return r;
  va_list ap; va_start(ap, flags); int mode = va_arg(ap, int); va_end(ap);
  return real_open64(path, flags, mode);
}

int close(int fd) {
  if (fd >= 0 && fd < MAX_FD && objs[fd]) {
    pthread_mutex_lock(&mu);
    struct obj *o = objs[fd];
    objs[fd] = NULL;
    pthread_mutex_unlock(&mu);
    if (o) {
      if (o->run) munmap(o->run, RUN_SIZE);
      free(o);
    }
  }
  return real_close(fd);
}

static struct obj *get(int fd, enum kind k) {
  if (fd < 0 || fd >= MAX_FD) return NULL;
  struct obj *o = objs[fd];
  return o && o->kind == k ? o : NULL;
}

static uint8_t *guest(struct obj *vm, uint64_t gpa) {
  for (int i = 0; i < 32; i++) {
    struct slot *s = &vm->slots[i];
    if (s->used && gpa >= s->gpa && gpa < s->gpa + s->size) return (uint8_t *)(uintptr_t)(s->hva + (gpa - s->gpa));
  }
  return NULL;
}

/* Asleep in KVM_RUN: until a signal handler runs or immediate_exit is set. */
static int sleep_in_run(struct kvm_run *run) {
  for (;;) {
    if (__atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST)) { errno = EINTR; return -1; }
    struct timespec t = {0, 20 * 1000 * 1000};
    if (ppoll(NULL, 0, &t, NULL) < 0 && errno == EINTR) return -1;
  }
}

static int run_guest(struct obj *v);

/* KVM_RUN; with KVM_SYNC_X86_REGS valid, kvm_run carries the registers at the exit, as KVM's do. */
static int run_vcpu(struct obj *v) {
  int r = run_guest(v);
  if (r == 0 && (v->run->kvm_valid_regs & KVM_SYNC_X86_REGS)) memcpy(&v->run->s.regs.regs, &v->regs, sizeof v->regs);
  return r;
}

/* A port write exit, as KVM reports one: direction out, one byte at IO_DATA. */
static int out_exit(struct kvm_run *run, uint16_t port, uint8_t value) {
  run->exit_reason = KVM_EXIT_IO;
  run->io.direction = KVM_EXIT_IO_OUT;
  run->io.size = 1;
  run->io.port = port;
  run->io.count = 1;
  run->io.data_offset = IO_DATA;
  ((uint8_t *)run)[IO_DATA] = value;
  return 0;
}

static int run_guest(struct obj *v) {
  struct kvm_run *run = v->run;
  if (__atomic_load_n(&run->immediate_exit, __ATOMIC_SEQ_CST)) { errno = EINTR; return -1; }
  /* TSVMM_FAKE_KVM_PIO=N: whatever the guest, N writes to port 0x80 and then a write of 0 to the
   * debug-exit port 0xf4 -- bench-pio.elf's exit stream with no guest and no hypervisor behind it,
   * so what userspace spends per exit is all that is timed (scripts/bench/fake-exits.js). */
  if (v->pio_left >= 0) {
    if (v->pio_left == 0) return out_exit(run, 0xf4, 0);
    v->pio_left--;
    return out_exit(run, 0x80, (uint8_t)v->pio_left);
  }
  pthread_mutex_lock(&mu);
  struct obj *vm = get(v->vm, VM);
  int split = vm ? vm->split : 0;
  pthread_mutex_unlock(&mu);
  if (!vm) { errno = EIO; return -1; }
  for (int steps = 0; steps < 1000; steps++) {
    uint64_t pc = v->sregs.cs.base + (v->regs.rip & 0xffff);
    uint8_t *p = guest(vm, pc);
    if (!p) { run->exit_reason = KVM_EXIT_INTERNAL_ERROR; return 0; }
    switch (p[0]) {
      case 0xfa: v->regs.rip += 1; v->regs.rflags &= ~0x200ull; break;
      case 0xb0: v->regs.rax = (v->regs.rax & ~0xffull) | p[1]; v->regs.rip += 2; break;
      case 0xb8: v->regs.rax = (v->regs.rax & ~0xffffull) | p[1] | (p[2] << 8); v->regs.rip += 3; break;
      case 0xe6:
        v->regs.rip += 2;
        return out_exit(run, p[1], (uint8_t)v->regs.rax);
      case 0xf4:
        v->regs.rip += 1;
        if (split) return sleep_in_run(run);
        run->exit_reason = KVM_EXIT_HLT;
        return 0;
      case 0xeb:
        if (p[1] == 0xfe) return sleep_in_run(run);
        v->regs.rip += 2 + (int8_t)p[1];
        break;
      default:
        run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
        return 0;
    }
  }
  errno = EINTR; /* a long straight run: come back, as a timer tick would */
  return -1;
}

int ioctl(int fd, unsigned long req, ...) {
  va_list ap; va_start(ap, req); void *arg = va_arg(ap, void *); va_end(ap);
  if (fd < 0 || fd >= MAX_FD || !objs[fd]) return real_ioctl(fd, req, arg);
  struct obj *o = objs[fd];
  unsigned long n = (unsigned long)arg;
  switch (o->kind) {
    case KVM:
      if (req == KVM_GET_API_VERSION) return 12;
      if (req == KVM_GET_VCPU_MMAP_SIZE) return RUN_SIZE;
      if (req == KVM_CHECK_EXTENSION) return n == KVM_CAP_IRQ_ROUTING ? 4096 : n == KVM_CAP_MAX_VCPUS || n == KVM_CAP_NR_VCPUS ? 64 : 1;
      if (req == KVM_CREATE_VM) return new_obj(VM, 0);
      if (req == 0xc008ae05UL /* KVM_GET_SUPPORTED_CPUID */) {
        uint32_t *h = arg;
        if (h[0] < 3) { errno = E2BIG; return -1; }
        h[0] = 3;
        struct kvm_cpuid_entry2 *e = (void *)(h + 2);
        memset(e, 0, 3 * sizeof *e);
        e[0].ebx = 0x68747541; e[0].edx = 0x69746e65; e[0].ecx = 0x444d4163; e[0].eax = 1; /* "AuthenticAMD" */
        e[1].function = 1; e[1].eax = 0x00a00f11;
        e[2].function = 0x80000000; e[2].eax = 0x80000000;
        return 0;
      }
      break;
    case VM:
      if (req == KVM_CHECK_EXTENSION) return n == KVM_CAP_IRQ_ROUTING ? 4096 : 1;
      if (req == KVM_SET_TSS_ADDR || req == KVM_SET_IDENTITY_MAP_ADDR || req == KVM_IRQFD || req == KVM_IOEVENTFD ||
          req == 0x4008ae6aUL /* KVM_SET_GSI_ROUTING */) return 0;
      if (req == KVM_SIGNAL_MSI) return 1;
      if (req == KVM_ENABLE_CAP) {
        struct kvm_enable_cap *c = arg;
        if (c->cap == KVM_CAP_SPLIT_IRQCHIP) {
          if (o->nvcpus) { errno = EEXIST; return -1; }
          o->split = 1;
        }
        return 0;
      }
      if (req == KVM_SET_USER_MEMORY_REGION) {
        struct kvm_userspace_memory_region *r = arg;
        if (r->slot >= 32 || (r->memory_size & 0xfff) || (r->guest_phys_addr & 0xfff)) { errno = EINVAL; return -1; }
        struct slot *s = &o->slots[r->slot];
        if (r->memory_size == 0) { if (!s->used) { errno = EINVAL; return -1; } s->used = 0; return 0; }
        for (int i = 0; i < 32; i++) {
          struct slot *t = &o->slots[i];
          if (i != (int)r->slot && t->used && r->guest_phys_addr < t->gpa + t->size && t->gpa < r->guest_phys_addr + r->memory_size) {
            errno = EEXIST; return -1;
          }
        }
        *s = (struct slot){r->guest_phys_addr, r->memory_size, r->userspace_addr, 1};
        return 0;
      }
      if (req == KVM_CREATE_VCPU) {
        pthread_mutex_lock(&mu);
        for (int i = 0; i < o->nvcpus; i++) if (o->vcpu_ids[i] == n) { pthread_mutex_unlock(&mu); errno = EEXIST; return -1; }
        if (o->nvcpus < 64) o->vcpu_ids[o->nvcpus++] = (uint32_t)n;
        pthread_mutex_unlock(&mu);
        int v = new_obj(VCPU, RUN_SIZE);
        if (v < 0) return -1;
        struct obj *vo = objs[v];
        vo->vm = fd;
        vo->run = mmap(NULL, RUN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, v, 0);
        vo->sregs.cs.selector = 0xf000; vo->sregs.cs.base = 0xffff0000; vo->sregs.cs.limit = 0xffff;
        vo->regs.rip = 0xfff0; vo->regs.rflags = 2;
        const char *pio = getenv("TSVMM_FAKE_KVM_PIO");
        vo->pio_left = pio && *pio ? strtoll(pio, NULL, 10) : -1;
        return v;
      }
      break;
    case VCPU:
      if (req == KVM_RUN) return run_vcpu(o);
      if (req == KVM_GET_REGS) { memcpy(arg, &o->regs, sizeof o->regs); return 0; }
      if (req == KVM_SET_REGS) { memcpy(&o->regs, arg, sizeof o->regs); return 0; }
      if (req == KVM_GET_SREGS) { memcpy(arg, &o->sregs, sizeof o->sregs); return 0; }
      if (req == KVM_SET_SREGS) { memcpy(&o->sregs, arg, sizeof o->sregs); return 0; }
      if (req == 0x4008ae90UL /* KVM_SET_CPUID2 */ || req == KVM_INTERRUPT || req == KVM_ENABLE_CAP) return 0;
      if (req == KVM_GET_MP_STATE) { ((struct kvm_mp_state *)arg)->mp_state = o->mp_state; return 0; }
      if (req == KVM_SET_MP_STATE) { o->mp_state = ((struct kvm_mp_state *)arg)->mp_state; return 0; }
      break;
    default:
      break;
  }
  errno = ENOTTY;
  return -1;
}
