"""The suite's plain library: code that knows nothing of pytest (the lab's data, cluster
access, rendering the lab's objects, verdicts, the S3 pieces the suite brings, a lab page's
language and its comparison with what a cluster shows). The pytest plugins that use it live
in fixtures/; the host tools (stackbase, localcluster, s3stack, kindstack) read only its
standard-library modules."""
