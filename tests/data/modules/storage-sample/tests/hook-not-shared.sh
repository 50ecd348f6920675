set -Eeuo pipefail

before() {
  echo "noop"
}

after() {
  if [[ $TEST_OUTPUT == *"divewatch.jpg"* ]]; then
    echo "the second replica lists divewatch.jpg: the directory is shared"
    exit 1
  fi
}

"$@"
