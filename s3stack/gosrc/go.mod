// Small programs the S3 stack needs next to the Mountpoint CSI driver: the node
// registration and liveness sidecars (the kubernetes-csi sidecar modules are not served by the
// module proxy here).
module labs3stack/gosrc

go 1.24

require (
	github.com/container-storage-interface/spec v1.9.0
	google.golang.org/grpc v1.65.0
	k8s.io/kubelet v0.31.3
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	golang.org/x/net v0.26.0 // indirect
	golang.org/x/sys v0.23.0 // indirect
	golang.org/x/text v0.17.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20240701130421-f6361c86f094 // indirect
	google.golang.org/protobuf v1.34.2 // indirect
)
