// PID 1 of the nested arm64 KVM guest (scripts/arm64/nested/run.sh).
//
// Static arm64 (aarch64-linux-gnu-gcc -static). It loads the modules packed
// in the initramfs (virtio-pci, 9p, overlayfs; KVM is built in), mounts the
// arm64 root (9p tag "root", read-only) under a tmpfs overlay, mounts the
// host's checkout (9p tag "checkout", read-only) at the same absolute path,
// chroots, runs the command from /cmd with execvp (no shell), prints
// "TSVMM-NESTED-EXIT <status>" and powers off.
//
// /cmd: NUL-separated cwd, checkout path, argc, argv..., envc, env...
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

extern char **environ;

static void load(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/modules/%s.ko", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "init: %s: %s\n", path, strerror(errno));
    return;
  }
  if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
    fprintf(stderr, "init: loading %s: %s\n", name, strerror(errno));
  close(fd);
}

static int must(int rc, const char *what) {
  if (rc != 0) fprintf(stderr, "init: %s: %s\n", what, strerror(errno));
  return rc;
}

static void mkdir_p(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(buf, 0755);
    *p = '/';
  }
  mkdir(buf, 0755);
}

static double uptime(void) {
  double up = -1;
  FILE *f = fopen("/proc/uptime", "r");
  if (f) {
    if (fscanf(f, "%lf", &up) != 1) up = -1;
    fclose(f);
  }
  return up;
}

// The whole of /cmd, and pointers into it.
static char cmdbuf[1 << 20];
static char *fields[8192];

static int read_cmd(int *nfields) {
  int fd = open("/cmd", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  ssize_t n;
  while (len < sizeof cmdbuf - 1 && (n = read(fd, cmdbuf + len, sizeof cmdbuf - 1 - len)) > 0) len += (size_t)n;
  close(fd);
  int k = 0;
  for (size_t i = 0; i < len && k < (int)(sizeof fields / sizeof fields[0]) - 1;) {
    fields[k++] = cmdbuf + i;
    i += strlen(cmdbuf + i) + 1;
  }
  *nfields = k;
  return 0;
}

int main(void) {
  static const char *const modules[] = {
      "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
      "9pnet", "9pnet_virtio", "netfs", "fscache", "9p", "overlay", NULL};
  int status = 125;

  mkdir("/proc", 0755);
  mkdir("/dev", 0755);
  mount("proc", "/proc", "proc", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  double t_init = uptime();
  for (int i = 0; modules[i]; i++) load(modules[i]);

  int nf = 0;
  if (must(read_cmd(&nf), "read /cmd")) goto out;
  if (nf < 4) { fprintf(stderr, "init: /cmd is malformed\n"); goto out; }
  const char *cwd = fields[0], *checkout = fields[1];
  int argc = atoi(fields[2]);
  if (argc < 1 || 3 + argc >= nf) { fprintf(stderr, "init: /cmd is malformed\n"); goto out; }
  char **argv = &fields[3];
  int envc = atoi(fields[3 + argc]);
  char **envp = &fields[4 + argc];
  if (4 + argc + envc != nf) { fprintf(stderr, "init: /cmd is malformed\n"); goto out; }
  // argv and envp are NULL-terminated in place: the field after each list is
  // overwritten (envc's, already read) or is past the end (fields[nf] is NULL).
  fields[3 + argc] = NULL;

  mkdir("/lower", 0755);
  mkdir("/rw", 0755);
  mkdir("/newroot", 0755);
  if (must(mount("root", "/lower", "9p", MS_RDONLY,
                 "trans=virtio,version=9p2000.L,msize=512000,cache=loose"), "mount the arm64 root (9p)")) goto out;
  if (must(mount("rw", "/rw", "tmpfs", 0, "size=75%"), "mount tmpfs")) goto out;
  mkdir("/rw/upper", 0755);
  mkdir("/rw/work", 0755);
  if (must(mount("overlay", "/newroot", "overlay", 0,
                 "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work"), "mount overlay")) goto out;
  char at[4096];
  // /tmp's tmpfs first: a checkout that lives under /tmp (a CI clone) is mounted on top of it, not hidden by it.
  mkdir("/newroot/tmp", 01777);
  mount("tmp", "/newroot/tmp", "tmpfs", 0, NULL);
  snprintf(at, sizeof at, "/newroot%s", checkout);
  mkdir_p(at);
  if (must(mount("checkout", at, "9p", MS_RDONLY,
                 "trans=virtio,version=9p2000.L,msize=512000,cache=loose"), "mount the checkout (9p)")) goto out;
  if (must(chroot("/newroot"), "chroot") || must(chdir("/"), "chdir")) goto out;
  mkdir("/proc", 0755);
  mkdir("/sys", 0755);
  mkdir("/dev", 0755);
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  mkdir("/dev/shm", 01777);
  mount("shm", "/dev/shm", "tmpfs", 0, NULL);

  struct rlimit nofile = {1 << 20, 1 << 20};
  setrlimit(RLIMIT_NOFILE, &nofile);
  fprintf(stderr, "nested-arm64: init at %.2f s of guest uptime, running %s at %.2f s (/dev/kvm %s)\n",
          t_init, argv[0], uptime(), access("/dev/kvm", R_OK | W_OK) == 0 ? "present" : "MISSING");
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(cwd) != 0) fprintf(stderr, "init: chdir %s: %s\n", cwd, strerror(errno));
    environ = envp;
    execvp(argv[0], argv);
    fprintf(stderr, "init: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  if (pid < 0) { must(-1, "fork"); goto out; }
  // PID 1 reaps every orphan until the command itself ends.
  for (;;) {
    int st;
    pid_t w = waitpid(-1, &st, 0);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) break;
    if (w == pid) {
      status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
  }
out:
  printf("\nTSVMM-NESTED-EXIT %d\n", status);
  fflush(stdout);
  sync();
  reboot(RB_POWER_OFF);
  return 0;
}
