set -Eeuo pipefail

before() {
  kubectl get deployment assets -n assets > /dev/null
}

after() {
  echo "the module ran against deployment/assets"
}

"$@"
