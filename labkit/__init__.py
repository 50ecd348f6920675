"""The suite's plain library: code that knows nothing of pytest (the lab page's language and
its comparison with what a cluster shows). The pytest plugins that use it live in fixtures/."""
