set -Eeuo pipefail

before() {
  echo "noop"
}

# The workshop's yq prints YAML; another yq (Debian's prints JSON) would not match.
after() {
  if [[ $TEST_OUTPUT != *"- mountPath: /mountpoint-s3"* ]]; then
    >&2 echo "Expected the S3 mount as the workshop's yq prints it"
    echo "$TEST_OUTPUT"
    exit 1
  fi
}

"$@"
