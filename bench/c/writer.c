// Sysctl write loop for the benchmarks: writes VALUE to /proc/sys/KEY COUNT times from one open
// file (pwrite at offset 0, as a whole write), timing each write; prints
// "count ok refused min_ns p50_ns p99_ns max_ns total_ns".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: writer KEY VALUE COUNT [read]\n"); return 2; }
  char path[512];
  snprintf(path, sizeof path, "/proc/sys/%s", argv[1]);
  const char *value = argv[2];
  long count = atol(argv[3]);
  int reading = argc > 4 && strcmp(argv[4], "read") == 0;
  int fd = open(path, reading ? O_RDONLY : O_WRONLY);
  if (fd < 0) { perror(path); return 1; }
  long long *t = malloc(sizeof(long long) * count);
  long ok = 0, refused = 0;
  char buf[256];
  size_t len = strlen(value);
  long long start = now_ns();
  for (long i = 0; i < count; i++) {
    long long a = now_ns();
    ssize_t r = reading ? pread(fd, buf, sizeof buf, 0) : pwrite(fd, value, len, 0);
    t[i] = now_ns() - a;
    if (r >= 0) ok++; else if (errno == EPERM) refused++; else { perror("write"); return 1; }
  }
  long long total = now_ns() - start;
  qsort(t, count, sizeof t[0], cmp);
  printf("%ld %ld %ld %lld %lld %lld %lld %lld\n", count, ok, refused, t[0], t[count / 2], t[count * 99 / 100], t[count - 1], total);
  return 0;
}
