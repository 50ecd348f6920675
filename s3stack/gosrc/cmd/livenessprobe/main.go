// Command livenessprobe serves /healthz over HTTP and answers 200 only when the CSI plugin's
// Identity.Probe call succeeds and reports ready, like kubernetes-csi's livenessprobe.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var (
	csiAddress   = flag.String("csi-address", "/csi/csi.sock", "the CSI plugin's socket")
	healthPort   = flag.Int("health-port", 9808, "TCP port for /healthz")
	httpEndpoint = flag.String("http-endpoint", "", "host:port for /healthz (overrides --health-port)")
	probeTimeout = flag.Duration("probe-timeout", time.Second, "timeout of one Probe call")
	_            = flag.Int("v", 0, "log verbosity (accepted for compatibility)")
)

func main() {
	flag.Parse()
	target := "unix://" + strings.TrimPrefix(*csiAddress, "unix://")
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("bad CSI address %s: %v", *csiAddress, err)
	}
	identity := csi.NewIdentityClient(conn)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), *probeTimeout)
		defer cancel()
		resp, err := identity.Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "probe failed: %v\n", err)
			return
		}
		if ready := resp.GetReady(); ready != nil && !ready.GetValue() {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintln(w, "driver is not ready")
			return
		}
		fmt.Fprintln(w, "ok")
	})
	address := *httpEndpoint
	if address == "" {
		address = fmt.Sprintf(":%d", *healthPort)
	}
	log.Printf("serving /healthz on %s for %s", address, *csiAddress)
	server := &http.Server{Addr: address, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(server.ListenAndServe())
}
