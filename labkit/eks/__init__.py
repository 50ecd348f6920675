"""The EKS library: a cluster made or found for the run, its token, the S3 CSI prerequisites
(bucket, IAM role, add-on), the ledger that deletes what a run made, the sweeper and the plan.
Plain code and command-line tools; the pytest plugin that uses it is fixtures/eks/plugin.py."""
