set -Eeuo pipefail

before() {
  echo "noop"
}

after() {
  if [[ $TEST_OUTPUT != *" 0 divewatch.jpg"* ]]; then
    echo "the bucket has no empty divewatch.jpg: the replicas did not write through to it"
    exit 1
  fi
}

"$@"
