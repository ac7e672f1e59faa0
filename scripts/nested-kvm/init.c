// PID 1 of the nested-KVM test guest (scripts/nested-kvm/run.sh).
//
// It loads the modules the guest needs (virtio, 9p, overlayfs, KVM), mounts
// the host's root read-only over 9p with a tmpfs overlay on top (nothing the
// guest writes reaches the host), chroots into it, runs the script run.sh
// packed into the initramfs as /cmd.sh, prints "TSVMM-NESTED-EXIT <status>"
// and powers off.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void load(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/modules/%s.ko", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // not every module exists on every kernel
  if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST && errno != ENODEV)
    fprintf(stderr, "init: loading %s: %s\n", name, strerror(errno));
  close(fd);
}

static int must(int rc, const char *what) {
  if (rc != 0) fprintf(stderr, "init: %s: %s\n", what, strerror(errno));
  return rc;
}

static int copy_file(const char *from, const char *to) {
  char buf[65536];
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -1;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (out < 0) { close(in); return -1; }
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)n) != n) { n = -1; break; }
  close(in);
  close(out);
  return n < 0 ? -1 : 0;
}

int main(void) {
  static const char *const modules[] = {
      "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
      "9pnet", "9pnet_virtio", "netfs", "fscache", "9p", "overlay",
      "irqbypass", "kvm", "ccp", NULL};
  int status = 125;

  mkdir("/proc", 0755);
  mkdir("/dev", 0755);
  mount("proc", "/proc", "proc", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  for (int i = 0; modules[i]; i++) load(modules[i]);
  // TCG's `-cpu max` offers SVM; kvm-intel is there for a host that
  // passes VMX through instead.
  load("kvm-amd");
  if (access("/dev/kvm", F_OK) != 0) load("kvm-intel");

  mkdir("/lower", 0755);
  mkdir("/rw", 0755);
  mkdir("/root", 0755);
  if (must(mount("host", "/lower", "9p", MS_RDONLY,
                 "trans=virtio,version=9p2000.L,msize=512000,cache=loose"), "mount 9p")) goto out;
  if (must(mount("rw", "/rw", "tmpfs", 0, "size=75%"), "mount tmpfs")) goto out;
  mkdir("/rw/upper", 0755);
  mkdir("/rw/work", 0755);
  if (must(mount("overlay", "/root", "overlay", 0,
                 "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work"), "mount overlay")) goto out;
  if (must(copy_file("/cmd.sh", "/root/.tsvmm-nested-cmd.sh"), "copy /cmd.sh")) goto out;
  if (must(chroot("/root"), "chroot") || must(chdir("/"), "chdir")) goto out;
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  mkdir("/dev/shm", 01777);
  mount("shm", "/dev/shm", "tmpfs", 0, NULL);
  mkdir("/dev/pts", 0755);
  mount("devpts", "/dev/pts", "devpts", 0, NULL);
  mount("tmp", "/tmp", "tmpfs", 0, NULL);

  // The host's hard RLIMIT_NOFILE can be low (4096 in a default guest);
  // the fd tests want room for fd numbers above 65535.
  struct rlimit nofile = {1 << 20, 1 << 20};
  setrlimit(RLIMIT_NOFILE, &nofile);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/bash", "bash", "/.tsvmm-nested-cmd.sh", (char *)NULL);
    _exit(127);
  }
  if (pid > 0 && waitpid(pid, &status, 0) == pid)
    status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
  printf("\nTSVMM-NESTED-EXIT %d\n", status);
  fflush(stdout);
  sync();
  reboot(RB_POWER_OFF);
  return 0;
}
