#!/usr/bin/env bash
# The benchmarks' own set-up: the peers they measure against (clang and libbpf for the C program
# and reader, bpftool to load it) and a C compiler for the writers. Needs root (apt-get).
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v clang >/dev/null || need+=(clang llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v bpftool >/dev/null || need+=(bpftool)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
