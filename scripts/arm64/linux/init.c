// PID 1 of the tiny initramfs our VMM boots Debian's arm64 kernel with
// (scripts/arm64/nested/linux.mjs): it says it runs, how many CPUs are
// online, whether every CPU took timer interrupts (the arch_timer line of
// /proc/interrupts: the vtimer PPI through our userspace GIC), and powers
// off through PSCI SYSTEM_OFF.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

static void console(void) {
  mkdir("/dev", 0755);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  int fd = open("/dev/console", O_RDWR);
  if (fd >= 0) { dup2(fd, 0); dup2(fd, 1); dup2(fd, 2); if (fd > 2) close(fd); }
}

static int read_file(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t r = read(fd, buf, n - 1);
  close(fd);
  if (r < 0) return -1;
  buf[r] = 0;
  return (int)r;
}

int main(void) {
  console();
  mkdir("/proc", 0755);
  mkdir("/sys", 0755);
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  printf("tsvmm-linux: init is running\n");
  char online[64] = "?";
  if (read_file("/sys/devices/system/cpu/online", online, sizeof online) > 0) online[strcspn(online, "\n")] = 0;
  printf("tsvmm-linux: cpus online %s\n", online);
  // The arch_timer row: "NN:  <count cpu0> <count cpu1> ... GICv2  27 Level  arch_timer".
  static char irqs[65536];
  int every = 0, cpus = 0;
  if (read_file("/proc/interrupts", irqs, sizeof irqs) > 0) {
    for (char *line = strtok(irqs, "\n"); line; line = strtok(NULL, "\n")) {
      if (!strstr(line, "arch_timer")) continue;
      char *p = strchr(line, ':');
      if (!p) break;
      p++;
      every = 1;
      for (;;) {
        while (*p == ' ') p++;
        if (*p < '0' || *p > '9') break;
        unsigned long v = strtoul(p, &p, 10);
        cpus++;
        if (v == 0) every = 0;
      }
      break;
    }
  }
  printf("tsvmm-linux: timer interrupts on all %d cpus: %s\n", cpus, every && cpus > 0 ? "yes" : "no");
  fflush(stdout);
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();
}
