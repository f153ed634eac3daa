// The peer reader: libbpf's ring_buffer on a pinned ring buffer map, counting records until
// SECONDS pass with no record; prints "records cpu_user_us cpu_sys_us".
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long records;
static int on_record(void *ctx, void *data, size_t size) { (void)ctx; (void)data; (void)size; records++; return 0; }

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: ringbuf_reader PIN IDLE_MS\n"); return 2; }
  int fd = bpf_obj_get(argv[1]);
  if (fd < 0) { perror("bpf_obj_get"); return 1; }
  struct ring_buffer *rb = ring_buffer__new(fd, on_record, NULL, NULL);
  if (!rb) { perror("ring_buffer__new"); return 1; }
  int idle = atoi(argv[2]);
  // A wake-up can find the head record still being written (0 consumed): only time without any
  // record ends the run.
  long long last = now_ms();
  for (;;) {
    int n = ring_buffer__poll(rb, 100);
    if (n < 0) { perror("poll"); return 1; }
    if (n > 0) last = now_ms();
    else if (now_ms() - last > idle) break;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("%ld %ld %ld\n", records, ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec, ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec);
  return 0;
}
