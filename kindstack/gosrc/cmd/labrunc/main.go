// Command labrunc is the OCI runtime the project's Docker engine uses: it removes from a
// container's capabilities those the kernel's bounding set lacks, then runs runc with the same
// arguments. Docker grants every capability to a privileged container (a kind node), and runc
// refuses a capability outside the bounding set; on a machine whose bounding set is complete,
// labrunc changes nothing.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNames are the kernel's capability numbers, in order (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// missing returns the capability names absent from this process's bounding set.
func missing() (map[string]bool, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if value, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64)
			if err != nil {
				return nil, err
			}
			out := map[string]bool{}
			for bit, name := range capNames {
				if mask&(1<<uint(bit)) == 0 {
					out[name] = true
				}
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// filterCaps edits the "capabilities" object of an OCI process in place; true if it changed.
func filterCaps(process map[string]any, drop map[string]bool) bool {
	caps, ok := process["capabilities"].(map[string]any)
	if !ok {
		return false
	}
	changed := false
	for set, value := range caps {
		list, ok := value.([]any)
		if !ok {
			continue
		}
		kept := make([]any, 0, len(list))
		for _, item := range list {
			if name, ok := item.(string); ok && drop[name] {
				changed = true
				continue
			}
			kept = append(kept, item)
		}
		caps[set] = kept
	}
	return changed
}

// rewrite applies filterCaps to a JSON file: the bundle's config.json (its "process") or an
// exec process file (the process itself).
func rewrite(path string, nested bool, drop map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	process := doc
	if nested {
		p, ok := doc["process"].(map[string]any)
		if !ok {
			return nil
		}
		process = p
	}
	if !filterCaps(process, drop) {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}

// flagValue finds "--name value", "--name=value" or "-s value" in args.
func flagValue(args []string, long, short string) string {
	for i, arg := range args {
		if v, ok := strings.CutPrefix(arg, long+"="); ok {
			return v
		}
		if (arg == long || (short != "" && arg == short)) && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// command is runc's subcommand: the first argument that is not a global flag or its value.
func command(args []string) string {
	withValue := map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if withValue[arg] {
			i++
			continue
		}
		if !strings.HasPrefix(arg, "-") {
			return arg
		}
	}
	return ""
}

func main() {
	args := os.Args[1:]
	runc := os.Getenv("LABRUNC_RUNC")
	if runc == "" {
		runc = "runc"
	}
	path, err := exec.LookPath(runc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "labrunc: %s not found: install runc\n", runc)
		os.Exit(127)
	}
	drop, err := missing()
	if err != nil {
		fmt.Fprintf(os.Stderr, "labrunc: %v\n", err)
		os.Exit(1)
	}
	if len(drop) > 0 {
		switch command(args) {
		case "create", "run":
			bundle := flagValue(args, "--bundle", "-b")
			if bundle == "" {
				bundle = "."
			}
			err = rewrite(filepath.Join(bundle, "config.json"), true, drop)
		case "exec":
			if file := flagValue(args, "--process", "-p"); file != "" {
				err = rewrite(file, false, drop)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "labrunc: %v\n", err)
			os.Exit(1)
		}
	}
	if err := syscall.Exec(path, append([]string{path}, args...), os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "labrunc: exec %s: %v\n", path, err)
		os.Exit(1)
	}
}
