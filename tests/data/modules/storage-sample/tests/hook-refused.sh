set -Eeuo pipefail

before() {
  echo "noop"
}

after() {
  if [[ $TEST_OUTPUT != *"is forbidden"* ]]; then
    echo "the cluster did not refuse the page's delete of a namespace it does not own"
    exit 1
  fi
}

"$@"
