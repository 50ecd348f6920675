// Command labkube is one linked binary holding the Kubernetes node and control
// plane components. It picks the component from the name it was started under
// (a symlink such as kube-apiserver) or from its first argument
// (labkube kube-apiserver --flags...). Building one binary shares the compile
// and link work of the packages every component uses.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	_ "time/tzdata" // CronJob time zones (controller-manager, apiserver)

	"github.com/spf13/cobra"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubeadm "k8s.io/kubernetes/cmd/kubeadm/app"
	kubeadmerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// components maps a component name to a constructor of its command. Only the
// selected constructor runs, so no component's flags leak into another's.
var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-proxy":              proxy.NewProxyCommand,
}

// tools are the clients a kind node needs beside the kubelet. Each parses os.Args itself, so
// it runs with os.Args rewritten to its own name and arguments.
var tools = map[string]func(){
	"kubeadm": func() { kubeadmerrors.HandleError(kubeadm.Run()) },
	"kubectl": func() {
		logs.GlogSetter(kubectl.GetLogVerbosity(os.Args)) //nolint:errcheck
		if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
			os.Exit(1)
		}
	},
}

func names() []string {
	out := make([]string, 0, len(components)+len(tools))
	for name := range components {
		out = append(out, name)
	}
	for name := range tools {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	_, isComponent := components[name]
	if _, isTool := tools[name]; !isComponent && !isTool {
		if len(args) == 0 {
			fmt.Fprintf(os.Stderr, "usage: %s COMPONENT [flags]\ncomponents: %v\n", name, names())
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	if run, ok := tools[name]; ok {
		os.Args = append([]string{name}, args...)
		run()
		os.Exit(0)
	}
	newCommand, ok := components[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown component %q; one of %v\n", name, names())
		os.Exit(2)
	}
	command := newCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}
