// Command chartrender renders a Helm chart's templates offline, without a cluster or Helm
// itself: Go text/template with the sprig function library plus Helm's include, tpl, toYaml,
// fromYaml, toJson and required, and the .Values/.Chart/.Release/.Capabilities objects. It
// covers what simple charts use (no subcharts, no hooks, no lookup) and writes one YAML stream.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

var (
	chartDir    = flag.String("chart", "", "the chart directory (Chart.yaml, values.yaml, templates/)")
	valuesFile  = flag.String("values", "", "a YAML or JSON file merged over values.yaml")
	release     = flag.String("release", "release", "the release name")
	namespace   = flag.String("namespace", "default", "the release namespace")
	kubeVersion = flag.String("kube-version", "v1.30.0", "the Kubernetes version for .Capabilities")
)

func readYAML(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// merge lays override over base, recursing into maps (Helm's coalescing, without null-deletes).
func merge(base, override map[string]any) map[string]any {
	for key, value := range override {
		if sub, ok := value.(map[string]any); ok {
			if existing, ok := base[key].(map[string]any); ok {
				base[key] = merge(existing, sub)
				continue
			}
		}
		base[key] = value
	}
	return base
}

// chartObject turns Chart.yaml keys into Helm's capitalised .Chart fields.
func chartObject(meta map[string]any) map[string]any {
	out := map[string]any{}
	for key, value := range meta {
		out[strings.ToUpper(key[:1])+key[1:]] = value
	}
	for _, key := range []string{"Name", "Version", "AppVersion"} {
		if _, ok := out[key]; !ok {
			out[key] = ""
		}
	}
	return out
}

func toYAML(v any) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func main() {
	flag.Parse()
	if *chartDir == "" {
		fmt.Fprintln(os.Stderr, "chartrender: --chart is required")
		os.Exit(2)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "chartrender: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	meta, err := readYAML(filepath.Join(*chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAML(filepath.Join(*chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	if *valuesFile != "" {
		override, err := readYAML(*valuesFile)
		if err != nil {
			return err
		}
		values = merge(values, override)
	}
	version := "v" + strings.TrimPrefix(*kubeVersion, "v")
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return fmt.Errorf("--kube-version %s is not vMAJOR.MINOR.PATCH", *kubeVersion)
	}
	top := map[string]any{
		"Values": values,
		"Chart":  chartObject(meta),
		"Release": map[string]any{
			"Name": *release, "Namespace": *namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]any{
			"KubeVersion": map[string]any{"Version": version, "GitVersion": version, "Major": parts[0], "Minor": parts[1]},
			"APIVersions": []string{},
		},
		"Template": map[string]any{"BasePath": filepath.Join(filepath.Base(*chartDir), "templates")},
	}

	root := template.New("chart").Option("missingkey=zero")
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]any {
		out := map[string]any{}
		_ = yaml.Unmarshal([]byte(s), &out)
		return out
	}
	funcs["toJson"] = func(v any) string {
		data, _ := json.Marshal(v)
		return string(data)
	}
	funcs["required"] = func(message string, v any) (any, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("required value missing: %s", message)
		}
		return v, nil
	}
	funcs["include"] = func(name string, data any) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data any) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	root.Funcs(funcs)

	files, err := filepath.Glob(filepath.Join(*chartDir, "templates", "*"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	var manifests []string
	for _, file := range files {
		ext := filepath.Ext(file)
		if ext != ".yaml" && ext != ".yml" && ext != ".tpl" {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		name := filepath.Base(file)
		if _, err := root.New(name).Parse(string(data)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !strings.HasPrefix(name, "_") && ext != ".tpl" {
			manifests = append(manifests, name)
		}
	}
	var out bytes.Buffer
	for _, name := range manifests {
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, top); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s/templates/%s\n%s\n", meta["name"], name, strings.TrimSpace(text))
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}
