set -Eeuo pipefail

before() {
  echo "noop"
}

after() {
  if [[ $TEST_OUTPUT != *"divewatch.jpg"* ]]; then
    echo "divewatch.jpg is not in the first replica's listing"
    exit 1
  fi
}

"$@"
