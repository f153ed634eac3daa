// A tracing tool as public libbpf tools are written (a stat/open snooper): 12 tracepoint programs,
// entry and exit of six syscalls, CO-RE reads of kernel structs, a hash map between entry and
// exit, a PERF_EVENT_ARRAY without max_entries, `const volatile` filters in .rodata and a helper
// in .text. For section 11 of the benchmarks: load time of an object of this shape, sysward
// against bpftool. Kernel types are declared here with preserve_access_index (CO-RE), as vmlinux.h
// would declare them.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct trace_event_raw_sys_enter { long id; unsigned long args[6]; } __attribute__((preserve_access_index));
struct trace_event_raw_sys_exit { long id; long ret; } __attribute__((preserve_access_index));
struct task_struct { int pid; int tgid; struct task_struct *real_parent; } __attribute__((preserve_access_index));

struct event { __u32 pid; __u32 ppid; int ret; int syscall; char comm[16]; char path[128]; };

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, __u32);
  __type(value, const char *);
} paths SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  __type(key, __u32);
  __type(value, __u32);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct event);
} scratch SEC(".maps");

const volatile __u32 target_pid = 0;
const volatile _Bool failed_only = 0;

static __attribute__((noinline)) int enter(const char *path)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)id;
  if (target_pid && target_pid != id >> 32) return 0;
  bpf_map_update_elem(&paths, &tid, &path, BPF_ANY);
  return 0;
}

static __attribute__((noinline)) int leave(void *ctx, long ret, int syscall)
{
  __u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0;
  const char **path = bpf_map_lookup_elem(&paths, &tid);
  if (!path) return 0;
  struct event *e = bpf_map_lookup_elem(&scratch, &zero);
  if (!e || (failed_only && ret >= 0)) goto out;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  e->pid = BPF_CORE_READ(task, tgid);
  e->ppid = BPF_CORE_READ(task, real_parent, tgid);
  e->ret = ret;
  e->syscall = syscall;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_probe_read_user_str(e->path, sizeof(e->path), *path);
  bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e));
out:
  bpf_map_delete_elem(&paths, &tid);
  return 0;
}

#define PAIR(name, arg, nr)                                                        \
  SEC("tracepoint/syscalls/sys_enter_" #name)                                      \
  int enter_##name(struct trace_event_raw_sys_enter *ctx)                          \
  { return enter((const char *)BPF_CORE_READ(ctx, args[arg])); }                   \
  SEC("tracepoint/syscalls/sys_exit_" #name)                                       \
  int exit_##name(struct trace_event_raw_sys_exit *ctx)                            \
  { return leave(ctx, BPF_CORE_READ(ctx, ret), nr); }

PAIR(openat, 1, 0)
PAIR(statfs, 0, 1)
PAIR(newstat, 0, 2)
PAIR(newlstat, 0, 3)
PAIR(newfstatat, 1, 4)
PAIR(readlinkat, 1, 5)

char LICENSE[] SEC("license") = "GPL";
