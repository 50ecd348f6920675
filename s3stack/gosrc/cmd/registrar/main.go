// Command registrar registers a CSI node plugin with the kubelet, like kubernetes-csi's
// node-driver-registrar: it asks the plugin for its name over CSI, serves the kubelet's
// plugin-registration API on <registration dir>/<name>-reg.sock and stays up. With
// --mode=kubelet-registration-probe it exits 0 only once the kubelet has accepted the plugin.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

var (
	csiAddress      = flag.String("csi-address", "/csi/csi.sock", "the CSI plugin's socket inside this container")
	kubeletRegPath  = flag.String("kubelet-registration-path", "", "the CSI plugin's socket path on the node, as the kubelet sees it")
	registrationDir = flag.String("plugin-registration-path", "/registration", "the kubelet's plugin registry directory inside this container")
	mode            = flag.String("mode", "registration", "registration or kubelet-registration-probe")
	connectTimeout  = flag.Duration("timeout", time.Second, "unused, accepted for compatibility")
	_               = flag.Int("v", 0, "log verbosity (accepted for compatibility)")
	healthPort      = flag.String("http-endpoint", "", "accepted for compatibility; no HTTP server is started")
)

// markerFile is written beside the plugin socket (a directory shared with the plugin) when the
// kubelet reports a successful registration; the probe mode checks it.
func markerFile() string { return filepath.Join(filepath.Dir(*csiAddress), "registration") }

type registrar struct {
	name string
}

func (r *registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.name,
		Endpoint:          *kubeletRegPath,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registrar) NotifyRegistrationStatus(_ context.Context, status *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !status.PluginRegistered {
		_ = os.Remove(markerFile())
		log.Printf("kubelet rejected plugin %s: %s", r.name, status.Error)
		os.Exit(1)
	}
	if err := os.WriteFile(markerFile(), []byte(r.name+"\n"), 0o644); err != nil {
		log.Printf("cannot write %s: %v", markerFile(), err)
	}
	log.Printf("kubelet registered plugin %s", r.name)
	return &registerapi.RegistrationStatusResponse{}, nil
}

func driverName(ctx context.Context) (string, error) {
	target := "unix://" + strings.TrimPrefix(*csiAddress, "unix://")
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	for {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := csi.NewIdentityClient(conn).GetPluginInfo(callCtx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil {
			return info.GetName(), nil
		}
		log.Printf("waiting for the CSI plugin at %s: %v", *csiAddress, err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func probe() int {
	if _, err := os.Stat(markerFile()); err != nil {
		fmt.Fprintf(os.Stderr, "plugin is not registered with the kubelet yet: %v\n", err)
		return 1
	}
	return 0
}

func main() {
	flag.Parse()
	_ = connectTimeout
	_ = healthPort
	if *mode == "kubelet-registration-probe" {
		os.Exit(probe())
	}
	if *kubeletRegPath == "" {
		log.Fatal("--kubelet-registration-path is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	name, err := driverName(ctx)
	if err != nil {
		log.Fatalf("cannot get the CSI plugin's name: %v", err)
	}
	socket := filepath.Join(*registrationDir, name+"-reg.sock")
	_ = os.Remove(socket)
	_ = os.Remove(markerFile())
	listener, err := net.Listen("unix", socket)
	if err != nil {
		log.Fatalf("cannot listen on %s: %v", socket, err)
	}
	server := grpc.NewServer()
	registerapi.RegisterRegistrationServer(server, &registrar{name: name})
	go func() {
		<-ctx.Done()
		server.GracefulStop()
	}()
	log.Printf("serving plugin registration for %s on %s (plugin endpoint %s)", name, socket, *kubeletRegPath)
	if err := server.Serve(listener); err != nil {
		log.Fatalf("registration server: %v", err)
	}
	_ = os.Remove(socket)
	_ = os.Remove(markerFile())
}
