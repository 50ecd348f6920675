// Command labetcd is the etcd server, built from the etcd server module that
// the pinned Kubernetes release itself depends on.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
