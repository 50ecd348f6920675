package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCommandSkipsGlobalFlags(t *testing.T) {
	cases := map[string][]string{
		"create": {"--root", "/run/x", "--log", "/l", "--log-format", "json", "--systemd-cgroup", "create", "--bundle", "b", "id"},
		"exec":   {"exec", "--process", "/p.json", "id"},
		"":       {"--root", "/run/x"},
	}
	for want, args := range cases {
		if got := command(args); got != want {
			t.Errorf("command(%q) = %q, want %q", args, got, want)
		}
	}
}

func TestFlagValueForms(t *testing.T) {
	if got := flagValue([]string{"create", "--bundle", "/b", "id"}, "--bundle", "-b"); got != "/b" {
		t.Errorf("long form: %q", got)
	}
	if got := flagValue([]string{"create", "--bundle=/b", "id"}, "--bundle", "-b"); got != "/b" {
		t.Errorf("= form: %q", got)
	}
	if got := flagValue([]string{"create", "-b", "/b", "id"}, "--bundle", "-b"); got != "/b" {
		t.Errorf("short form: %q", got)
	}
	if got := flagValue([]string{"create", "id"}, "--bundle", "-b"); got != "" {
		t.Errorf("absent: %q", got)
	}
}

func TestRewriteDropsOnlyMissingCapabilities(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	doc := `{"ociVersion":"1.0.2","process":{"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE"],"effective":["CAP_SYS_RESOURCE"]}}}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rewrite(path, true, map[string]bool{"CAP_SYS_RESOURCE": true}); err != nil {
		t.Fatal(err)
	}
	var out struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			Capabilities map[string][]string `json:"capabilities"`
		} `json:"process"`
	}
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"bounding": {"CAP_CHOWN"}, "effective": {}}
	if !reflect.DeepEqual(out.Process.Capabilities, want) || out.OCIVersion != "1.0.2" {
		t.Errorf("rewritten: %s", data)
	}
}

func TestRewriteLeavesCompleteSetsAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "process.json")
	doc := `{"capabilities":{"bounding":["CAP_CHOWN"]},  "args":["sh"]}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rewrite(path, false, map[string]bool{"CAP_SYS_RESOURCE": true}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != doc {
		t.Errorf("file changed although nothing was dropped: %s", data)
	}
}
