// Command labnet is the pod network of the kind clusters built here, where kind's own
// kindnetd cannot be built (its module is not served). Like kindnetd it runs on every node:
// it writes the node's CNI configuration (the reference bridge and host-local plugins on the
// node's pod CIDR) and routes every other node's pod CIDR through that node's address, so
// pods on different nodes reach each other and Services work across nodes.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	confName = "10-labnet.conflist"
	bridge   = "labnet0"
	interval = 3 * time.Second
)

// conflist is the node's CNI configuration for its pod CIDR.
func conflist(podCIDR string) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "labnet",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      bridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": []any{[]any{map[string]any{"subnet": podCIDR}}},
					"routes": []any{map[string]any{"dst": "0.0.0.0/0"}},
				},
			},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

func internalIP(node *corev1.Node) net.IP {
	for _, address := range node.Status.Addresses {
		if address.Type == corev1.NodeInternalIP {
			if ip := net.ParseIP(address.Address); ip != nil && ip.To4() != nil {
				return ip
			}
		}
	}
	return nil
}

// writeConf writes the configuration when it differs, through a rename so the runtime
// never reads half a file.
func writeConf(dir string, data []byte) (bool, error) {
	path := filepath.Join(dir, confName)
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return false, nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, path)
}

type network struct {
	client kubernetes.Interface
	self   string
	cniDir string
	routes map[string]string // pod CIDR -> gateway this process installed
}

func (n *network) sync(ctx context.Context) error {
	nodes, err := n.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	wanted := map[string]string{}
	for i := range nodes.Items {
		node := &nodes.Items[i]
		if node.Spec.PodCIDR == "" {
			continue
		}
		if node.Name == n.self {
			data, err := conflist(node.Spec.PodCIDR)
			if err != nil {
				return err
			}
			if changed, err := writeConf(n.cniDir, data); err != nil {
				return fmt.Errorf("write CNI configuration: %w", err)
			} else if changed {
				log.Printf("CNI configuration for %s written to %s", node.Spec.PodCIDR, n.cniDir)
			}
			continue
		}
		if ip := internalIP(node); ip != nil {
			wanted[node.Spec.PodCIDR] = ip.String()
		}
	}
	for cidr, gateway := range wanted {
		if n.routes[cidr] == gateway {
			continue
		}
		_, dst, err := net.ParseCIDR(cidr)
		if err != nil {
			return fmt.Errorf("pod CIDR %q: %w", cidr, err)
		}
		if err := netlink.RouteReplace(&netlink.Route{Dst: dst, Gw: net.ParseIP(gateway)}); err != nil {
			return fmt.Errorf("route %s via %s: %w", cidr, gateway, err)
		}
		log.Printf("route %s via %s", cidr, gateway)
		n.routes[cidr] = gateway
	}
	for cidr, gateway := range n.routes {
		if _, ok := wanted[cidr]; ok {
			continue
		}
		_, dst, _ := net.ParseCIDR(cidr)
		if err := netlink.RouteDel(&netlink.Route{Dst: dst, Gw: net.ParseIP(gateway)}); err != nil {
			return fmt.Errorf("remove route %s via %s: %w", cidr, gateway, err)
		}
		log.Printf("route %s via %s removed: its node is gone", cidr, gateway)
		delete(n.routes, cidr)
	}
	return nil
}

func main() {
	self := os.Getenv("NODE_NAME")
	if self == "" {
		log.Fatal("NODE_NAME is not set: give the pod its node name through the downward API")
	}
	config, err := rest.InClusterConfig()
	if err != nil {
		log.Fatalf("in-cluster configuration: %v", err)
	}
	// kind names the API server's address on the node network, so the network does not
	// wait for kube-proxy to serve the kubernetes Service.
	if endpoint := os.Getenv("CONTROL_PLANE_ENDPOINT"); endpoint != "" {
		config.Host = "https://" + endpoint
	}
	cniDir := os.Getenv("CNI_CONF_DIR")
	if cniDir == "" {
		cniDir = "/etc/cni/net.d"
	}
	n := &network{client: kubernetes.NewForConfigOrDie(config), self: self, cniDir: cniDir, routes: map[string]string{}}
	ctx := context.Background()
	for {
		if err := n.sync(ctx); err != nil {
			log.Printf("sync: %v", err)
		}
		time.Sleep(interval)
	}
}
