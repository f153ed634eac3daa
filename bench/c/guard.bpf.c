// The peer: the same exact-key policy written as a libbpf user would write it, built with
// clang -O2 -target bpf. One hash lookup of the full name; refuse writes of keys marked deny.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NAME_LEN 128

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 10240);
  __type(key, char[NAME_LEN]);
  __type(value, __u32);
} rules SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, char[NAME_LEN]);
} scratch SEC(".maps");

SEC("cgroup/sysctl")
int guard(struct bpf_sysctl *ctx) {
  __u32 zero = 0;
  char *name;
  __u32 *action;

  if (!ctx->write)
    return 1;
  name = bpf_map_lookup_elem(&scratch, &zero);
  if (!name)
    return 0;
  __builtin_memset(name, 0, NAME_LEN);
  if (bpf_sysctl_get_name(ctx, name, NAME_LEN, 0) < 0)
    return 0;
  action = bpf_map_lookup_elem(&rules, name);
  if (action && *action == 1)
    return 0;
  return 1;
}

char LICENSE[] SEC("license") = "GPL";
