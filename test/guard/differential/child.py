# Differential test child: in private UTS/net/IPC namespaces. For each access read from stdin
# (JSON), read the key's current value from an unguarded cgroup, move into the guarded one,
# perform the access, move back, report errno and the current value (JSON line), then wait for
# the parent's "next" so it can collect the events of exactly this access.
import json, os, sys
guarded, observer = sys.argv[1], sys.argv[2]
def move(cg):
    with open(cg + '/cgroup.procs', 'w') as f: f.write(str(os.getpid()))
def read_current(key):
    try:
        with open('/proc/sys/' + key, 'rb') as f: return f.read().decode('utf-8', 'replace')
    except OSError: return None
move(observer)
while True:
    line = sys.stdin.readline()
    if not line: break
    a = json.loads(line)
    current = read_current(a['key'])
    move(guarded)
    err = 0
    try:
        if a['write']:
            fd = os.open('/proc/sys/' + a['key'], os.O_WRONLY)
            try: os.pwrite(fd, a['value'].encode(), a['filePos'])
            finally: os.close(fd)
        else:
            fd = os.open('/proc/sys/' + a['key'], os.O_RDONLY)
            try: os.pread(fd, 4096, a['filePos'])
            finally: os.close(fd)
    except OSError as e:
        err = e.errno
    move(observer)
    print(json.dumps({'errno': err, 'current': current}), flush=True)
    sys.stdin.readline()  # "next"
